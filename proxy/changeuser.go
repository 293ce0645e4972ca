package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

// changeUser serves COM_CHANGE_USER. The client's auth data was computed
// with the proxy's handshake salt, which the backend never saw, so the
// proxy authenticates the new user itself (an auth switch to
// mysql_native_password with a fresh salt) and then opens a backend
// connection as that user. A failure ends the session, as MySQL does.
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
	u, known := s.srv.settings().users[req.user]
	if !known || !s.srv.verifyNative(u, answer, salt) {
		s.srv.loginFailed(hostOf(s.client.RemoteAddr()), req.user, "change_user")
		using := "YES"
		if len(answer) == 0 {
			using = "NO"
		}
		s.fatal(rseq+1, mysql.ER_ACCESS_DENIED_ERROR, "28000",
			fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", req.user, s.client.RemoteAddr(), using))
		return errQuit
	}
	s.srv.guard.succeeded(hostOf(s.client.RemoteAddr()), u.Name)
	// The new user starts from a fresh session, as on the server.
	if s.held != nil {
		s.held.Broken = true // it carries the old user's state
		s.releaseHeld()
	}
	s.user = u
	s.pins = 0
	s.resetLocal()
	s.state.db = req.db
	if req.collation != 0 {
		s.collation = req.collation
	}
	s.log = s.log.With("user", u.Name)
	if err := s.srv.checkLogin(ctx, s); err != nil {
		return s.replyErr(rseq+1, err)
	}
	return s.reply(rseq+1, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
}

type changeUserRequest struct {
	user, db  string
	collation uint8
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
