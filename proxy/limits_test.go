package proxy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

func wantCode(t *testing.T, err error, code uint16) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != code {
		t.Fatalf("got %v, want MySQL error %d", err, code)
	}
}

// TestLimits checks the per-user connection cap (1203), the packet size
// limit (1153), the idle timeout and a password read from the environment.
func TestLimits(t *testing.T) {
	topo := testenv.Topology(t)
	t.Setenv("SWITCHYARD_TEST_APP_PASSWORD", "app")
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "limits: {max_packet: 64KiB, idle_timeout: 2s, query_timeout: 1s}\n")
	yaml = strings.Replace(yaml, "  - {name: app, password: app}\n", "  - {name: app, password_env: SWITCHYARD_TEST_APP_PASSWORD, max_connections: 2}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	db := open(t, s.Addr, "")
	ctx := context.Background()

	t.Run("per-user cap", func(t *testing.T) {
		var held []*sql.Conn
		for range 2 {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		_, err := db.Conn(ctx)
		wantCode(t, err, 1203)
		for _, c := range held {
			c.Close()
		}
		db.Close() // give the user's two slots back for the next subtests
	})
	t.Run("packet too large", func(t *testing.T) {
		// The server side closes the connection after 1153, as MySQL
		// does: use a pool of its own so no later test reuses it.
		c, err := connWhenFree(t, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.ExecContext(ctx, "SELECT '"+strings.Repeat("x", 100<<10)+"'")
		wantCode(t, err, 1153)
	})
	t.Run("query timeout", func(t *testing.T) {
		c, err := connWhenFree(t, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start := time.Now()
		_, err = c.ExecContext(qctx, "SELECT SLEEP(20)")
		wantCode(t, err, 1317) // Query execution was interrupted, from the server
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("a statement past limits.query_timeout (1s) was stopped after %v", took)
		}
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("the connection of a timed-out statement is unusable: %v", err)
		}
		m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
		if err != nil {
			t.Fatal(err)
		}
		if n := m.Value("switchyard_statements_timed_out_total", "action", "kill_query"); n != 1 {
			t.Fatalf("switchyard_statements_timed_out_total{action=kill_query} = %v, want 1", n)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		c, err := connWhenFree(t, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if _, err := c.ExecContext(ctx, "DO 1"); err == nil {
			t.Fatal("a connection idle past limits.idle_timeout still works")
		}
	})
}

// connWhenFree opens a connection on a pool of its own, retrying while the
// proxy has not yet seen the user's previous connections close (1203).
func connWhenFree(t *testing.T, addr string) (*sql.Conn, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := open(t, addr, "").Conn(context.Background())
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) || me.Number != 1203 || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAuthFailuresBlockHost sends wrong passwords from 127.0.0.2 until
// that host is blocked (1129), while a client on 127.0.0.1 keeps working.
func TestAuthFailuresBlockHost(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "limits: {max_auth_failures: 8, auth_block_time: 1m}\n")
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	mysql.RegisterDialContext("from127002", func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.DialContext(ctx, "tcp", addr)
	})
	try := func(pass string) error {
		db, err := sql.Open("mysql", fmt.Sprintf("app:%s@from127002(%s)/test", pass, s.Addr))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Ping()
	}
	good := open(t, s.Addr, "")
	for i := range 8 {
		wantCode(t, try("wrong"), 1045)
		if err := good.Ping(); err != nil {
			t.Fatalf("after %d failures from another host, a good client fails: %v", i+1, err)
		}
	}
	wantCode(t, try("app"), 1129)
	var one int
	if err := good.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatalf("a client on another host is affected by the block: %v", err)
	}
}

// TestRequireSecureTransport refuses plain connections with 3159.
func TestRequireSecureTransport(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), fmt.Sprintf("tls: {cert: %q, key: %q, require: true}\n", certFile, keyFile))
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	wantCode(t, open(t, s.Addr, "tls=false").Ping(), 3159)
	if err := open(t, s.Addr, "tls=skip-verify").Ping(); err != nil {
		t.Fatalf("TLS client refused: %v", err)
	}
}

// TestHostileClients sends garbage, truncated and silent handshakes and
// garbage commands; the proxy keeps serving a well-behaved client.
func TestHostileClients(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "limits: {handshake_timeout: 1s}\n")
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	good := open(t, s.Addr, "")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // a hang shows as 60s
		return c
	}
	readGreeting := func(c net.Conn) {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatalf("no greeting: %v", err)
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string][]byte{
		"garbage":             []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"truncated header":    {0x20, 0x00},
		"huge length":         {0xFF, 0xFF, 0xFF, 0x01, 0x00},
		"handshake too short": {0x05, 0x00, 0x00, 0x01, 0x85, 0xa6, 0x00, 0x00, 0x00},
		"zero packet":         {0x00, 0x00, 0x00, 0x01},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial()
			defer c.Close()
			readGreeting(c)
			_, _ = c.Write(payload)
			// The proxy answers with an error or closes; it never hangs
			// past the handshake timeout.
			start := time.Now()
			_, _ = io.Copy(io.Discard, c)
			// Bounds are loose: a loaded CI machine stalls for seconds.
			if time.Since(start) > 30*time.Second {
				t.Fatal("the proxy kept a hostile connection open past the handshake timeout")
			}
			if err := good.Ping(); err != nil {
				t.Fatalf("a good client fails after %s: %v", name, err)
			}
		})
	}
	t.Run("auth data past the packet", func(t *testing.T) {
		// A HandshakeResponse41 whose auth length runs past its end: go-mysql
		// panics on it (FuzzClientHandshake); the client gets 1043.
		c := dial()
		defer c.Close()
		readGreeting(c)
		_, _ = c.Write([]byte("1\x00\x00\x018\x82A00000000000000000000000000000000\x00\x1400000000000000000000000000000000000000000000000"))
		reply, _ := io.ReadAll(c)
		if len(reply) < 7 || reply[4] != 0xFF || reply[5] != 0x13 || reply[6] != 0x04 { // ERR 1043
			t.Fatalf("got % x, want an ERR packet with 1043 Bad handshake", reply)
		}
	})
	t.Run("silent", func(t *testing.T) {
		c := dial()
		defer c.Close()
		readGreeting(c)
		start := time.Now()
		_, _ = io.Copy(io.Discard, c)
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("a silent client was kept for %v", d)
		}
	})
	var one int
	if err := good.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.LogPath); err == nil && strings.Contains(string(b), "panic") {
		t.Fatalf("the proxy logged a panic:\n%s", b)
	}
}
