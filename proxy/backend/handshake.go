package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

// The proxy runs the client side of the connection phase itself rather
// than through go-mysql's client, because it needs three things that client
// cannot do: send exactly the capability flags and collation id of the
// proxied client (the relay forwards bytes, so both ends must speak one
// dialect; go-mysql forces some flags and knows collations by name only),
// log in with SHA1(password) when the config holds only a hash, and upgrade
// to TLS with those flags (a rewriter under go-mysql would see ciphertext).
// go-mysql still provides the scramble algorithms.

// handshakeFlags shape the handshake packets and are always asked for.
const handshakeFlags = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_LONG_PASSWORD |
	mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA

// maxHandshakePacket bounds a packet of the connection phase (a public key
// is the largest).
const maxHandshakePacket = 64 << 10

// maxAuthRounds bounds the authentication exchange: switch, public key
// request, encrypted password, verdict.
const maxAuthRounds = 6

// greeting is what the proxy uses of the server's initial handshake.
type greeting struct {
	threadID uint32
	caps     uint32
	extCaps  uint32 // MariaDB's extended flags; 0 from a server that sets CLIENT_MYSQL
	salt     []byte
	plugin   string
}

// handshakeConn reads and writes the packets of the connection phase,
// keeping the sequence id.
type handshakeConn struct {
	*wire.Conn
	seq byte
}

func (h *handshakeConn) read() ([]byte, error) {
	size, seq, err := h.ReadHeader()
	if err != nil {
		return nil, err
	}
	h.seq = seq + 1
	p, err := h.ReadBody(nil, size, maxHandshakePacket)
	if err == nil && len(p) == 0 {
		err = fmt.Errorf("%w: empty packet in the handshake", wire.ErrMalformed)
	}
	return p, err
}

func (h *handshakeConn) write(p []byte) error {
	next, err := h.Write(p, h.seq)
	if err != nil {
		return err
	}
	h.seq = next
	return h.Flush()
}

// handshake logs in on nc as o says and returns the connection to relay on
// (a TLS connection when encrypted), the server's thread id and the
// capability flags in effect.
func handshake(ctx context.Context, nc net.Conn, o Options) (*wire.Conn, uint32, uint32, error) {
	h := &handshakeConn{Conn: wire.NewConn(nc, readBufferSize, writeBufferSize)}
	p, err := h.read()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read the server's greeting: %w", err)
	}
	if p[0] == wire.ERRHeader { // refused before the handshake (1040, 1129…)
		return nil, 0, 0, parseErr(p)
	}
	g, err := parseGreeting(p)
	if err != nil {
		return nil, 0, 0, err
	}
	encrypt, err := o.TLS.Encrypt(g.caps&mysql.CLIENT_SSL != 0)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %w", ErrMisconfigured, err)
	}
	caps := responseFlags(o, encrypt) & g.caps
	ext := o.ExtCapabilities & ExtBehavioral & g.extCaps
	if encrypt {
		if err := h.startTLS(ctx, nc, caps, ext, o); err != nil {
			return nil, 0, 0, err
		}
	}
	a := &authenticator{cred: o.Credential, secure: encrypt, salt: g.salt}
	a.plugin = a.firstPlugin(g.plugin) // the greeting's scramble serves every method
	auth, err := a.answer()
	if err != nil {
		return nil, 0, 0, err
	}
	if err := h.write(handshakeResponse(caps, ext, o, a.plugin, auth)); err != nil {
		return nil, 0, 0, err
	}
	if err := h.authenticate(a); err != nil {
		return nil, 0, 0, err
	}
	return h.Conn, g.threadID, caps, nil
}

