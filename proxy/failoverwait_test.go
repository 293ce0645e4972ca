package proxy

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
)

// TestFailoverWaitOneDeadlineOneCount: however many times a statement is
// sent back to wait (by routing, then by borrowing), it has one deadline
// and one place in hold_writes_max.
func TestFailoverWaitOneDeadlineOneCount(t *testing.T) {
	cfg := config.Default()
	cfg.Users = []config.User{{Name: "app", Password: "app"}}
	cfg.Failover.HoldWritesMax = 1
	cfg.Failover.HoldWritesTimeout = 300 * time.Millisecond
	srv, err := NewServer(cfg, staticTopology{&health.Topology{}}, "10.11.0-MariaDB", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := failoverWait{srv: srv}
	start := time.Now()
	waits := 0
	for first.wait(ctx) {
		waits++
		if srv.holding.Load() != 1 {
			t.Fatalf("holding = %d while one statement waits", srv.holding.Load())
		}
		other := failoverWait{srv: srv}
		if other.wait(ctx) {
			t.Fatal("a second statement was held past hold_writes_max = 1")
		}
		other.done()
		if waits > 100 {
			t.Fatal("the wait never ended")
		}
	}
	if el := time.Since(start); el > 2*cfg.Failover.HoldWritesTimeout {
		t.Fatalf("held for %v, want one hold_writes_timeout (%v)", el, cfg.Failover.HoldWritesTimeout)
	}
	if waits < 2 {
		t.Fatalf("waited %d times; the test needs the statement sent back more than once", waits)
	}
	first.done()
	if srv.holding.Load() != 0 {
		t.Fatalf("holding = %d after done", srv.holding.Load())
	}
}
