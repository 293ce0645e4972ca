package proxy

import (
	"bytes"
	"crypto/sha1"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/proxy/backend"
)

// TestRecoverPasswordSHA1 checks the round trip a hash-only user depends
// on: a client's answer and the stored hash give back SHA1(password), and
// that answers a fresh backend scramble exactly as the password would.
func TestRecoverPasswordSHA1(t *testing.T) {
	const password = "s3cret"
	hash := mysql.NativePasswordHash([]byte(password))
	salt := mysql.RandomBuf(20)
	tests := []struct {
		name   string
		answer []byte
		ok     bool
	}{
		{"right password", mysql.CalcNativePassword(salt, []byte(password)), true},
		{"wrong password", mysql.CalcNativePassword(salt, []byte("s3cre7")), false},
		{"answer to another scramble", mysql.CalcNativePassword(mysql.RandomBuf(20), []byte(password)), false},
		{"the hash itself as answer", hash, false},
		{"short answer", []byte{1, 2, 3}, false},
		{"empty answer", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha, ok := recoverPasswordSHA1(tt.answer, salt, hash)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if want := sha1.Sum([]byte(password)); !bytes.Equal(sha, want[:]) {
				t.Fatalf("recovered %x, want SHA1(password) %x", sha, want)
			}
			backendSalt := mysql.RandomBuf(20)
			if got, want := backend.ScrambleNative(backendSalt, sha), mysql.CalcNativePassword(backendSalt, []byte(password)); !bytes.Equal(got, want) {
				t.Fatalf("ScrambleNative = %x, the password gives %x", got, want)
			}
		})
	}
}

// TestScrambleField pins the go-mysql field scrambleOf reads: an upgrade
// that renames it must fail here, not at a client's login.
func TestScrambleField(t *testing.T) {
	f, ok := reflect.TypeFor[server.Conn]().FieldByName("salt")
	if !ok || f.Type != reflect.TypeFor[[]byte]() {
		t.Fatalf("go-mysql server.Conn has no salt []byte field (found %v): update scrambleOf", ok)
	}
	got, err := scrambleOf(&server.Conn{})
	if err != nil || len(got) != 0 {
		t.Fatalf("scrambleOf(zero Conn) = %x, %v", got, err)
	}
}
