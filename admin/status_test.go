package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/health"
)

func TestWriteTopology(t *testing.T) {
	lines := renderTopology(t, NewTopologyView(healthy(), nil), probed.Add(400*time.Millisecond))
	if len(lines) != 6 {
		t.Fatalf("want a header, the failover state, column names and 3 servers, got %d lines", len(lines))
	}
	checkLines(t, lines, 0, [][]string{
		{"epoch 2", "primary db1", "probed 400.0ms ago", "cluster members 3"},
		{"failover: healthy"},
		{"NAME", "ROLE", "UP", "LAG", "RTT", "GTID"},
		{"db1", "primary", "yes", "127.0.0.1:3401", "eu-west/eu-west-1a", "300µs", "0-1-42"},
		{"db2", "replica", "yes", "1.50s", "2.0ms", "0-1-41", "from 127.0.0.1:3401"},
		{"db3", "unknown", "no", "connection refused"},
	})
	// Columns line up: every server's role starts where ROLE does.
	checkAligned(t, lines[2], lines[3:], "ROLE")

	var b strings.Builder
	topo := noPrimary()
	topo.FailoverInProgress = true
	topo.Servers[0].Up, topo.Servers[0].Role, topo.Servers[0].Fenced = true, health.RolePrimary, true
	v := NewTopologyView(topo, nil)
	v.Draining = true
	_ = WriteTopology(&b, v, probed)
	for _, want := range []string{"primary NONE", "DRAINING", "FAILOVER IN PROGRESS", "FENCED"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%q not shown:\n%s", want, b.String())
		}
	}
}

// TestWriteTopologyMembers: the members table follows the servers, one
// line per proxy with the view it gossiped; the header counts who agrees.
func TestWriteTopologyMembers(t *testing.T) {
	lines := renderTopology(t, NewTopologyView(healthy(), threeMembers()), probed.Add(400*time.Millisecond))
	if len(lines) != 11 {
		t.Fatalf("want the 6 lines of the servers, a blank line, column names and 3 members, got %d lines", len(lines))
	}
	if !strings.Contains(lines[0], "cluster members 3 (2 agree)") {
		t.Errorf("header %q does not count who agrees", lines[0])
	}
	if lines[6] != "" {
		t.Errorf("no blank line between the tables: %q", lines[6])
	}
	checkLines(t, lines, 7, [][]string{
		{"MEMBER", "ADDRESS", "ALIVE", "AGREES", "PRIMARY", "EPOCH", "VIEW", "SERVERS", "NOTE"},
		{"p0 (this)", "127.0.0.1:7946", "yes", "yes", "db1", "2", "400.0ms ago", "db1:primary db2:replica db3:down"},
		{"p1", "yes", "yes", "db1", "500.0ms ago", "db1:primary"},
		{"p2", "-", "no", "no", "NONE", "12.40s ago", "db1:unknown", "no view for 12s; primary db1 here, none there"},
	})
	// The members table lines up on its own columns.
	checkAligned(t, lines[7], lines[8:], "AGREES")

	// A lone proxy prints no members table.
	var b strings.Builder
	_ = WriteTopology(&b, NewTopologyView(healthy(), threeMembers()[:1]), probed)
	if strings.Contains(b.String(), "MEMBER") || strings.Contains(b.String(), "agree") {
		t.Errorf("a lone proxy printed members:\n%s", b.String())
	}
}

// renderTopology prints v as `switchyard status` does and returns its lines.
func renderTopology(t *testing.T, v TopologyView, now time.Time) []string {
	t.Helper()
	var b strings.Builder
	if err := WriteTopology(&b, v, now); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// checkLines checks that lines[from+i] holds every string of want[i].
func checkLines(t *testing.T, lines []string, from int, want [][]string) {
	t.Helper()
	for i, ws := range want {
		for _, w := range ws {
			if !strings.Contains(lines[from+i], w) {
				t.Errorf("line %d %q lacks %q", from+i, lines[from+i], w)
			}
		}
	}
}

// checkAligned checks that every row has a cell starting where column
// starts in header.
func checkAligned(t *testing.T, header string, rows []string, column string) {
	t.Helper()
	col := strings.Index(header, column)
	for _, l := range rows {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row %q", l)
		}
	}
}

func TestWriteDigests(t *testing.T) {
	var b strings.Builder
	_ = WriteDigests(&b, []DigestStat{
		{Digest: "0123456789abcdef0123", Sample: "SELECT c\n  FROM sbtest1 WHERE id = ?", Count: 1200, Errors: 3, TotalSeconds: 2.4, MaxSeconds: 0.0123},
		{Digest: "ff", Sample: "COMMIT", Count: 7, TotalSeconds: 0.0007},
	})
	out := b.String()
	t.Logf("\n%s", out)
	for _, w := range []string{"COUNT", "STATEMENT", "1200", "2.40s", "2.0ms", "12.3ms", "0123456789abcde…", "SELECT c FROM sbtest1 WHERE id = ?", "100µs", "COMMIT"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	b.Reset()
	_ = WriteDigests(&b, nil)
	if !strings.Contains(b.String(), "no statements yet") {
		t.Errorf("empty: %q", b.String())
	}
}

func TestSeconds(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "0s"}, {-1, "0s"}, {0.000850, "850µs"}, {0.0123, "12.3ms"}, {4.561, "4.56s"}, {123.4, "2m3s"},
	} {
		if got := seconds(tt.in); got != tt.want {
			t.Errorf("seconds(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
