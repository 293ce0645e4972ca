package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/wire"
)

// maxChangeUserFailures is how many failed COM_CHANGE_USER a session may
// have: after that MariaDB answers every further one with 1047, so that a
// connection cannot be used to guess passwords.
const maxChangeUserFailures = 3

// changeUser serves COM_CHANGE_USER. The client's auth data was computed
// with the proxy's handshake salt, which the backend never saw, so the
// proxy authenticates the new user itself (an auth switch to
// mysql_native_password with a fresh salt) and then opens a backend
// connection as that user. As on the server, the session is reset either
// way, and a refused change keeps the connection open, logged in as the
// previous user with the previous database.
func (s *Session) changeUser(ctx context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	req, ok := parseChangeUser(body, s.caps)
	if !ok {
		s.fatal(seq+1, mysql.ER_MALFORMED_PACKET, "HY000", "malformed COM_CHANGE_USER packet")
		return errQuit
	}
	if s.changeUserFailures >= maxChangeUserFailures {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command"))
	}
	u, known := s.srv.settings().users[req.user]
	if known && len(req.auth) > 0 && req.nativeAuth() && s.srv.verifyNative(u, req.auth, s.salt) {
		// libmariadb answers with the handshake's scramble and, asked to
		// switch, answers the switch with that scramble again: accept
		// the first answer as the server would.
		return s.changedUser(ctx, seq+1, req, u)
	}
	salt := mysql.RandomBuf(20)
	switchReq := append([]byte{wire.EOFHeader}, mysql.AUTH_NATIVE_PASSWORD...)
	switchReq = append(append(append(switchReq, 0), salt...), 0)
	if err := s.reply(seq+1, switchReq); err != nil {
		return err
	}
	rsize, rseq, err := s.client.ReadHeader()
	if err != nil {
		return err
	}
	answer, err := s.client.ReadBody(nil, rsize, 1024)
	if err != nil {
		return err
	}
	if !known || !s.srv.verifyNative(u, answer, salt) {
		s.resetForNewUser()
		using := "YES"
		if len(answer) == 0 {
			using = "NO"
		}
		return s.changeUserFailed(rseq+1, req.user, fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", req.user, hostOf(s.client.RemoteAddr()), using))
	}
	return s.changedUser(ctx, rseq+1, req, u)
}

// changedUser makes the session u's, authenticated, with req's database
// and collation, and answers at seq.
func (s *Session) changedUser(ctx context.Context, seq byte, req changeUserRequest, u config.User) error {
	old, oldDB := s.user, s.state.db
	s.resetForNewUser()
	other := u.Name != old.Name
	if other && !s.srv.guard.admitUser(u.Name, u.MaxConnections) {
		e := errTooManyUserConns(u.Name)
		return s.reply(seq, wire.ErrPacket(e.Code, e.State, e.Message))
	}
	s.user, s.state.db = u, req.db
	if req.collation != 0 {
		s.collation = req.collation
	}
	if err := s.srv.checkLogin(ctx, s); err != nil {
		// The server refused the new user or database (1049…): the
		// session stays the previous user's, as on the server.
		if other {
			s.srv.guard.leaveUser(u.Name)
		}
		s.user, s.state.db = old, oldDB
		return s.replyErr(seq, err)
	}
	if other {
		s.srv.guard.leaveUser(old.Name)
		s.log = s.log.With("user", u.Name)
	}
	s.srv.guard.succeeded(hostOf(s.client.RemoteAddr()), u.Name)
	return s.reply(seq, wire.OKPacket(s.resp.status))
}

// resetForNewUser starts the fresh session a COM_CHANGE_USER gives, as on
// the server: nothing the client set survives, on any connection.
func (s *Session) resetForNewUser() {
	if s.held != nil {
		s.held.Broken = true // it carries the old user's state
		s.releaseHeld()
	}
	s.pins = 0
	s.resetLocal()
}

// changeUserFailed answers a refused COM_CHANGE_USER: it counts as a
// failed login of the client's host (slowed down, then blocked, as
// limits.max_auth_failures says) and of the session.
func (s *Session) changeUserFailed(seq byte, user, msg string) error {
	s.changeUserFailures++
	s.srv.loginFailed(hostOf(s.client.RemoteAddr()), user, "change_user")
	return s.reply(seq, wire.ErrPacket(mysql.ER_ACCESS_DENIED_ERROR, "28000", msg))
}

type changeUserRequest struct {
	user, db  string
	auth      []byte // auth data, computed with the handshake's scramble
	collation uint8
	plugin    string
}

// nativeAuth tells whether the auth data is a mysql_native_password answer.
func (r changeUserRequest) nativeAuth() bool {
	return r.plugin == "" || r.plugin == mysql.AUTH_NATIVE_PASSWORD
}

// parseChangeUser decodes the fields of COM_CHANGE_USER the proxy uses.
func parseChangeUser(b []byte, caps uint32) (changeUserRequest, bool) {
	var r changeUserRequest
	b = b[1:] // command byte
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return r, false
	}
	r.user, b = string(b[:i]), b[i+1:]
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return r, false
		}
		r.auth = b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
	} else {
		i = bytes.IndexByte(b, 0)
		if i < 0 {
			return r, false
		}
		b = b[i+1:]
	}
	i = bytes.IndexByte(b, 0)
	if i < 0 {
		return r, len(b) == 0 // no database and nothing after it
	}
	r.db, b = string(b[:i]), b[i+1:]
	if len(b) >= 2 {
		r.collation = b[0]
		if plugin, _, ok := bytes.Cut(b[2:], []byte{0}); ok {
			r.plugin = string(plugin)
		}
	}
	return r, true
}

// nativePasswordMatches checks a mysql_native_password scramble.
func nativePasswordMatches(answer, salt []byte, password string) bool {
	if password == "" {
		return len(answer) == 0
	}
	want := mysql.CalcNativePassword(salt, []byte(password))
	return subtle.ConstantTimeCompare(answer, want) == 1
}

// greetingSalt returns the 20-byte scramble of a HandshakeV10 packet
// (header included): 8 bytes after the connection id, 12 after the
// reserved bytes. nil when the packet is too short.
func greetingSalt(p []byte) []byte {
	pos := 5 // header(4) + protocol version(1)
	for pos < len(p) && p[pos] != 0 {
		pos++
	}
	pos += 1 + 4 // NUL, connection id
	part2 := pos + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	if part2+12 > len(p) {
		return nil
	}
	salt := make([]byte, 0, 20)
	salt = append(salt, p[pos:pos+8]...)
	return append(salt, p[part2:part2+12]...)
}
