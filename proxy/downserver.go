package proxy

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/health"
)

// watchDownServers ends the statements still running on servers that are
// gone, until ctx is done: on a primary that writes have moved away from,
// and on a replica that has stopped answering.
//
// Why: a statement sent to a server whose host hangs or vanished without
// closing its connections waits for TCP's own timeouts, minutes, or for as
// long as a hung mariadbd stays hung (its kernel still answers keepalives).
// Its backend connection is aborted instead:
//   - on a former primary, once a replica was promoted: the client hears at
//     once that the outcome is unknown (1158) and can check and retry on the
//     new primary; its transaction, if any, is gone with the old primary. A
//     read none of whose answer reached the client runs again there.
//     Only a former primary that is down counts: a primary that misses a
//     probe or two is still the primary, and after a switchover the old
//     primary is up and finishes what it runs.
//   - on a replica down for failover.confirm_after (see downLongEnough): a read
//     none of whose answer reached the client yet runs again where the
//     router now sends it (Session.exchange); otherwise the client is told.
func (s *Server) watchDownServers(ctx context.Context) {
	var seen uint64
	for {
		topo := s.topo.Snapshot()
		formerPrimary := false
		if _, ok := topo.Primary(); ok && topo.Epoch != seen {
			seen, formerPrimary = topo.Epoch, true
		}
		s.progress.forgetDown(topo)
		confirm := s.settings().cfg.Failover.ConfirmAfter
		now := time.Now()
		if formerPrimary || anyDownLongEnough(topo, confirm, now) {
			s.mu.Lock()
			for _, sess := range s.sessions {
				if formerPrimary {
					sess.abortIfOnFormerPrimary(topo)
				}
				sess.abortIfOnGoneReplica(topo, confirm, now)
			}
			s.mu.Unlock()
		}
		if !s.nextSnapshot(ctx, time.Second) {
			return
		}
	}
}

// abortIfOnFormerPrimary aborts the session's running statement if it runs
// on a primary connection made before topo's epoch to a server that is down
// and no longer the primary; under s.mu (see abortCurLocked).
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
	s.log.Warn("writes moved to a new primary; closing a connection to the old one that a command was using (the client is told what became of it)",
		"backend", c.Name, "thread_id", c.ThreadID, "new_primary", primary.Name, "ran", time.Since(s.curSince).Round(time.Millisecond))
	s.abortCurLocked() // a read on it runs again on the new primary
}

// abortIfOnGoneReplica aborts the session's running statement if it runs on
// a replica connection to a server topo shows gone (downLongEnough); under
// s.mu (see abortCurLocked). Unlike a kill, it leaves killedAt zero, so
// that a read may run again elsewhere.
func (s *Session) abortIfOnGoneReplica(topo *health.Topology, confirm time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	if c == nil || c.OnPrimary || s.aborted {
		return
	}
	if srv, ok := topo.Server(c.Name); !ok || !downLongEnough(srv, confirm, now) {
		return
	}
	s.srv.metrics.downReplicaAborts.Inc()
	s.log.Warn("a replica stopped answering while a statement ran on it; closing its connection",
		"backend", c.Name, "thread_id", c.ThreadID, "ran", now.Sub(s.curSince).Round(time.Millisecond))
	s.abortCurLocked()
}

// downLongEnough tells whether srv has failed its probes long enough for the
// statements on it to be ended: two in a row at least, the first finished
// confirm (failover.confirm_after) ago, the last without any answer from
// the server (Silent). It is the evidence the proxies want before they
// call a primary dead, so a replica that is merely busy and misses one
// probe keeps its statements, and so does one that answers but refuses
// the monitor (a full server, a changed password, a status query stuck
// behind a lock); one whose mariadbd hangs is left about confirm plus a
// probe timeout after it stopped answering.
func downLongEnough(srv health.Server, confirm time.Duration, now time.Time) bool {
	return !srv.Up && srv.Silent && srv.FailedProbes >= 2 && !srv.DownSince.IsZero() && now.Sub(srv.DownSince) >= confirm
}

func anyDownLongEnough(topo *health.Topology, confirm time.Duration, now time.Time) bool {
	if topo == nil {
		return false
	}
	for _, srv := range topo.Servers {
		if downLongEnough(srv, confirm, now) {
			return true
		}
	}
	return false
}
