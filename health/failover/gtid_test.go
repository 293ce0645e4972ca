package failover

import (
	"errors"
	"testing"
)

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4e11fa47-71ca-11e1-9e33-c80aa9429562"
)

func TestParsePosition(t *testing.T) {
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
			p, err := ParsePosition(tt.flavor, tt.in)
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
			have, want := MustParse(tt.flavor, tt.have), MustParse(tt.flavor, tt.want)
			if got := have.Missing(want); got != tt.missing {
				t.Errorf("Missing = %d, want %d", got, tt.missing)
			}
			if got := have.Contains(want); got != (tt.missing == 0) {
				t.Errorf("Contains = %v", got)
			}
			if want.Ahead(have) != (tt.missing > 0) {
				t.Errorf("Ahead = %v", want.Ahead(have))
			}
			// Containment orders Count.
			if tt.missing == 0 && have.Count() < want.Count() {
				t.Errorf("contains but Count %d < %d", have.Count(), want.Count())
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := MustParse(MariaDB, "0-1-40,1-1-5")
	b := MustParse(MariaDB, "0-2-42,2-3-1")
	if got := Merge(a, b).String(); got != "0-2-42,1-1-5,2-3-1" {
		t.Errorf("Merge = %q", got)
	}
	if a.String() != "0-1-40,1-1-5" {
		t.Errorf("Merge modified its argument: %q", a)
	}
	if got := Merge(Position{}, b).String(); got != b.String() {
		t.Errorf("zero merge = %q", got)
	}
	if got := Merge(b, Position{}).String(); got != b.String() {
		t.Errorf("merge zero = %q", got)
	}
	m := Merge(MustParse(MySQL, uuidA+":1-3"), MustParse(MySQL, uuidA+":4-6,"+uuidB+":2"))
	if got := m.String(); got != uuidA+":1-6,"+uuidB+":2" {
		t.Errorf("mysql Merge = %q", got)
	}
	// Different flavors never mix.
	if got := Merge(a, m).String(); got != a.String() {
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

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0-1-42,1-2-7", uuidA + ":1-5:7", "", "0-1", uuidA + ":1-3,\n" + uuidB + ":2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fl := range []Flavor{MariaDB, MySQL} {
			p, err := ParsePosition(fl, s)
			if err != nil {
				continue
			}
			// Printing and parsing again is stable, and a position
			// contains itself.
			q, err := ParsePosition(fl, p.String())
			if err != nil {
				t.Fatalf("%s: reparse of %q: %v", fl, p.String(), err)
			}
			if q.String() != p.String() || !p.Contains(q) || !q.Contains(p) {
				t.Fatalf("%s: %q -> %q -> %q", fl, s, p.String(), q.String())
			}
		}
	})
}
