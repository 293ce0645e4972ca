package proxy

import (
	"context"
	"time"
)

// failoverWait holds one statement while no primary can be used (none is
// known, or the known one cannot be reached) until a failover gives one or
// it comes back. It is the one entry point for holding (as vitess's
// WaitForFailoverEnd): a statement has one deadline and one place in the
// count for its whole life, however many times routing and borrowing send
// it back to wait. The bounds are read from the settings when the hold
// starts, so a reload applies to the next held statement.
//
// It belongs to the session goroutine running the statement.
type failoverWait struct {
	srv      *Server
	deadline time.Time // zero until the statement is first held
	counted  bool      // it has a place in the count (srv.holding)
}

// wait holds the statement until the next topology snapshot. It returns
// false when the statement must give up: the count is full, the deadline
// passed or ctx ended.
func (w *failoverWait) wait(ctx context.Context) bool {
	if w.deadline.IsZero() {
		f := w.srv.settings().cfg.Failover
		if w.srv.holding.Add(1) > int64(f.HoldWritesMax) {
			w.srv.holding.Add(-1)
			return false
		}
		w.counted = true
		w.srv.metrics.heldTotal.Inc()
		w.deadline = time.Now().Add(f.HoldWritesTimeout)
	}
	return w.srv.waitTopology(ctx, w.deadline)
}

// done gives back the statement's place in the count; the caller defers it.
func (w *failoverWait) done() {
	if w.counted {
		w.srv.holding.Add(-1)
		w.counted = false
	}
}