// responseFlags are the capability flags the proxy asks for: those that
// shape the handshake, and the proxied client's behavioral ones.
func responseFlags(o Options, encrypt bool) uint32 {
	caps := handshakeFlags | o.Capabilities&Behavioral
	if o.DB != "" {
		caps |= mysql.CLIENT_CONNECT_WITH_DB
	}
	if len(o.Attributes) > 0 {
		caps |= mysql.CLIENT_CONNECT_ATTRS
	}
	if encrypt {
		caps |= mysql.CLIENT_SSL
	}
	return caps
}

// startTLS sends an SSLRequest and runs the TLS handshake; the rest of the
// connection phase and every command then go over TLS.
func (h *handshakeConn) startTLS(ctx context.Context, nc net.Conn, caps, ext uint32, o Options) error {
	if err := h.write(responseHead(caps, ext, o.Collation)); err != nil {
		return err
	}
	if h.R.Buffered() > 0 {
		return fmt.Errorf("%w: the server sent data before the TLS handshake", wire.ErrMalformed)
	}
	tc := tls.Client(nc, o.TLS.ClientConfig(o.Address))
	if err := tc.HandshakeContext(ctx); err != nil {
		return tlsFailure(o.TLS.Mode, err)
	}
	h.Conn = wire.NewConn(tc, readBufferSize, writeBufferSize)
	return nil
}

// TLSError is a TLS handshake with a backend that failed because of what
// the two ends said: a certificate the policy rejects, no common protocol
// version or cipher. It is ErrMisconfigured: trying again cannot help.
type TLSError struct {
	Mode string
	Err  error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS handshake failed (backend_tls.mode %s): %v", e.Mode, e.Err)
}

func (e *TLSError) Unwrap() []error { return []error{ErrMisconfigured, e.Err} }

// tlsFailure tells a server that went away during the TLS handshake (as
// unreachable as one that refuses TCP) from a TLSError.
func tlsFailure(mode string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	return &TLSError{Mode: mode, Err: err}
}

// authenticate answers auth switches and AuthMoreData until the server's
// verdict.
func (h *handshakeConn) authenticate(a *authenticator) error {
	switched := false
	for range maxAuthRounds {
		p, err := h.read()
		if err != nil {
			return err
		}
		var reply []byte
		switch p[0] {
		case wire.OKHeader:
			return nil
		case wire.ERRHeader:
			return parseErr(p)
		case wire.EOFHeader: // AuthSwitchRequest: plugin NUL scramble [NUL]
			if switched {
				return fmt.Errorf("%w: a second authentication switch", wire.ErrMalformed)
			}
			switched = true
			name, salt, _ := bytes.Cut(p[1:], []byte{0})
			a.plugin, a.salt = string(name), bytes.TrimSuffix(salt, []byte{0})
			reply, err = a.answer()
		case mysql.MORE_DATE_HEADER:
			if reply, err = a.moreData(p[1:]); reply == nil && err == nil {
				continue
			}
		default:
			return fmt.Errorf("%w: unexpected packet %#x in the authentication exchange", wire.ErrMalformed, p[0])
		}
		if err != nil {
			return err
		}
		if err := h.write(reply); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: authentication did not finish in %d exchanges", wire.ErrMalformed, maxAuthRounds)
}

// responseHead is the start of a HandshakeResponse41, which is also the
// whole SSLRequest: flags, max packet size, collation, 23 reserved bytes,
// the last 4 of which carry MariaDB's extended flags (ext is 0 unless the
// server offered them, and so left CLIENT_MYSQL unset, as caps then does).
func responseHead(caps, ext uint32, collation uint8) []byte {
	if collation == 0 {
		collation = mysql.DEFAULT_COLLATION_ID
	}
	b := make([]byte, 0, 128)
	b = binary.LittleEndian.AppendUint32(b, caps)
	b = binary.LittleEndian.AppendUint32(b, 0) // max packet size: the server's own limit applies
	b = append(b, collation)
	b = append(b, make([]byte, 19)...)
	return binary.LittleEndian.AppendUint32(b, ext)
}

// handshakeResponse is the HandshakeResponse41 packet.
func handshakeResponse(caps, ext uint32, o Options, plugin string, auth []byte) []byte {
	b := responseHead(caps, ext, o.Collation)
	b = append(append(b, o.User...), 0)
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(auth)))
	b = append(b, auth...)
	if caps&mysql.CLIENT_CONNECT_WITH_DB != 0 {
		b = append(append(b, o.DB...), 0)
	}
	b = append(append(b, plugin...), 0)
	if caps&mysql.CLIENT_CONNECT_ATTRS != 0 {
		var attrs []byte
		for k, v := range o.Attributes {
			attrs = append(attrs, mysql.PutLengthEncodedString([]byte(k))...)
			attrs = append(attrs, mysql.PutLengthEncodedString([]byte(v))...)
		}
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(attrs)))
		b = append(b, attrs...)
	}
	return b
}

