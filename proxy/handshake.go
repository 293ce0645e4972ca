package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// handshake authenticates the client with go-mysql's server, opens its first
// backend connection in the client's dialect, and returns the session.
func (s *Server) handshake(ctx context.Context, nc net.Conn, log *slog.Logger) (*Session, error) {
	deadline := time.Now().Add(s.settings().cfg.Limits.HandshakeTimeout)
	_ = nc.SetDeadline(deadline)
	id := s.ids.next(func(id uint32) bool { _, ok := s.session(id); return ok })
	hc := &packetBounded{capsRewriter: &capsRewriter{Conn: nc, caps: s.caps, ext: s.extCaps, id: id}}
	ah := &authHandler{srv: s, ctx: ctx, id: id, deadline: deadline, hc: hc}
	sc, err := s.serverHandshake(hc, ah)
	if err != nil {
		if ah.sess != nil { // admitted, then the final OK could not be sent
			s.guard.leaveUser(ah.sess.user.Name)
		}
		return nil, err
	}
	raw := sc.Conn.Conn // a *tls.Conn over hc after STARTTLS, else hc itself
	if raw == net.Conn(hc) {
		raw = nc
	}
	_ = nc.SetDeadline(time.Time{})
	sess := ah.sess
	sess.client = wire.NewUnbuffered(raw) // buffers are lent per command (buffers.go)
	return sess, nil
}

// serverHandshake runs go-mysql's side of the handshake. go-mysql v1.16
// panics on some malformed handshake responses (an auth data length that
// runs past the packet's end: FuzzClientHandshake found it); such a client
// gets 1043 Bad handshake, as from MySQL, instead of a dropped connection.
// With TLS configured the client may be inside a TLS stream by then, where
// a plain packet would only garble it: it is just closed.
func (s *Server) serverHandshake(hc net.Conn, ah *authHandler) (sc *server.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed handshake response: %v", r)
			s.guard.m.abandoned.WithLabelValues("malformed").Inc()
			s.log.Warn("client sent a handshake response go-mysql could not parse", "client", hc.RemoteAddr().String(), "err", fmt.Sprint(r))
			if s.settings().cfg.TLS.Cert == "" {
				c := wire.NewConn(hc, 16, 256)
				_, _ = c.Write(wire.ErrPacket(mysql.ER_HANDSHAKE_ERROR, "08S01", "Bad handshake: the handshake response packet is malformed"), 2)
				_ = c.Flush()
			}
		}
	}()
	return s.mysql.NewCustomizedConn(hc, ah, ah)
}

// authHandler gives go-mysql the configured credentials and, once the
// client is authenticated, connects its first backend so that a server-side
// refusal (unknown database, missing grant) reaches the client as the
// handshake's answer, exactly as it would without the proxy.
type authHandler struct {
	srv *Server
	ctx context.Context
	id  uint32 // the connection id in the greeting (proxyIDs, not go-mysql's)

	deadline time.Time // limits.handshake_timeout from the connection's start
	hc       *packetBounded

	db   string
	sess *Session
}

