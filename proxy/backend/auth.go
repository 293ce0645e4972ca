package backend

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Credential is what a backend connection logs in with: the plain password
// or, for a user whose config holds only a mysql_native_password hash,
// SHA1(password) — the proxy learns it from a client's login — which
// answers a mysql_native_password scramble and nothing else.
type Credential struct {
	Password     string
	PasswordSHA1 []byte
}

// ErrNeedsPlainPassword means the server asked for an authentication method
// that a mysql_native_password hash cannot answer.
var ErrNeedsPlainPassword = fmt.Errorf("%w: the backend account needs the plain password, but the config holds only its "+
	"mysql_native_password hash; use mysql_native_password for this account on the server, or configure the plain password", ErrMisconfigured)

func (c Credential) hashOnly() bool { return c.Password == "" && c.PasswordSHA1 != nil }

// authenticator computes the answers of one connection's authentication
// exchange.
type authenticator struct {
	cred   Credential
	secure bool   // the connection is encrypted: passwords may be sent as they are
	plugin string // the method in use
	salt   []byte // the server's scramble for it
}

// firstPlugin is the method of the handshake response: the server's
// default, unless only a native hash is known (the server switches to the
// account's method when it is another).
func (a *authenticator) firstPlugin(serverDefault string) string {
	if a.cred.hashOnly() {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	switch serverDefault {
	case mysql.AUTH_NATIVE_PASSWORD, mysql.AUTH_CACHING_SHA2_PASSWORD, mysql.AUTH_SHA256_PASSWORD:
		return serverDefault
	}
	return mysql.AUTH_NATIVE_PASSWORD
}

// answer is the response to the scramble of a.plugin.
func (a *authenticator) answer() ([]byte, error) {
	pw := a.cred.Password
	if a.plugin == mysql.AUTH_NATIVE_PASSWORD {
		if a.cred.hashOnly() {
			return ScrambleNative(a.salt, a.cred.PasswordSHA1), nil
		}
		return mysql.CalcNativePassword(a.salt[:min(20, len(a.salt))], []byte(pw)), nil
	}
	if a.cred.hashOnly() {
		return nil, fmt.Errorf("%s: %w", a.plugin, ErrNeedsPlainPassword)
	}
	switch a.plugin {
	case mysql.AUTH_CACHING_SHA2_PASSWORD:
		return mysql.CalcCachingSha2Password(a.salt, []byte(pw)), nil
	case mysql.AUTH_MARIADB_ED25519:
		return mysql.CalcEd25519Password(a.salt, pw)
	case mysql.AUTH_SHA256_PASSWORD:
		switch {
		case pw == "":
			return []byte{0}, nil
		case a.secure:
			return append([]byte(pw), 0), nil
		}
		return []byte{1}, nil // ask for the server's public key
	}
	return nil, fmt.Errorf("the server asks for authentication method %q, which the proxy does not support", a.plugin)
}

// moreData answers an AuthMoreData packet (without its 0x01 header): the
// caching_sha2_password verdict or a public key. It returns nil when the
// next packet is to be read without answering.
func (a *authenticator) moreData(data []byte) ([]byte, error) {
	if a.plugin == mysql.AUTH_CACHING_SHA2_PASSWORD && len(data) == 1 {
		switch data[0] {
		case mysql.CACHE_SHA2_FAST_AUTH:
			return nil, nil // the OK packet follows
		case mysql.CACHE_SHA2_FULL_AUTH:
			if a.secure {
				return append([]byte(a.cred.Password), 0), nil
			}
			return []byte{2}, nil // ask for the server's public key
		}
		return nil, fmt.Errorf("unexpected caching_sha2_password status %#x", data[0])
	}
	if a.plugin != mysql.AUTH_CACHING_SHA2_PASSWORD && a.plugin != mysql.AUTH_SHA256_PASSWORD {
		return nil, fmt.Errorf("unexpected AuthMoreData for %s", a.plugin)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the server's public key is not PEM")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the server's public key: %w", err)
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("the server's public key is not RSA")
	}
	return mysql.EncryptPassword(a.cred.Password, a.salt, rsaKey)
}

// ScrambleNative answers a mysql_native_password scramble from
// SHA1(password): SHA1(password) XOR SHA1(salt || SHA1(SHA1(password))).
func ScrambleNative(salt, passwordSHA1 []byte) []byte {
	stage2 := sha1.Sum(passwordSHA1)
	h := sha1.New()
	h.Write(salt[:min(20, len(salt))])
	h.Write(stage2[:])
	return mysql.Xor(h.Sum(nil), passwordSHA1)
}
