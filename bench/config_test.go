package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestExpandScenarios(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"one", "point_select", []string{ScPointSelect}, ""},
		{"text alias", "point_select_text, read_only_prepared", []string{ScPointSelect, ScReadOnlyPrep}, ""},
		{"default has no failover", "default", DefaultScenarios(), ""},
		{"all ends with failover", "all", AllScenarios(), ""},
		{"oltp", "oltp", []string{ScPointSelect, ScPointSelectPrep, ScReadOnly, ScReadOnlyPrep, ScReadWrite, ScReadWritePrep, ScReadWriteAuto}, ""},
		{"duplicates dropped, first place kept", "connect_storm,oltp,connect_storm", []string{
			ScConnectStorm, ScPointSelect, ScPointSelectPrep, ScReadOnly, ScReadOnlyPrep, ScReadWrite, ScReadWritePrep, ScReadWriteAuto}, ""},
		{"unknown", "point_select,nope", []string{ScPointSelect}, `unknown scenario "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandScenarios(tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := func() Config {
		c := DefaultConfig()
		c.Targets = []Target{{Name: "direct", DSN: "app:app@tcp(127.0.0.1:3306)/test"}, {Name: "haproxy", DSN: "app:app@tcp(127.0.0.1:6034)/test"}}
		c.Baseline = "direct"
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings, all must appear
	}{
		{"defaults with targets", func(*Config) {}, nil},
		{"no targets", func(c *Config) { c.Targets = nil; c.Baseline = "" }, []string{"--target: at least one"}},
		{"everything wrong at once", func(c *Config) {
			c.Targets = append(c.Targets, Target{Name: "direct", DSN: ""}, Target{Name: "bad name"})
			c.Compare = []string{"nope"}
			c.Rounds = 0
			c.Conns = -1
			c.Scenarios = []string{"x"}
		}, []string{"--target direct: given twice", "empty DSN", `--target "bad name"`, "--compare nope", "--rounds: must be positive", "--conns: must be positive", `unknown scenario "x"`}},
		{"bad DSN", func(c *Config) { c.Targets[1].DSN = "127.0.0.1:3306" }, []string{"--target haproxy: invalid DSN"}},
		{"too many rows for bench_seq", func(c *Config) { c.LargeBytes = 1 << 40; c.LargeRowBytes = 1 }, []string{"--large-bytes"}},
		{"failover target must exist", func(c *Config) { c.FailoverTargets = []string{"sy"} }, []string{"--failover-target sy"}},
		{"a reads-only target may compare", func(c *Config) { c.Targets[1].ReadsOnly = true; c.Compare = []string{"haproxy"} }, nil},
		{"a reads-only target neither prepares nor drills", func(c *Config) {
			c.Targets[0].ReadsOnly = true
			c.Prepare = true
			c.Scenarios = []string{ScFailover}
			c.FailoverTargets = []string{"direct"}
		}, []string{"--failover-target direct: the target takes reads only", "--prepare through direct"}},
		{"not every target reads only", func(c *Config) { c.Targets[0].ReadsOnly, c.Targets[1].ReadsOnly = true, true }, []string{"every target takes reads only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
