package gtid

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4e11fa47-71ca-11e1-9e33-c80aa9429562"
)

func TestParseAs(t *testing.T) {
	tests := []struct {
		name    string
		flavor  Flavor
		in      string
		want    string
		count   uint64
		wantErr bool
	}{
		{"mariadb empty", MariaDB, "", "", 0, false},
		{"mariadb one", MariaDB, "0-1-42", "0-1-42", 42, false},
		{"mariadb domains sorted", MariaDB, "1-2-7,0-1-42", "0-1-42,1-2-7", 49, false},
		{"mariadb same domain keeps newest", MariaDB, "0-1-42,0-2-40", "0-1-42", 42, false},
		{"mariadb spaces and newlines", MariaDB, "0-1-42,\n 1-2-7", "0-1-42,1-2-7", 49, false},
		{"mariadb not a gtid", MariaDB, "0-1", "", 0, true},
		{"mariadb letters", MariaDB, "0-x-1", "", 0, true},
		{"mysql empty", MySQL, "", "", 0, false},
		{"mysql one range", MySQL, uuidA + ":1-5", uuidA + ":1-5", 5, false},
		{"mysql merges adjacent and sorts", MySQL, uuidB + ":3," + uuidA + ":6-9:1-5", uuidA + ":1-9," + uuidB + ":3", 10, false},
		{"mysql multi-line, upper case", MySQL, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5,\n" + uuidB + ":1-3",
			uuidA + ":1-5," + uuidB + ":1-3", 8, false},
		{"mysql gaps kept", MySQL, uuidA + ":1-3:7-8", uuidA + ":1-3:7-8", 5, false},
		{"mysql bad uuid", MySQL, "abc:1-3", "", 0, true},
		{"mysql reversed interval", MySQL, uuidA + ":5-1", "", 0, true},
		{"mysql zero", MySQL, uuidA + ":0", "", 0, true},
		{"unknown flavor", Flavor("oracle"), "1", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseAs(tt.flavor, tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadPosition) {
					t.Fatalf("err = %v, want ErrBadPosition", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := p.Count(); got != tt.count {
				t.Errorf("Count() = %d, want %d", got, tt.count)
			}
		})
	}
}

func TestPositionMissing(t *testing.T) {
	tests := []struct {
		name       string
		flavor     Flavor
		have, want string
		missing    uint64
	}{
		{"mariadb equal", MariaDB, "0-1-42", "0-1-42", 0},
		{"mariadb ahead", MariaDB, "0-2-50", "0-1-42", 0},
		{"mariadb behind", MariaDB, "0-1-40", "0-1-42", 2},
		{"mariadb domain absent", MariaDB, "0-1-42", "0-1-42,1-1-3", 3},
		{"mariadb nothing wanted", MariaDB, "", "", 0},
		{"mysql subset", MySQL, uuidA + ":1-10", uuidA + ":1-5", 0},
		{"mysql gap", MySQL, uuidA + ":1-3:6-10", uuidA + ":1-10", 2},
		{"mysql other uuid", MySQL, uuidA + ":1-10", uuidB + ":1-4", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have, want := mustAs(t, tt.flavor, tt.have), mustAs(t, tt.flavor, tt.want)
			if got := have.Missing(want); got != tt.missing {
				t.Errorf("Missing = %d, want %d", got, tt.missing)
			}
			if got := have.Covers(want); got != (tt.missing == 0) {
				t.Errorf("Covers = %v", got)
			}
			if want.Ahead(have) != (tt.missing > 0) {
				t.Errorf("Ahead = %v", want.Ahead(have))
			}
			// Covering orders Count.
			if tt.missing == 0 && have.Count() < want.Count() {
				t.Errorf("covers but Count %d < %d", have.Count(), want.Count())
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := MustParse("0-1-40,1-1-5")
	b := MustParse("0-2-42,2-3-1")
	if got := a.Merge(b).String(); got != "0-2-42,1-1-5,2-3-1" {
		t.Errorf("Merge = %q", got)
	}
	if a.String() != "0-1-40,1-1-5" {
		t.Errorf("Merge modified its argument: %q", a)
	}
	if got := (Position{}).Merge(b).String(); got != b.String() {
		t.Errorf("zero merge = %q", got)
	}
	if got := b.Merge(Position{}).String(); got != b.String() {
		t.Errorf("merge zero = %q", got)
	}
	m := MustParse(uuidA + ":1-3").Merge(MustParse(uuidA + ":4-6," + uuidB + ":2"))
	if got := m.String(); got != uuidA+":1-6,"+uuidB+":2" {
		t.Errorf("mysql Merge = %q", got)
	}
	// Different flavors never mix.
	if got := a.Merge(m).String(); got != a.String() {
		t.Errorf("mixed Merge = %q", got)
	}
}

func TestParseMariaGTID(t *testing.T) {
	d, s, n, err := ParseMariaGTID("1-22-333")
	if err != nil || d != 1 || s != 22 || n != 333 {
		t.Errorf("= %d %d %d %v", d, s, n, err)
	}
	for _, bad := range []string{"", "1-2", "1-2-3-4x", "a-2-3", "1-2-", "99999999999-1-1"} {
		if _, _, _, err := ParseMariaGTID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseAs(f *testing.F) {
	for _, s := range []string{"0-1-42,1-2-7", uuidA + ":1-5:7", "", "0-1", uuidA + ":1-3,\n" + uuidB + ":2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fl := range []Flavor{MariaDB, MySQL} {
			p, err := ParseAs(fl, s)
			if err != nil {
				continue
			}
			// Printing and parsing again is stable, and a position
			// contains itself.
			q, err := ParseAs(fl, p.String())
			if err != nil {
				t.Fatalf("%s: reparse of %q: %v", fl, p.String(), err)
			}
			if q.String() != p.String() || !p.Covers(q) || !q.Covers(p) {
				t.Fatalf("%s: %q -> %q -> %q", fl, s, p.String(), q.String())
			}
			// Covers agrees with Missing, a merge covers both sides,
			// and the filled set covers the set.
			other := MustParse("0-1-3")
			if fl == MySQL {
				other = MustParse(uuidA + ":2-4")
			}
			m := p.Merge(other)
			if !m.Covers(p) || !m.Covers(other) || p.Covers(other) != (p.Missing(other) == 0) || !p.Filled().Covers(p) {
				t.Fatalf("%s: %q merged with %q: %q", fl, p, other, m)
			}
		}
	})
}

func mustAs(t *testing.T, f Flavor, s string) Position {
	t.Helper()
	p, err := ParseAs(f, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		name, have, need string
		covers           bool
		merged           string
	}{
		{"mariadb equal", "0-1-5", "0-1-5", true, "0-1-5"},
		{"mariadb ahead", "0-1-9", "0-1-5", true, "0-1-9"},
		{"mariadb behind", "0-1-4", "0-1-5", false, "0-1-5"},
		{"mariadb other server, same domain: seq decides", "0-2-7", "0-1-5", true, "0-2-7"},
		{"mariadb missing domain", "0-1-9", "1-1-1", false, "0-1-9,1-1-1"},
		{"mariadb every domain ahead", "0-1-9,1-2-3", "1-2-3,0-1-2", true, "0-1-9,1-2-3"},
		{"nothing needed", "0-1-1", "", true, "0-1-1"},
		{"nothing applied", "", "0-1-1", false, "0-1-1"},
		{"mysql subset", uuidA + ":1-10", uuidA + ":3-5", true, uuidA + ":1-10"},
		{"mysql one number", uuidA + ":1-10", uuidA + ":10", true, uuidA + ":1-10"},
		{"mysql beyond", uuidA + ":1-10", uuidA + ":11", false, uuidA + ":1-11"},
		{"mysql in a gap", uuidA + ":1-3:5-9", uuidA + ":4", false, uuidA + ":1-9"},
		{"mysql spans a gap", uuidA + ":1-3:5-9", uuidA + ":2-6", false, uuidA + ":1-9"},
		{"mysql other source", uuidA + ":1-10", uuidB + ":1", false, uuidA + ":1-10," + uuidB + ":1"},
		{"mysql empty need", uuidA + ":1-10", "", true, uuidA + ":1-10"},
		{"flavors never cover each other", uuidA + ":1-10", "0-1-1", false, uuidA + ":1-10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have, need := MustParse(tc.have), MustParse(tc.need)
			if got := have.Covers(need); got != tc.covers {
				t.Errorf("Covers = %v, want %v", got, tc.covers)
			}
			if got := have.Merge(need).String(); got != tc.merged {
				t.Errorf("Merge = %q, want %q", got, tc.merged)
			}
			if n := testing.AllocsPerRun(100, func() { have.Covers(need) }); n != 0 {
				t.Errorf("Covers allocates %v times", n)
			}
		})
	}
}

func TestParseTellsFlavors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Flavor
		bad  bool
	}{
		{"0-1-42", MariaDB, false},
		{"0-1-42,\n1-2-3", MariaDB, false},
		{uuidA + ":1-5", MySQL, false},
		{"  ", "", false},
		{"", "", false},
		{"0-1", "", true},
		{"x:1", "", true},
	} {
		p, err := Parse(tc.in)
		if (err != nil) != tc.bad || p.Flavor() != tc.want {
			t.Errorf("Parse(%q) = %v (%s), %v", tc.in, p, p.Flavor(), err)
		}
	}
}

func TestFilled(t *testing.T) {
	for in, want := range map[string]string{
		uuidA + ":7":                     uuidA + ":1-7",
		uuidA + ":3-5:9," + uuidB + ":2": uuidA + ":1-9," + uuidB + ":1-2",
		"0-1-7,1-1-2":                    "0-1-7,1-1-2",
		"":                               "",
	} {
		if got := MustParse(in).Filled().String(); got != want {
			t.Errorf("Filled(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKnownOnlyMovesForward(t *testing.T) {
	var k Known
	if !k.Load().IsEmpty() {
		t.Fatal("zero Known not empty")
	}
	var wg sync.WaitGroup
	for i := 1; i <= 50; i++ {
		wg.Go(func() { k.Add(MustParse(fmt.Sprintf("0-1-%d,1-2-%d", i, 100-i))) })
	}
	wg.Wait()
	if got := k.Load().String(); got != "0-1-50,1-2-99" {
		t.Errorf("after concurrent adds: %q", got)
	}
	k.Add(MustParse("0-1-3"))
	if got := k.Load().String(); got != "0-1-50,1-2-99" {
		t.Errorf("an older position moved it back: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { k.Add(MustParse("0-1-3")) }); n > 3 { // the parse only
		t.Errorf("a covered Add allocates %v times", n)
	}
}

func BenchmarkCovers(b *testing.B) {
	have, need := MustParse("0-1-900,1-2-30"), MustParse("0-1-899")
	for b.Loop() {
		if !have.Covers(need) {
			b.Fatal("not covered")
		}
	}
}
