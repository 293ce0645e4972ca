package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

// testDSN is a real server to run every scenario against, briefly:
// BENCH_TEST_DSN, or the primary of SWITCHYARD_TEST_TOPOLOGY (as printed by
// scripts/topology.sh start) with the app/app account and database test.
func testDSN(t *testing.T) string {
	if d := os.Getenv("BENCH_TEST_DSN"); d != "" {
		return d
	}
	if topo := os.Getenv("SWITCHYARD_TEST_TOPOLOGY"); topo != "" {
		primary, _, _ := strings.Cut(topo, ",")
		return "app:app@tcp(" + primary + ")/test"
	}
	t.Skip("set BENCH_TEST_DSN or SWITCHYARD_TEST_TOPOLOGY to run against a real server")
	return ""
}

// Every scenario runs end to end against a real server, twice interleaved,
// and the invariants hold: no errors, every count adds up, nothing lost.
func TestRunAllScenariosReal(t *testing.T) {
	dsn := testDSN(t)
	cfg := DefaultConfig()
	cfg.Targets = []Target{{Name: "a", DSN: dsn, PID: os.Getpid()}, {Name: "b", DSN: dsn}, {Name: "r", DSN: dsn, ReadsOnly: true}}
	cfg.Baseline, cfg.Compare = "a", []string{"b", "r"}
	cfg.Scenarios = AllScenarios()
	cfg.Rounds = 2
	cfg.Duration = 300 * time.Millisecond
	cfg.Warmup = 100 * time.Millisecond
	cfg.Conns = 4
	cfg.Tables, cfg.TableSize = 2, 500
	cfg.Prepare = true
	cfg.IdleConns, cfg.IdleActive = 50, 2
	cfg.LargeBytes, cfg.LargeRowBytes = 4<<20, 1000
	cfg.KillCmd = "echo nothing to kill"
	cfg.FailoverWriters, cfg.FailoverRate = 2, 500
	cfg.FailoverWarmup, cfg.FailoverSettle, cfg.FailoverTimeout = 300*time.Millisecond, 300*time.Millisecond, 5*time.Second
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != len(cfg.Scenarios) {
		t.Fatalf("%d scenarios reported, want %d", len(rep.Scenarios), len(cfg.Scenarios))
	}
	for _, s := range rep.Scenarios {
		ran := map[string]bool{}
		for _, r := range s.Results {
			ran[r.Target] = true
		}
		if want := !Writes(s.Name); ran["r"] != want {
			t.Errorf("%s: the reads-only target ran: %v, want %v", s.Name, ran["r"], want)
		}
		// Against b: r only (a/b is the inverse of b/a); against r: none
		// (a and b were references before it).
		if ran["r"] && (len(s.VsCompare) != 1 || s.VsCompare[0].Target != "r" || s.VsCompare[0].Versus != "b") {
			t.Errorf("%s: ratios vs the compare targets %+v, want r vs b only", s.Name, s.VsCompare)
		}
		for _, r := range s.Results {
			if r.Errors != 0 {
				t.Errorf("%s/%s: %d errors: %q", s.Name, r.Target, r.Errors, r.ErrorSamples)
			}
			if r.Events == 0 || r.Queries < r.Events {
				t.Errorf("%s/%s: %d events, %d queries", s.Name, r.Target, r.Events, r.Queries)
			}
			if r.Target == "a" && (r.PeakRSSBytes == nil || r.CPUSecPer1kQueries == nil) {
				t.Errorf("%s/%s: no CPU or RSS for a target with a PID", s.Name, r.Target)
			}
		}
		switch s.Name {
		case ScReadOnly, ScReadWritePrep, ScReadWriteAuto:
			for _, r := range s.Results {
				per := map[string]int64{ScReadOnly: 16, ScReadWritePrep: 20, ScReadWriteAuto: 19}[s.Name]
				if r.Queries != r.Events*per {
					t.Errorf("%s/%s: %d queries for %d transactions, want %d each", s.Name, r.Target, r.Queries, r.Events, per)
				}
			}
		case ScIdleConns:
			for _, r := range s.Results {
				if r.Idle == nil || r.Idle.Opened != 50 || r.Idle.AliveAfter != 50 {
					t.Errorf("idle: %+v, want 50 opened and alive", r.Idle)
				}
			}
		case ScLargeResult:
			for _, r := range s.Results {
				if r.Bytes < 2*(4<<20) || r.MBPerSec == nil {
					t.Errorf("large: %d bytes over 2 rounds, want >= %d", r.Bytes, 2*(4<<20))
				}
			}
		case ScFailover:
			for _, r := range s.Results {
				d := r.Failover
				if d == nil || !d.Verified || d.Missing != 0 || d.Unexpected != 0 || !d.Recovered || d.Acked != d.Attempted || d.KillOutput != "nothing to kill\n" {
					t.Errorf("failover %s: %+v", r.Target, d)
				}
			}
		}
		if s.Name != ScFailover && (len(s.VsBaseline) != len(ran)-1 || s.VsBaseline[0].QPS == nil) {
			t.Errorf("%s: ratios vs baseline %+v", s.Name, s.VsBaseline)
		}
	}
}
