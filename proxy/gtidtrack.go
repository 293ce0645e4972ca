package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// keepGTIDTracking puts last_gtid back into session_track_system_variables
// on conn after a client's SET of that variable ran there. The SET replaces
// the list the proxy extended (trackGTID); without last_gtid the OK packets
// of the session's writes no longer carry their GTIDs, so a read right
// after a write (CREATE TABLE, INSERT, then SELECT) runs on a replica that
// has not applied it: 1146, Table doesn't exist. It runs at once, not at
// the next borrow, because a held connection (a transaction, pinned state)
// is not synced again. A failure leaves tracking to the next sync.
func (s *Session) keepGTIDTracking(conn *backend.Conn, e *effect) {
	if s.resp.err || conn.Broken || !e.setsVars || !replacesTracking(e.text) {
		return
	}
	ap, _ := conn.State.(*appliedState)
	if ap == nil {
		return
	}
	ap.tracking = trackGTIDOn(conn)
}

// trackGTIDOn runs trackGTID on conn between client commands.
func trackGTIDOn(conn *backend.Conn) bool {
	if _, err := conn.Write(append([]byte{mysql.COM_QUERY}, trackGTID...), 0); err != nil {
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