func (h *authHandler) GetCredential(username string) (server.Credential, bool, error) {
	u, ok := h.srv.settings().users[username]
	if !ok {
		// An unknown user fails like a wrong password (1045), as MySQL does,
		// so that user names cannot be probed.
		return server.Credential{Passwords: []string{unguessable}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
	}
	plugin := u.AuthPlugin
	if plugin == "" {
		plugin = mysql.AUTH_NATIVE_PASSWORD
	}
	if _, isHash := u.NativeHash(); isHash {
		// hashAuth checks these logins; the hash itself must never pass
		// for a password should go-mysql's own check run.
		return server.Credential{Passwords: []string{unguessable}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
	}
	return server.Credential{Passwords: []string{u.Password}, AuthPluginName: plugin}, true, nil
}

func (h *authHandler) OnAuthSuccess(c *server.Conn) error {
	c.SetStatus(mysql.SERVER_STATUS_AUTOCOMMIT)
	srv := h.srv
	set := srv.settings()
	if _, secure := c.Conn.Conn.(*tls.Conn); set.cfg.TLS.Require && !secure {
		return &mysql.MyError{Code: codeSecureTransport, State: "HY000",
			Message: "Connections using insecure transport are prohibited while --require_secure_transport=ON (switchyard tls.require); connect with TLS"}
	}
	u := set.users[c.GetUser()]
	if !srv.guard.admitUser(u.Name, u.MaxConnections) {
		return errTooManyUserConns(u.Name)
	}
	srv.guard.succeeded(c.RemoteAddr().String(), u.Name)
	sess := &Session{
		srv:         srv,
		id:          h.id,
		user:        u,
		caps:        c.Capability() & srv.caps,
		extCaps:     h.hc.clientExt() & srv.extCaps,
		salt:        h.hc.salt,
		collation:   c.Charset(),
		consistency: set.cfg.Routing.Consistency,
		resp:        response{status: mysql.SERVER_STATUS_AUTOCOMMIT},
	}
	sess.state.db = h.db
	sess.idleOutsideTx.Store(true)
	if v := c.Attributes()["switchyard_consistency"]; validConsistency(v) {
		sess.consistency = v
	}
	sess.log = srv.log.With("conn_id", sess.id, "user", sess.user.Name)
	if err := srv.checkLogin(h.ctx, sess); err != nil {
		var be *backend.Error
		if errors.As(err, &be) && be.Server != nil {
			srv.guard.leaveUser(u.Name)
			return serverRefusal(be) // the server's own refusal goes to the client unchanged
		}
	}
	c.UnsetStatus(mysql.SERVER_STATUS_AUTOCOMMIT)
	c.SetStatus(sess.resp.status)
	h.sess = sess
	return nil
}

// checkLogin opens (or reuses) a connection to the primary as the session's
// user with its database, so that a server-side refusal (unknown database,
// missing grant) reaches the client at login, exactly as it would without
// the proxy. An unreachable backend does not fail the login: the client
// gets a clear error on its first statement and may retry on the same
// connection.
func (srv *Server) checkLogin(ctx context.Context, s *Session) error {
	topo := srv.topo.Snapshot()
	p, ok := topo.Primary()
	if !ok {
		return nil
	}
	conn, err := s.borrow(ctx, p, topo.Epoch)
	if err != nil {
		var be *backend.Error
		if errors.As(err, &be) && be.Server != nil {
			return err
		}
		s.log.Warn("backend unavailable at login", "err", err)
		return nil
	}
	if status, ok := loginStatus(conn); ok {
		// The handshake OK says it, and finish keeps the connection for
		// the session when autocommit is off (its transaction is there).
		s.resp.status = status & (mysql.SERVER_STATUS_AUTOCOMMIT | mysql.SERVER_STATUS_IN_TRANS)
		s.finish(conn, nil)
		return nil
	}
	s.dropConn()
	return nil
}

func validConsistency(v string) bool {
	switch v {
	case config.ConsistencyEventual, config.ConsistencySession, config.ConsistencyGlobal, config.ConsistencyPrimary:
		return true
	}
	return false
}

// OnAuthFailure is called by go-mysql for every handshake that ends
// before success, with or without a credential: only a wrong one (1045)
// counts toward limits.max_auth_failures (limits.go).
func (h *authHandler) OnAuthFailure(c *server.Conn, err error) {
	host := c.RemoteAddr().String()
	if h.hc.proxyHeader {
		h.refuseProxyHeader(host)
		return
	}
	if !isWrongCredential(err) {
		reason := abandonedReason(err, h.deadline, c.Capability()&mysql.CLIENT_SSL != 0)
		h.srv.guard.m.abandoned.WithLabelValues(reason).Inc()
		h.srv.log.Debug("client handshake ended before a credential", "client", host, "reason", reason, "err", err)
		return
	}
	h.srv.log.Info("client authentication failed", "client", host, "user", c.GetUser())
	h.srv.loginFailed(host, c.GetUser(), "handshake")
}

// refuseProxyHeader answers a PROXY protocol header from a peer not in
// listen_proxy_protocol.trusted with 1130 and closes the connection (so
// that go-mysql's own answer, about a bad sequence number, is not sent).
func (h *authHandler) refuseProxyHeader(host string) {
	h.srv.guard.m.abandoned.WithLabelValues("proxy_header").Inc()
	h.srv.log.Warn("refused a PROXY protocol header from a peer not in listen_proxy_protocol.trusted; add the load balancer's network there if it is yours",
		"peer", host)
	nc := h.hc.capsRewriter.Conn
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	c := wire.NewConn(nc, 16, 256)
	_, _ = c.Write(wire.ErrPacket(mysql.ER_HOST_NOT_PRIVILEGED, "HY000",
		fmt.Sprintf("Host '%s' may not send a PROXY protocol header (switchyard listen_proxy_protocol.trusted)", host)), 1)
	_ = c.Flush()
	// Read what the client sent on (the rest of the header, its handshake
	// response) for a moment: closing with unread bytes resets the
	// connection, and the client would not read why.
	_ = nc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 4096))
	_ = nc.Close()
}

