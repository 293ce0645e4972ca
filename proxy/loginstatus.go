package proxy

import (
	"encoding/binary"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// freshSession gives the login's primary connection the session a direct
// connection would get now: COM_RESET_CONNECTION re-reads the session
// variables from the server's current globals (a pooled connection
// carries those of when it was opened), and its OK's status flags are
// what the server would put in its handshake OK, among them
// SERVER_STATUS_AUTOCOMMIT: a client that connects while
// @@global.autocommit is 0 must see autocommit off, and be in a
// transaction from its first statement. It returns those flags and false
// when the connection failed (it is then marked broken).
func freshSession(conn *backend.Conn) (uint16, bool) {
	if _, err := conn.Write([]byte{mysql.COM_RESET_CONNECTION}, 0); err != nil {
		conn.Broken = true
		return 0, false
	}
	if err := conn.FlushForReply(); err != nil {
		conn.Broken = true
		return 0, false
	}
	p, err := conn.ReadSmall()
	if err != nil || len(p) == 0 || p[0] != wire.OKHeader {
		conn.Broken = true // an error here leaves its state unknown
		return 0, false
	}
	// The reset ends what the proxy had set up on the connection: its
	// prepared statements and the GTID tracking, which the next borrow
	// sets again (syncState); the default database stays.
	clear(conn.Stmts)
	if ap, _ := conn.State.(*appliedState); ap != nil {
		ap.tracking, ap.varsKey = false, 0
	}
	return okStatus(p), true
}

// okStatus returns the status flags of an OK packet payload.
func okStatus(p []byte) uint16 {
	pos := 1
	for range 2 { // affected rows, last insert id
		_, n := wire.LenEncInt(p[pos:])
		if n == 0 {
			return 0
		}
		pos += n
	}
	if pos+2 > len(p) {
		return 0
	}
	return binary.LittleEndian.Uint16(p[pos:])
}
