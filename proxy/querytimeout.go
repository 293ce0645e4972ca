package proxy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/health/failover"
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
// backend connection is closed. It covers withMonitor's own bound (connect
// timeout plus 5 s) with the default connect timeout.
const killGrace = 10 * time.Second

// overdueStatement is a statement past the limit, to be killed.
type overdueStatement struct {
	sess *Session
	conn *backend.Conn
	ran  time.Duration
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
			var wg sync.WaitGroup
			for _, o := range s.overdueStatements(now, limit) {
				wg.Go(func() { s.killStatement(ctx, o) })
			}
			wg.Wait()
		}
	}
}

// overdueStatements lists the statements running longer than limit, and
// aborts the backend connections of those killed killGrace ago.
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

// overdue tells whether the session's current statement ran past limit and
// is to be killed now. One killed killGrace ago has its connection aborted
// here, under s.mu (see abortCurLocked).
func (s *Session) overdue(now time.Time, limit time.Duration) (overdueStatement, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || now.Sub(s.curSince) < limit {
		return overdueStatement{}, false
	}
	if s.killedAt.IsZero() {
		s.killedAt = now
		return overdueStatement{sess: s, conn: s.cur, ran: now.Sub(s.curSince)}, true
	}
	if now.Sub(s.killedAt) >= killGrace && !s.aborted {
		s.srv.metrics.timedOut.WithLabelValues("close").Inc()
		s.log.Warn("statement still running after KILL QUERY; closing its backend connection",
			"backend", s.cur.Name, "thread_id", s.cur.ThreadID, "ran", now.Sub(s.curSince).Round(time.Millisecond))
		s.abortCurLocked()
	}
	return overdueStatement{}, false
}

// killStatement kills an overdue statement on its backend.
func (s *Server) killStatement(ctx context.Context, o overdueStatement) {
	log := o.sess.log.With("backend", o.conn.Name, "thread_id", o.conn.ThreadID, "ran", o.ran.Round(time.Millisecond))
	s.metrics.timedOut.WithLabelValues("kill_query").Inc()
	log.Warn("statement ran past limits.query_timeout; killing it")
	if err := s.killQuery(ctx, o.conn, o.ran, ""); err != nil {
		log.Warn("KILL QUERY failed; the connection is closed if the statement does not end", "err", err, "grace", killGrace)
	}
}

// killQuery kills the statement that has run for ran on conn's backend
// thread (KILL [hardness] QUERY), if it is still running there: by the time
// the monitor connection is open the statement may have ended and the
// pooled connection be running another client's. The statement is the
// thread's if the server has run it for at least half of ran (a later one
// would be younger); MariaDB names it by QUERY_ID (KILL QUERY ID), so the
// kill reaches that statement or nothing; MySQL, which has no such form,
// gets KILL QUERY of the thread after the same check. It runs as the
// monitor account: the backend connection is the proxy's (a pooled one a
// client cannot name), and the proxy decided the kill (limits.query_timeout,
// or KILL QUERY of a proxy session whose owner killSession checked).
func (s *Server) killQuery(ctx context.Context, conn *backend.Conn, ran time.Duration, hardness string) error {
	minMS := (ran / 2).Milliseconds()
	return s.withMonitor(ctx, conn.Name, conn.Address, func(c failover.Conn) error {
		rows, err := c.Query(ctx, fmt.Sprintf("SELECT QUERY_ID FROM information_schema.PROCESSLIST WHERE ID = %d AND COMMAND <> 'Sleep' AND TIME_MS >= %d", conn.ThreadID, minMS))
		kill := fmt.Sprintf("KILL %s QUERY ID %s", hardness, firstQueryID(rows))
		if errno, _ := failover.ServerErrno(err); errno == mysql.ER_BAD_FIELD_ERROR { // MySQL: no QUERY_ID, TIME_MS
			rows, err = c.Query(ctx, fmt.Sprintf("SELECT ID AS QUERY_ID FROM information_schema.PROCESSLIST WHERE ID = %d AND COMMAND <> 'Sleep' AND TIME >= %d", conn.ThreadID, minMS/1000))
			kill = fmt.Sprintf("KILL %s QUERY %d", hardness, conn.ThreadID)
		}
		if err != nil || len(rows) == 0 {
			return err // gone: nothing to kill
		}
		_, err = c.Exec(ctx, kill)
		return err
	})
}

func firstQueryID(rows []failover.Row) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[0]["QUERY_ID"]
}

// runningForKill returns the backend connection running the session's
// current statement and for how long it has, or nil, and marks the
// statement killed: if its connection then fails, it is not a read to run
// again (mayRetryRead). A read on a pipelined connection has none of its
// own: it is marked so that it is not run again either (interrupted).
func (s *Session) runningForKill() (*backend.Conn, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		s.pipeKilled = s.pipeKilled || s.inPipe
		return nil, 0
	}
	if s.killedAt.IsZero() {
		s.killedAt = time.Now()
	}
	return s.cur, time.Since(s.curSince)
}