// UseDB records the database named in the handshake.
func (h *authHandler) UseDB(db string) error { h.db = db; return nil }

// The proxy owns the command loop; go-mysql's command handlers are never called.
func (h *authHandler) HandleQuery(string) (*mysql.Result, error) { return nil, errUnused }
func (h *authHandler) HandleFieldList(string, string) ([]*mysql.Field, error) {
	return nil, errUnused
}
func (h *authHandler) HandleStmtPrepare(string) (int, int, any, error) { return 0, 0, nil, errUnused }
func (h *authHandler) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, errUnused
}
func (h *authHandler) HandleStmtClose(any) error             { return errUnused }
func (h *authHandler) HandleOtherCommand(byte, []byte) error { return errUnused }

var errUnused = errors.New("BUG: go-mysql command handler called; the proxy owns the command loop")

// unguessable is a password no client can know, for unknown users.
var unguessable = string(mysql.RandomBuf(32))

// capsRewriter adds the proxy's extra capability flags to go-mysql's
// initial handshake packet (the first write on the connection): go-mysql
// lets a caller add only a few flags, and the proxy relays more. It also
// puts the proxy's connection id there: go-mysql counts from 10001, where
// backend thread ids soon are (see proxyIDs).
type capsRewriter struct {
	net.Conn
	caps    uint32
	id      uint32
	ext     uint32 // MariaDB's extended flags (extcaps.go)
	salt    []byte // the greeting's scramble, which COM_CHANGE_USER answers too
	written bool
}

// RemoteAddr is the client's host without its port: go-mysql names it in
// "Access denied for user 'u'@'host'", where MySQL puts the host alone.
func (c *capsRewriter) RemoteAddr() net.Addr {
	return hostAddr{c.Conn.RemoteAddr()}
}

type hostAddr struct{ net.Addr }

func (a hostAddr) String() string {
	host, _, err := net.SplitHostPort(a.Addr.String())
	if err != nil {
		return a.Addr.String()
	}
	return host
}

// packetBounded makes each Read stop at the end of the client's current
// packet until the client starts TLS. go-mysql reads the handshake through
// a 64 KiB buffer that the session does not inherit, and a client may send
// its first command in the same write as its handshake response
// (pipelining): that command must still be in the socket when the session
// takes the connection over. It also keeps a TLS ClientHello sent right
// behind the SSL request out of that buffer. After the SSL request the
// bytes are TLS records, read whole: a command in the same TLS record as
// the handshake response is still lost to go-mysql's buffer (one in a
// record of its own is not).
type packetBounded struct {
	*capsRewriter
	header  [4]byte
	inHdr   int // header bytes of the current packet read so far
	left    int // payload bytes of the current packet still to read
	packets int
	tls     bool
	// proxyHeader: the client began with a PROXY protocol header, which
	// only listen_proxy_protocol.trusted peers may send (proxyproto.go).
	proxyHeader bool
	hello       [responseExtOffset + 4]byte // the first bytes of the first packet (the handshake response)
	helloN      int
}

