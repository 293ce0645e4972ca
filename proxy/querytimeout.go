package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/proxy/backend"
)

// Statements that run past limits.query_timeout are stopped the way an
// operator would stop them: KILL QUERY of the backend thread, sent on a
// connection of its own, so the client gets the server's own error (1317
// Query execution was interrupted) and keeps its connection. A backend that
// has not finished the statement killGrace after that (a hung server, a
// network that drops packets) has its connection closed: the client gets
// an error instead of a hang, and the connection is never reused.
//
// A watcher checks once a second instead of a timer per statement, which
// would cost every statement a timer update.

// killGrace is how long a killed statement may take to end before its
// backend connection is closed. It covers execMonitor's own bound (connect
// timeout plus 5 s) with the default connect timeout.
const killGrace = 10 * time.Second

// overdueStatement is a statement past the limit and what to do about it.
type overdueStatement struct {
	sess  *Session
	conn  *backend.Conn
	ran   time.Duration
	close bool // KILL QUERY was sent killGrace ago: close the connection
}

// watchQueries stops overdue statements until ctx is done.
func (s *Server) watchQueries(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			limit := s.settings().cfg.Limits.QueryTimeout
			if limit <= 0 {
				continue
			}
			for _, o := range s.overdueStatements(now, limit) {
				s.stopStatement(ctx, o)
			}
		}
	}
}

// overdueStatements lists the statements running longer than limit.
func (s *Server) overdueStatements(now time.Time, limit time.Duration) []overdueStatement {
	s.mu.Lock()
	defer s.mu.Unlock()
	var late []overdueStatement
	for _, sess := range s.sessions {
		if o, ok := sess.overdue(now, limit); ok {
			late = append(late, o)
		}
	}
	return late
}

// overdue tells whether the session's current statement ran past limit,
// and whether it was already killed killGrace ago.
func (s *Session) overdue(now time.Time, limit time.Duration) (overdueStatement, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return overdueStatement{}, false
	}
	ran := now.Sub(s.curSince)
	switch {
	case ran < limit:
		return overdueStatement{}, false
	case !s.killedSince.Equal(s.curSince): // not killed yet
		s.killedSince = s.curSince
		return overdueStatement{sess: s, conn: s.cur, ran: ran}, true
	case ran >= limit+killGrace:
		return overdueStatement{sess: s, conn: s.cur, ran: ran, close: true}, true
	}
	return overdueStatement{}, false
}

// stopStatement kills an overdue statement on its backend, or closes the
// backend connection of one that outlived its kill.
func (s *Server) stopStatement(ctx context.Context, o overdueStatement) {
	log := o.sess.log.With("backend", o.conn.Name, "thread_id", o.conn.ThreadID, "ran", o.ran.Round(time.Millisecond))
	if o.close {
		s.metrics.timedOut.WithLabelValues("close").Inc()
		log.Warn("statement still running after KILL QUERY; closing its backend connection")
		_ = o.conn.Conn.Close() // unblocks the relay; the session drops the connection
		return
	}
	s.metrics.timedOut.WithLabelValues("kill_query").Inc()
	log.Warn("statement ran past limits.query_timeout; killing it")
	if err := s.execMonitor(ctx, o.conn.Name, o.conn.Address, fmt.Sprintf("KILL QUERY %d", o.conn.ThreadID)); err != nil {
		log.Warn("KILL QUERY failed; the connection is closed if the statement does not end", "err", err, "grace", killGrace)
	}
}
