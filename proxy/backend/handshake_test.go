package backend

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
)

// scriptedConn plays a server's side of the connection phase from fixed
// bytes and keeps what the client wrote.
type scriptedConn struct {
	net.Conn
	r       io.Reader
	written bytes.Buffer
}

func (c *scriptedConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error)      { return c.written.Write(p) }
func (c *scriptedConn) Close() error                     { return nil }
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

func frame(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

var testSalt = []byte("abcdefghijklmnopqrst")

// serverCaps is what MariaDB 10.11 offers without TLS, near enough.
const serverCaps = handshakeFlags | Behavioral | mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_CONNECT_ATTRS

// greetingPacket is a HandshakeV10 payload as a server writes it.
func greetingPacket(caps uint32, plugin string) []byte {
	b := append([]byte{10}, "10.11.19-MariaDB"...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 42) // thread id
	b = append(b, testSalt[:8]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45) // charset
	b = binary.LittleEndian.AppendUint16(b, mysql.SERVER_STATUS_AUTOCOMMIT)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 10)...)
	b = append(b, testSalt[8:]...)
	b = append(b, 0)
	return append(append(b, plugin...), 0)
}

var okPacket = []byte{0, 0, 0, 2, 0, 0, 0}

func TestHandshake(t *testing.T) {
	opts := Options{Name: "db1", Address: "127.0.0.1:1", User: "app", DB: "test", Collation: 33,
		Capabilities: mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_COMPRESS,
		Credential:   Credential{Password: "pw"}, Timeout: time.Second}
	hashOnly := opts
	sha := sha1.Sum([]byte("pw"))
	hashOnly.Credential = Credential{PasswordSHA1: sha[:]}
	required := opts
	required.TLS = tlsconf.Policy{Mode: config.TLSRequired}

	tests := []struct {
		name     string
		opts     Options
		server   [][]byte // packets after the greeting
		plugin   string   // the greeting's default method
		wantErr  error
		wantCode uint16
		wantAuth []byte // the handshake response's auth data
	}{
		{"native password", opts, [][]byte{okPacket}, mysql.AUTH_NATIVE_PASSWORD, nil, 0,
			mysql.CalcNativePassword(testSalt, []byte("pw"))},
		{"native from SHA1(password)", hashOnly, [][]byte{okPacket}, mysql.AUTH_NATIVE_PASSWORD, nil, 0,
			mysql.CalcNativePassword(testSalt, []byte("pw"))},
		{"hash-only answers native to a caching_sha2 default", hashOnly, [][]byte{okPacket}, mysql.AUTH_CACHING_SHA2_PASSWORD, nil, 0,
			mysql.CalcNativePassword(testSalt, []byte("pw"))},
		{"hash-only cannot answer a switch to caching_sha2", hashOnly,
			[][]byte{append(append([]byte{0xfe}, mysql.AUTH_CACHING_SHA2_PASSWORD+"\x00"...), testSalt...)},
			mysql.AUTH_NATIVE_PASSWORD, ErrMisconfigured, 0, nil},
		{"caching_sha2 fast auth after a switch", opts,
			[][]byte{append(append([]byte{0xfe}, mysql.AUTH_CACHING_SHA2_PASSWORD+"\x00"...), testSalt...), {1, 3}, okPacket},
			mysql.AUTH_NATIVE_PASSWORD, nil, 0, nil},
		{"access denied", opts, [][]byte{append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...)},
			mysql.AUTH_NATIVE_PASSWORD, nil, mysql.ER_ACCESS_DENIED_ERROR, nil},
		{"required without TLS on the server", required, nil, mysql.AUTH_NATIVE_PASSWORD, ErrMisconfigured, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := frame(0, greetingPacket(serverCaps, tt.plugin))
			for i, p := range tt.server {
				script = append(script, frame(byte(2+2*i), p)...)
			}
			nc := &scriptedConn{r: bytes.NewReader(script)}
			_, threadID, caps, err := handshake(context.Background(), nc, tt.opts)
			if tt.wantErr != nil || tt.wantCode != 0 {
				var me *mysql.MyError
				switch {
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				case tt.wantCode != 0 && (!errors.As(err, &me) || me.Code != tt.wantCode):
					t.Fatalf("err = %v, want MySQL error %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if threadID != 42 {
				t.Errorf("thread id = %d, want 42", threadID)
			}
			resp := nc.written.Bytes()[4:]
			sent := binary.LittleEndian.Uint32(resp)
			want := (handshakeFlags | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_CONNECT_WITH_DB) & serverCaps
			if sent != want || caps != want {
				t.Errorf("flags sent %#x, in effect %#x; want %#x (the client's behavioral flags, nothing else)", sent, caps, want)
			}
			if resp[8] != 33 {
				t.Errorf("collation = %d, want the client's 33", resp[8])
			}
			user, rest, _ := bytes.Cut(resp[32:], []byte{0})
			if string(user) != "app" {
				t.Errorf("user = %q", user)
			}
			if tt.wantAuth != nil && !bytes.Equal(rest[1:1+rest[0]], tt.wantAuth) {
				t.Errorf("auth data = %x, want %x", rest[1:1+rest[0]], tt.wantAuth)
			}
		})
	}
}

// TestPreAuthError reads an error sent instead of a greeting, which has no
// SQLSTATE marker.
func TestPreAuthError(t *testing.T) {
	p := append([]byte{0xff, 0x10, 0x04}, "Too many connections"...)
	e := parseErr(p)
	if e.Code != mysql.ER_CON_COUNT_ERROR || e.State != "08004" || e.Message != "Too many connections" {
		t.Fatalf("parseErr = %+v", e)
	}
}

// FuzzHandshake plays arbitrary server bytes against the client side of
// the connection phase: it must return, with an error or not, and never
// panic.
func FuzzHandshake(f *testing.F) {
	f.Add(frame(0, greetingPacket(serverCaps, mysql.AUTH_NATIVE_PASSWORD)))
	f.Add(append(frame(0, greetingPacket(serverCaps, mysql.AUTH_NATIVE_PASSWORD)), frame(2, okPacket)...))
	f.Add(append(frame(0, greetingPacket(serverCaps|mysql.CLIENT_SSL, mysql.AUTH_CACHING_SHA2_PASSWORD)), frame(2, []byte{1, 4})...))
	f.Add(frame(0, []byte{0xff, 0x10, 0x04, 'x'}))
	preferred, err := tlsconf.New(config.BackendTLS{Mode: config.TLSPreferred})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		for _, policy := range []tlsconf.Policy{{}, preferred} {
			nc := &scriptedConn{r: bytes.NewReader(script)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _, _, _ = handshake(ctx, nc, Options{User: "app", Credential: Credential{Password: "pw"}, TLS: policy})
			cancel()
		}
	})
}
