package proxy

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/health"
)

// watchFormerPrimary ends the statements still running on a primary that
// writes have moved away from, until ctx is done.
//
// Why: when the proxies promote a replica because the primary stopped
// answering, a statement sent to the old primary before that waits on it
// for TCP's own timeouts: minutes for a host that hangs or vanished
// without closing its connections. Its backend connection is aborted
// instead, so the client hears at once that the outcome is unknown (1158)
// and can check and retry on the new primary; its transaction, if any, is
// gone with the old primary. Only a former primary that is down counts: a
// primary that misses a probe or two is still the primary, and after a
// switchover the old primary is up and finishes what it runs.
func (s *Server) watchFormerPrimary(ctx context.Context) {
	var seen uint64
	for {
		topo := s.topo.Snapshot()
		if _, ok := topo.Primary(); ok && topo.Epoch != seen {
			seen = topo.Epoch
			s.abortOnFormerPrimary(topo)
		}
		if !s.nextSnapshot(ctx, time.Second) {
			return
		}
	}
}

// abortOnFormerPrimary aborts every running statement on a primary
// connection made before topo's epoch to a server that is down and no
// longer the primary.
func (s *Server) abortOnFormerPrimary(topo *health.Topology) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		sess.abortIfOnFormerPrimary(topo)
	}
}

// abortIfOnFormerPrimary aborts the session's running statement if it runs
// on a former primary, under s.mu (see abortCurLocked).
func (s *Session) abortIfOnFormerPrimary(topo *health.Topology) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	if c == nil || !c.OnPrimary || c.Epoch == topo.Epoch || s.aborted {
		return
	}
	primary, _ := topo.Primary()
	if c.Name == primary.Name {
		return
	}
	if srv, ok := topo.Server(c.Name); ok && srv.Up {
		return
	}
	s.srv.metrics.formerPrimaryAborts.Inc()
	s.log.Warn("writes moved to a new primary while a statement ran on the old one; closing its connection: the client is told the outcome is unknown",
		"backend", c.Name, "thread_id", c.ThreadID, "new_primary", primary.Name, "ran", time.Since(s.curSince).Round(time.Millisecond))
	s.abortCurLocked()
}