// parseGreeting decodes a HandshakeV10 packet.
func parseGreeting(p []byte) (greeting, error) {
	bad := func(what string) (greeting, error) {
		return greeting{}, fmt.Errorf("%w: greeting: %s", wire.ErrMalformed, what)
	}
	if p[0] != 10 {
		return bad(fmt.Sprintf("protocol version %d, want 10 (is this a MySQL port?)", p[0]))
	}
	end := bytes.IndexByte(p[1:], 0)
	if end < 0 {
		return bad("no end to the server version")
	}
	pos := 1 + end + 1
	if len(p) < pos+4+8+1+2+1+2+2+1+10 {
		return bad("too short")
	}
	var g greeting
	g.threadID = binary.LittleEndian.Uint32(p[pos:])
	g.salt = append(g.salt, p[pos+4:pos+12]...)
	pos += 4 + 8 + 1 // thread id, scramble part 1, filler
	g.caps = uint32(binary.LittleEndian.Uint16(p[pos:]))
	g.caps |= uint32(binary.LittleEndian.Uint16(p[pos+5:])) << 16 // after charset(1), status(2)
	saltLen := int(p[pos+7])
	if g.caps&mysql.CLIENT_LONG_PASSWORD == 0 { // CLIENT_MYSQL unset: a MariaDB server with extended flags
		g.extCaps = binary.LittleEndian.Uint32(p[pos+14:])
	}
	pos += 2 + 1 + 2 + 2 + 1 + 10 // flags, charset, status, flags, scramble length, reserved
	if g.caps&mysql.CLIENT_PROTOCOL_41 == 0 {
		return bad("the server does not speak protocol 4.1")
	}
	rest := max(saltLen-8, 13) // part 2 of the scramble, NUL-terminated
	if len(p) < pos+rest {
		return bad("scramble cut short")
	}
	g.salt = append(g.salt, p[pos:pos+rest-1]...)
	pos += rest
	if g.caps&mysql.CLIENT_PLUGIN_AUTH != 0 {
		name, _, _ := bytes.Cut(p[pos:], []byte{0})
		g.plugin = string(name)
	}
	if g.plugin == "" {
		g.plugin = mysql.AUTH_NATIVE_PASSWORD
	}
	return g, nil
}

// parseErr decodes an ERR packet. One sent before the handshake has no
// SQLSTATE marker: its state is the one MySQL documents for the code.
func parseErr(p []byte) *mysql.MyError {
	if len(p) < 3 {
		return &mysql.MyError{Code: mysql.ER_UNKNOWN_ERROR, State: mysql.DEFAULT_MYSQL_STATE, Message: "malformed error packet"}
	}
	e := &mysql.MyError{Code: binary.LittleEndian.Uint16(p[1:3])}
	if len(p) >= 9 && p[3] == '#' {
		e.State, e.Message = string(p[4:9]), string(p[9:])
		return e
	}
	e.State = mysql.DEFAULT_MYSQL_STATE
	if s, ok := mysql.MySQLState[e.Code]; ok {
		e.State = s
	}
	e.Message = string(p[3:])
	return e
}
