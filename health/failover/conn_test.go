package failover

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/internal/testenv"
)

// mysqlServer serves go-mysql's server side of the handshake on loopback,
// with TLS when conf is not nil, and closes every session after it.
func mysqlServer(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewServer("5.5.5-10.11.6-MariaDB", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, conf)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
				c, err := srv.NewConn(nc, "monitor", "", server.EmptyHandler{})
				if err != nil {
					return
				}
				for c.HandleCommand() == nil {
				}
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// TestConnectTLS connects as each backend_tls mode to a server without TLS
// and to one whose certificate a test CA signed for db.test and 127.0.0.1.
func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	other := testenv.NewCA(t, dir, "other-ca")
	certFile, keyFile := ca.Issue(t, dir, "db.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	plain := mysqlServer(t, nil)
	secure := mysqlServer(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})

	tests := []struct {
		name      string
		addr      string
		policy    config.BackendTLS
		encrypted bool
		wantErr   string // "" for success
		wantIs    error
	}{
		{"disabled, plain server", plain, config.BackendTLS{Mode: config.TLSDisabled}, false, "", nil},
		{"disabled, TLS server", secure, config.BackendTLS{Mode: config.TLSDisabled}, false, "", nil},
		{"preferred falls back on a plain server", plain, config.BackendTLS{Mode: config.TLSPreferred}, false, "", nil},
		{"preferred encrypts on a TLS server", secure, config.BackendTLS{Mode: config.TLSPreferred}, true, "", nil},
		{"required on a plain server", plain, config.BackendTLS{Mode: config.TLSRequired}, false, "does not offer TLS", tlsconf.ErrNoServerTLS},
		{"required, any certificate", secure, config.BackendTLS{Mode: config.TLSRequired, CA: other.File}, true, "", nil},
		{"verify_ca on a plain server", plain, config.BackendTLS{Mode: config.TLSVerifyCA, CA: ca.File}, false, "does not offer TLS", tlsconf.ErrNoServerTLS},
		{"verify_ca, the signing CA", secure, config.BackendTLS{Mode: config.TLSVerifyCA, CA: ca.File}, true, "", nil},
		{"verify_ca, another CA", secure, config.BackendTLS{Mode: config.TLSVerifyCA, CA: other.File}, false, "unknown authority", nil},
		{"verify_identity, the certificate's name", secure, config.BackendTLS{Mode: config.TLSVerifyIdentity, CA: ca.File, ServerName: "db.test"}, true, "", nil},
		{"verify_identity, the address's IP", secure, config.BackendTLS{Mode: config.TLSVerifyIdentity, CA: ca.File}, true, "", nil},
		{"verify_identity, another name", secure, config.BackendTLS{Mode: config.TLSVerifyIdentity, CA: ca.File, ServerName: "db9.test"}, false, "db9.test", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tlsconf.New(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Connect(ctx, tt.addr, "monitor", "", p)
			if tt.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("connected; want an error mentioning %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
					t.Fatalf("error %v; want one mentioning %q (is %v)", err, tt.wantErr, tt.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, isTLS := c.Conn.Conn.(*tls.Conn); isTLS != tt.encrypted {
				t.Errorf("encrypted = %v, want %v", isTLS, tt.encrypted)
			}
			if err := c.Ping(); err != nil {
				t.Errorf("ping after the handshake: %v", err)
			}
		})
	}
}

func TestOffersTLS(t *testing.T) {
	greeting := func(caps uint32) []byte {
		p := append([]byte{10}, "10.11.6-MariaDB\x00"...)
		p = append(p, make([]byte, 4+8+1)...)
		return append(p, byte(caps), byte(caps>>8))
	}
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"CLIENT_SSL", greeting(mysql.CLIENT_SSL | mysql.CLIENT_PROTOCOL_41), true},
		{"no CLIENT_SSL", greeting(mysql.CLIENT_PROTOCOL_41), false},
		{"empty", nil, false},
		{"no NUL after the version", []byte{10, 'x', 'y'}, false},
		{"cut before the flags", greeting(mysql.CLIENT_SSL)[:20], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := offersTLS(tt.payload); got != tt.want {
				t.Errorf("offersTLS = %v, want %v", got, tt.want)
			}
		})
	}
}
