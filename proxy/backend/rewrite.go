package backend

import (
	"encoding/binary"
	"net"
)

// handshakeRewriter sits under go-mysql's client during the handshake only.
// It reads the server's capability flags from the initial handshake and, in
// the client's handshake response (the first packet written), replaces the
// behavioral flags and the collation with the proxied client's.
type handshakeRewriter struct {
	net.Conn
	caps       uint32 // behavioral flags wanted
	collation  uint8
	serverCaps *uint32 // learned from the initial handshake
	sent       *uint32 // flags written in the handshake response
	readSeen   bool
	written    bool
	readBuf    []byte
}

func (h *handshakeRewriter) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if !h.readSeen && n > 0 {
		h.readBuf = append(h.readBuf, p[:n]...)
		if caps, ok := parseServerCaps(h.readBuf); ok {
			*h.serverCaps = caps
			h.readSeen = true
			h.readBuf = nil
		}
	}
	return n, err
}

func (h *handshakeRewriter) Write(p []byte) (int, error) {
	// The first write is the HandshakeResponse41 (or an SSLRequest): header(4),
	// capability flags(4), max packet size(4), collation(1), …
	if !h.written && len(p) >= 13 {
		h.written = true
		caps := binary.LittleEndian.Uint32(p[4:8])
		caps = caps&^Behavioral | h.caps
		binary.LittleEndian.PutUint32(p[4:8], caps)
		*h.sent = caps
		if h.collation != 0 {
			p[12] = h.collation
		}
	}
	return h.Conn.Write(p)
}

// parseServerCaps reads the capability flags of a HandshakeV10 packet that
// starts at the beginning of b; ok is false until enough bytes arrived.
func parseServerCaps(b []byte) (uint32, bool) {
	if len(b) < 5 {
		return 0, false
	}
	pos := 5 // header(4) + protocol version(1)
	for pos < len(b) && b[pos] != 0 {
		pos++ // server version, NUL-terminated
	}
	pos += 1 + 4 + 8 + 1 // NUL, connection id, auth data part 1, filler
	if pos+2 > len(b) {
		return 0, false
	}
	low := uint32(binary.LittleEndian.Uint16(b[pos : pos+2]))
	pos += 2 + 1 + 2 // low caps, charset, status
	if pos+2 > len(b) {
		return 0, false
	}
	high := uint32(binary.LittleEndian.Uint16(b[pos : pos+2]))
	return low | high<<16, true
}
