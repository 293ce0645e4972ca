package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// learnGTIDAfterRows asks the current connection, before the client gets
// the answer (done), for the GTID of a write (s.writing) whose answer ended
// with rows (INSERT … RETURNING, DELETE … RETURNING): a result set ends
// with an EOF packet, which carries no session tracking, so the GTID never
// arrives and reads after the write (this session's or, with consistency
// global, any session's) may run on a replica that has not applied it. A
// round trip more, only for such writes outside a transaction (inside one,
// the COMMIT's OK says it). A failure drops the connection, as a lost one.
func (s *Session) learnGTIDAfterRows() {
	r, conn := &s.resp, s.cur
	if conn == nil || !r.rowsLast || r.err || r.track.gtid != "" || conn.Broken || r.status&mysql.SERVER_STATUS_IN_TRANS != 0 {
		return
	}
	ap, _ := conn.State.(*appliedState)
	if ap == nil || gtid.DialectOf(ap.flavor).LastGTIDSQL == "" {
		return
	}
	v, err := conn.QueryValue(gtid.DialectOf(ap.flavor).LastGTIDSQL)
	if err != nil {
		s.log.Warn("could not read the GTID of a write that returned rows", "backend", conn.Name, "err", err)
		s.dropConn()
		s.afterLoss()
		return
	}
	r.track.gtid = v
}

// keepGTIDTracking turns the proxy's session tracking back on, on conn,
// after a client's SET of a session_track_* variable ran there. Without it
// the OK packets of the session's writes no longer carry their GTIDs, so a
// read right after a write (CREATE TABLE, INSERT, then SELECT) runs on a
// replica that has not applied it: 1146, Table doesn't exist; and state
// changes go unreported. It runs at once, not at the next borrow, because
// a held connection (a transaction, pinned state: such a SET pins, see
// tracked.untracked) is not synced again. The client then sees more
// tracking entries than it asked for, never fewer. A failure leaves
// tracking to the next sync.
func (s *Session) keepGTIDTracking(conn *backend.Conn, e *effect) {
	if conn.Broken {
		return
	}
	if !s.resp.track.untracked && (s.resp.err || !e.setsVars || !replacesTracking(e.text)) {
		return
	}
	ap, _ := conn.State.(*appliedState)
	if ap == nil {
		return
	}
	if ap.tracking = trackOn(conn, trackingFor(ap.flavor)); !ap.tracking {
		conn.Broken = true // its answer may be unread
	}
}

// trackOn runs the tracking statement on conn between client commands.
func trackOn(conn *backend.Conn, sql string) bool {
	if _, err := conn.Write(append([]byte{mysql.COM_QUERY}, sql...), 0); err != nil {
		return false
	}
	if err := conn.Flush(); err != nil {
		return false
	}
	p, err := conn.ReadSmall()
	return err == nil && len(p) > 0 && p[0] == wire.OKHeader
}

// replacesTracking tells whether a SET statement the proxy records sets
// session_track_system_variables, replacing the proxy's last_gtid in it.
func replacesTracking(set string) bool {
	return containsFold(set, "SESSION_TRACK_SYSTEM_VARIABLES")
}
