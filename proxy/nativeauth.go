package proxy

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"reflect"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/config"
)

// hashAuth checks the logins of users whose config holds a
// mysql_native_password hash instead of a password; go-mysql's default
// provider checks everyone else. Such a login also teaches the pools
// SHA1(password), which is what the user's backend connections log in
// with (ProxySQL does the same). Safe for concurrent use.
type hashAuth struct {
	server.DefaultAuthenticationProvider
	srv *Server
}

func (a *hashAuth) Authenticate(c *server.Conn, plugin string, answer []byte) error {
	u, known := a.srv.settings().users[c.GetUser()]
	if _, isHash := u.NativeHash(); !known || !isHash {
		return a.DefaultAuthenticationProvider.Authenticate(c, plugin, answer)
	}
	switch {
	case plugin != mysql.AUTH_NATIVE_PASSWORD:
		// Not reached: the credential names mysql_native_password, so
		// go-mysql switches other clients to it before calling here.
		return server.ErrAccessDenied
	case len(answer) == 0 || bytes.Equal(answer, []byte{0}):
		return server.ErrAccessDeniedNoPassword
	}
	salt, err := scrambleOf(c)
	if err != nil {
		return err
	}
	if !a.srv.verifyNative(u, answer, salt) {
		return server.ErrAccessDenied
	}
	return nil
}

// verifyNative checks a mysql_native_password answer to salt for u. When
// u's config holds only the hash, a match also gives the pools
// SHA1(password) for u's backend connections.
func (srv *Server) verifyNative(u config.User, answer, salt []byte) bool {
	hash, isHash := u.NativeHash()
	if !isHash {
		return nativePasswordMatches(answer, salt, u.Password)
	}
	sha, ok := recoverPasswordSHA1(answer, salt, hash)
	if ok {
		srv.pools.learn(hash, sha)
	}
	return ok
}

// recoverPasswordSHA1 undoes a mysql_native_password answer with the stored
// hash: the answer is SHA1(password) XOR SHA1(salt || hash), where hash is
// SHA1(SHA1(password)). ok says whether what comes out hashes to hash, that
// is whether the client knew the password.
func recoverPasswordSHA1(answer, salt, hash []byte) (passwordSHA1 []byte, ok bool) {
	if len(answer) != sha1.Size || len(salt) < 20 || len(hash) != sha1.Size {
		return nil, false
	}
	h := sha1.New()
	h.Write(salt[:20])
	h.Write(hash)
	passwordSHA1 = mysql.Xor(answer, h.Sum(nil))
	check := sha1.Sum(passwordSHA1)
	if subtle.ConstantTimeCompare(check[:], hash) != 1 {
		return nil, false
	}
	return passwordSHA1, true
}

// scrambleOf returns the scramble go-mysql sent c's client (the one of the
// auth switch, when there was one). go-mysql keeps it in an unexported
// field and hands it to no hook, and checking an answer against a stored
// hash needs it. Reading the field is the smallest way: the alternatives
// were a second auth switch with a scramble of our own (clients refuse a
// second switch) or parsing it off the wire (TLS hides the auth switch).
// TestScrambleField fails if a go-mysql upgrade renames the field.
func scrambleOf(c *server.Conn) ([]byte, error) {
	f := reflect.ValueOf(c).Elem().FieldByName("salt")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		return nil, errNoScramble
	}
	return bytes.Clone(f.Bytes()), nil
}

var errNoScramble = errors.New("BUG: go-mysql's server.Conn has no salt []byte field; update scrambleOf for this go-mysql version")