// clientExt returns the extended flags of the client's handshake
// response, when it was read in the clear.
func (c *packetBounded) clientExt() uint32 {
	if c.tls || c.helloN < len(c.hello) {
		return 0
	}
	return clientExtCaps(c.hello[:])
}

// errUntrustedProxyHeader ends the handshake of a client that sent a PROXY
// header it was not trusted to send.
var errUntrustedProxyHeader = errors.New("PROXY protocol header from an untrusted peer")

// sslRequestLen is an SSLRequest's payload length; a HandshakeResponse41
// is longer (it adds at least the user name's NUL).
const sslRequestLen = 32

func (c *packetBounded) Read(p []byte) (int, error) {
	if c.tls || len(p) == 0 {
		return c.Conn.Read(p)
	}
	if c.inHdr < len(c.header) {
		n, err := c.Conn.Read(p[:min(len(p), len(c.header)-c.inHdr)])
		c.inHdr += copy(c.header[c.inHdr:], p[:n])
		if c.inHdr == len(c.header) {
			if c.packets == 0 && looksLikeProxyHeader(c.header[:]) {
				c.proxyHeader = true
				return 0, errUntrustedProxyHeader
			}
			c.left = int(c.header[0]) | int(c.header[1])<<8 | int(c.header[2])<<16
			c.endIfRead()
		}
		return n, err
	}
	n, err := c.Conn.Read(p[:min(len(p), c.left)])
	if c.packets == 0 {
		c.helloN += copy(c.hello[c.helloN:], p[:n])
	}
	c.left -= n
	c.endIfRead()
	return n, err
}

// endIfRead starts the next packet once the current one is read whole.
func (c *packetBounded) endIfRead() {
	if c.left > 0 {
		return
	}
	size := int(c.header[0]) | int(c.header[1])<<8 | int(c.header[2])<<16
	c.tls = c.packets == 0 && size == sslRequestLen
	c.packets++
	c.inHdr = 0
}

func (c *capsRewriter) Write(p []byte) (int, error) {
	if !c.written {
		c.written = true
		if err := patchHandshake(p, c.caps, c.ext, c.id); err != nil {
			return 0, err
		}
		c.salt = greetingSalt(p)
	}
	return c.Conn.Write(p)
}

// patchHandshake overwrites the connection id and the capability flags of
// a HandshakeV10 packet (header included) in place. With extended flags it
// clears CLIENT_MYSQL, as a MariaDB server does, which tells the client
// where they are.
func patchHandshake(p []byte, caps, ext, id uint32) error {
	pos := 5 // header(4) + protocol version(1)
	for pos < len(p) && p[pos] != 0 {
		pos++
	}
	if pos+5 <= len(p) {
		binary.LittleEndian.PutUint32(p[pos+1:], id)
	}
	pos += 1 + 4 + 8 + 1 // NUL, connection id, auth data part 1, filler
	if pos+7 > len(p) {
		return fmt.Errorf("BUG: initial handshake of %d bytes is too short to patch", len(p))
	}
	if ext != 0 {
		if pos+greetingExtOffset+4 > len(p) {
			return fmt.Errorf("BUG: initial handshake of %d bytes is too short for extended flags", len(p))
		}
		caps &^= mysql.CLIENT_LONG_PASSWORD
		binary.LittleEndian.PutUint32(p[pos+greetingExtOffset:], ext)
	}
	binary.LittleEndian.PutUint16(p[pos:], uint16(caps))
	binary.LittleEndian.PutUint16(p[pos+5:], uint16(caps>>16)) // after charset(1) and status(2)
	return nil
}
