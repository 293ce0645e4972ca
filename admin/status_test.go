package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/health"
)

func TestWriteTopology(t *testing.T) {
	var b strings.Builder
	v := NewTopologyView(healthy())
	if err := WriteTopology(&b, v, probed.Add(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("want a header, the failover state, column names and 3 servers, got %d lines", len(lines))
	}
	for i, want := range [][]string{
		{"epoch 2", "primary db1", "probed 400.0ms ago", "cluster members 3"},
		{"failover: healthy"},
		{"NAME", "ROLE", "UP", "LAG", "RTT", "GTID"},
		{"db1", "primary", "yes", "127.0.0.1:3401", "eu-west/eu-west-1a", "300µs", "0-1-42"},
		{"db2", "replica", "yes", "1.50s", "2.0ms", "0-1-41", "from 127.0.0.1:3401"},
		{"db3", "unknown", "no", "connection refused"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	// Columns line up: every server's role starts where ROLE does.
	col := strings.Index(lines[2], "ROLE")
	for _, l := range lines[3:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row %q", l)
		}
	}

	b.Reset()
	topo := noPrimary()
	topo.FailoverInProgress = true
	topo.Servers[0].Up, topo.Servers[0].Role, topo.Servers[0].Fenced = true, health.RolePrimary, true
	v = NewTopologyView(topo)
	v.Draining = true
	_ = WriteTopology(&b, v, probed)
	for _, want := range []string{"primary NONE", "DRAINING", "FAILOVER IN PROGRESS", "FENCED"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%q not shown:\n%s", want, b.String())
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
