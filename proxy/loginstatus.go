package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// loginStatus returns the status flags a direct login would put in its
// handshake OK, SERVER_STATUS_AUTOCOMMIT above all: a client that connects
// while @@global.autocommit is 0 must see autocommit off, and be in a
// transaction from its first statement. A pooled connection carries the
// session defaults of when it was opened, so the login's connection is
// reset: COM_RESET_CONNECTION re-reads the session variables from the
// server's current globals, and its OK's status is the one a new session
// gets. The reset also ends the GTID tracking, which is set again in the
// same round trip (asking first, "SELECT @@global.autocommit", costs more:
// a result set instead of two OK packets). false: the connection failed
// (it is marked broken).
func loginStatus(conn *backend.Conn) (uint16, bool) {
	ap, _ := conn.State.(*appliedState)
	if ap == nil {
		ap = &appliedState{}
		conn.State = ap
	}
	_, err := conn.Write([]byte{mysql.COM_RESET_CONNECTION}, 0)
	if err == nil {
		_, err = conn.Write(append([]byte{mysql.COM_QUERY}, trackingFor(ap.flavor)...), 0)
	}
	if err == nil {
		err = conn.FlushForReply()
	}
	if err != nil {
		conn.Broken = true
		return 0, false
	}
	var status uint16
	for i := range 2 {
		p, err := conn.ReadSmall()
		if err != nil || len(p) == 0 || p[0] != wire.OKHeader {
			conn.Broken = true // an error here leaves its state unknown
			return 0, false
		}
		if i == 0 {
			status = wire.ParseOK(p, true).Status
		}
	}
	// The reset dropped the connection's prepared statements and the
	// variables of earlier sessions; the default database stays.
	clear(conn.Stmts)
	ap.tracking, ap.varsKey, ap.readOnly = true, 0, false
	return status, true
}
