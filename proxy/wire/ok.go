package wire

import "encoding/binary"

// StatusStateChanged is SERVER_SESSION_STATE_CHANGED: the OK packet carries
// a session-state block.
const StatusStateChanged = 0x4000

// Session-state entry types (MySQL's enum_session_state_type, the same on
// MariaDB).
const (
	TrackSystemVariables = 0 // name, value
	TrackSchema          = 1 // the new default database
	TrackStateChange     = 2 // "1": some session state changed
	TrackGTIDs           = 3 // MySQL: encoding spec, then a GTID set
	TrackCharacteristics = 4 // the SQL that recreates the transaction's characteristics
	TrackTxState         = 5 // the transaction state, 8 characters
)

// OK is what the proxy reads from an OK packet payload.
type OK struct {
	Affected, InsertID uint64
	Status             uint16
	Warnings           uint16
	// FixedLen is the length up to and including the warnings.
	FixedLen int
	// Info is the human-readable text, without its length prefix.
	Info []byte
	// States is the session-state block (a sequence of type, length-encoded
	// data), present when Status has StatusStateChanged.
	States []byte
}

// ParseOK decodes an OK packet payload; tracking says whether it was sent
// with CLIENT_SESSION_TRACK (backend connections always are). Slices view b.
func ParseOK(b []byte, tracking bool) OK {
	var ok OK
	pos := 1
	var n int
	ok.Affected, n = LenEncInt(b[pos:])
	pos += n
	ok.InsertID, n = LenEncInt(b[pos:])
	pos += n
	if n == 0 || pos+4 > len(b) {
		ok.FixedLen = len(b)
		return ok
	}
	ok.Status = binary.LittleEndian.Uint16(b[pos:])
	ok.Warnings = binary.LittleEndian.Uint16(b[pos+2:])
	pos += 4
	ok.FixedLen = pos
	rest := b[pos:]
	if !tracking {
		ok.Info = rest
		return ok
	}
	info, rest, good := LenEncBytes(rest)
	if !good {
		return ok
	}
	ok.Info = info
	if ok.Status&StatusStateChanged == 0 {
		return ok
	}
	if states, _, good := LenEncBytes(rest); good {
		ok.States = states
	}
	return ok
}

// EachState calls fn for each entry of a session-state block, in order,
// and stops at the first malformed one.
func EachState(states []byte, fn func(typ byte, data []byte)) {
	for len(states) > 0 {
		typ := states[0]
		data, tail, good := LenEncBytes(states[1:])
		if !good {
			return
		}
		states = tail
		fn(typ, data)
	}
}

// WithoutTracking rewrites, in place, an OK packet sent with session
// tracking into the form a client without CLIENT_SESSION_TRACK expects:
// the info text unprefixed and no session state.
func (ok OK) WithoutTracking(b []byte) []byte {
	if ok.FixedLen >= len(b) {
		return b
	}
	st := ok.Status &^ StatusStateChanged
	binary.LittleEndian.PutUint16(b[ok.FixedLen-4:], st)
	n := copy(b[ok.FixedLen:], ok.Info)
	return b[:ok.FixedLen+n]
}

// LenEncBytes reads a length-encoded string.
func LenEncBytes(b []byte) (s, rest []byte, ok bool) {
	l, n := LenEncInt(b)
	if n == 0 || uint64(len(b)-n) < l {
		return nil, b, false
	}
	return b[n : n+int(l)], b[n+int(l):], true
}

// Warnings returns the warning count of an EOF packet (0 for others).
func (p Packet) Warnings() uint16 {
	if p.First() != EOFHeader || p.Size >= 9 || len(p.Head) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p.Head[1:3])
}
