package proxy

import (
	"testing"

	"github.com/switchyard/switchyard/proxy/wire"
)

// TestOpensCursor: only an execute that asked for a cursor, answered with a
// single result whose column EOF says SERVER_STATUS_CURSOR_EXISTS, leaves
// its rows on the server. The status values are those MariaDB 10.11 sends.
func TestOpensCursor(t *testing.T) {
	const (
		realCursor  = 0x42 // autocommit, cursor exists: SELECT executed with a cursor
		procCursor  = 0x6a // the same with more results: a CALL whose procedure holds a cursor
		plainResult = 0x22 // autocommit, no index used
	)
	for _, tc := range []struct {
		name   string
		asked  bool
		status uint16
		want   bool
	}{
		{"execute with a cursor, cursor opened", true, realCursor, true},
		{"execute with a cursor, CALL with a cursor of its own", true, procCursor, false},
		{"execute with a cursor, no cursor opened (SHOW…)", true, plainResult, false},
		{"COM_QUERY of a CALL with a cursor of its own", false, procCursor, false},
		{"COM_QUERY, cursor flag without more results", false, realCursor, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{cursorAsked: tc.asked}
			if got := s.opensCursor(tc.status); got != tc.want {
				t.Fatalf("opensCursor(%#x) with cursorAsked=%v = %v, want %v", tc.status, tc.asked, got, tc.want)
			}
		})
	}
}

// TestNoteERR: ER_CONNECTION_KILLED, and only it, marks the response as the
// server's announcement that it closes the connection.
func TestNoteERR(t *testing.T) {
	for _, tc := range []struct {
		name   string
		packet []byte
		killed bool
	}{
		{"connection killed", wire.ErrPacket(1927, "70100", "Connection was killed"), true},
		{"query interrupted", wire.ErrPacket(1317, "70100", "Query execution was interrupted"), false},
		{"table missing", wire.ErrPacket(1146, "42S02", "Table 'test.t1' doesn't exist"), false},
		{"truncated", []byte{wire.ERRHeader, 0x87}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{}
			s.noteERR(wire.Packet{Head: tc.packet, Size: len(tc.packet)})
			if !s.resp.err || s.resp.connKilled != tc.killed {
				t.Fatalf("err=%v connKilled=%v, want true and %v", s.resp.err, s.resp.connKilled, tc.killed)
			}
		})
	}
}
