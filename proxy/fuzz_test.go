package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/wire"
)

// fuzzConn is a client connection whose bytes come from the fuzzer.
type fuzzConn struct {
	net.Conn
	r io.Reader
}

func (f fuzzConn) Read(p []byte) (int, error)       { return f.r.Read(p) }
func (f fuzzConn) Write(p []byte) (int, error)      { return len(p), nil }
func (f fuzzConn) Close() error                     { return nil }
func (f fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (f fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (f fuzzConn) SetWriteDeadline(time.Time) error { return nil }
func (f fuzzConn) SetDeadline(time.Time) error      { return nil }

func packet(seq byte, payload ...byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// FuzzSessionCommands feeds arbitrary bytes to a session's command loop,
// after the handshake, with no backend reachable: every command must be
// answered or end the session, never crash the process or hang.
func FuzzSessionCommands(f *testing.F) {
	f.Add(packet(0, append([]byte{mysql.COM_QUERY}, "SELECT 1"...)...))
	f.Add(packet(0, append([]byte{mysql.COM_QUERY}, "KILL QUERY 10001"...)...))
	f.Add(packet(0, mysql.COM_PING))
	f.Add(packet(0, mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0))
	f.Add(packet(0, mysql.COM_STMT_FETCH, 1, 0, 0, 0, 1, 0, 0, 0))
	f.Add(packet(0, mysql.COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 0, 0, 'x'))
	f.Add(packet(0, mysql.COM_SET_OPTION, 1, 0))
	f.Add(packet(0, append([]byte{mysql.COM_CHANGE_USER}, "app\x00\x14aaaaaaaaaaaaaaaaaaaa"...)...))
	f.Add(packet(0, mysql.COM_PROCESS_KILL, 1, 0, 0, 0))
	f.Add(packet(0, mysql.COM_RESET_CONNECTION))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0, mysql.COM_QUERY})
	f.Add(packet(0))
	cfg := config.Default()
	cfg.Users = []config.User{{Name: "app", Password: "app"}}
	cfg.Failover.HoldWritesMax = 0 // no primary: fail at once instead of holding
	srv, err := NewServer(cfg, staticTopology{&health.Topology{}}, "10.11.0-MariaDB", slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Session{
			srv:         srv,
			id:          1,
			user:        cfg.Users[0],
			log:         slog.New(slog.DiscardHandler),
			client:      wire.NewConn(fuzzConn{r: bytes.NewReader(in)}, 64, 64),
			caps:        srv.caps,
			consistency: cfg.Routing.Consistency,
			resp:        response{status: mysql.SERVER_STATUS_AUTOCOMMIT},
		}
		s.run(context.Background())
	})
}

// handshakeResponse builds a HandshakeResponse41 for user with an auth
// answer, as a client sends after the server's greeting.
func handshakeResponse(caps uint32, user string, answer []byte, db string) []byte {
	p := []byte{byte(caps), byte(caps >> 8), byte(caps >> 16), byte(caps >> 24), 0, 0, 0, 1, 45}
	p = append(p, make([]byte, 23)...)
	p = append(p, user...)
	p = append(p, 0, byte(len(answer)))
	p = append(p, answer...)
	if db != "" {
		p = append(p, db...)
		p = append(p, 0)
	}
	p = append(p, mysql.AUTH_NATIVE_PASSWORD...)
	return packet(1, append(p, 0)...)
}

// FuzzClientHandshake feeds arbitrary bytes to the server side of the
// handshake (go-mysql's parsing plus the proxy's capability rewriting and
// authentication hooks) as a client's answer to the greeting: it must fail
// or succeed, never panic. The context is already cancelled so that the
// failed-login slowdown does not wait.
func FuzzClientHandshake(f *testing.F) {
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_WITH_DB)
	f.Add(handshakeResponse(caps, "app", bytes.Repeat([]byte{7}, 20), "test"))
	f.Add(handshakeResponse(caps, "nobody", nil, ""))
	f.Add(handshakeResponse(caps|mysql.CLIENT_CONNECT_ATTRS, "app", []byte{1}, ""))
	f.Add(handshakeResponse(caps|mysql.CLIENT_SSL, "app", nil, ""))
	f.Add(packet(1, 0xFF, 0xFF, 0xFF, 0xFF))
	f.Add([]byte{0x05, 0, 0, 1, 0x85})
	cfg := config.Default()
	cfg.Users = []config.User{{Name: "app", Password: "app"}, {Name: "hashed", Password: "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"}}
	srv, err := NewServer(cfg, staticTopology{&health.Topology{}}, "10.11.0-MariaDB", slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, in []byte) {
		if sess, err := srv.handshake(ctx, fuzzConn{r: bytes.NewReader(in)}, log); err == nil {
			sess.close()
		}
	})
}

// FuzzParseOK decodes arbitrary OK packets as they come from a backend.
func FuzzParseOK(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0x02, 0x40, 0, 0, 0, 0x14, 0x00, 0x12, 0x09, 'l', 'a', 's', 't', '_', 'g', 't', 'i', 'd', 0x07, '0', '-', '1', '-', '4', '2', '0'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		ok := wire.ParseOK(b, true)
		var tr tracked
		tr.noteOK(ok)
		out := ok.WithoutTracking(append([]byte(nil), b...))
		if len(out) > len(b) {
			t.Fatalf("rewritten OK grew from %d to %d bytes", len(b), len(out))
		}
		_ = wire.ParseOK(b, false)
	})
}

// FuzzParseChangeUser decodes arbitrary COM_CHANGE_USER packets.
func FuzzParseChangeUser(f *testing.F) {
	f.Add(append([]byte{mysql.COM_CHANGE_USER}, "app\x00\x00test\x00\x21\x00"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		_, _ = parseChangeUser(b, mysql.CLIENT_SECURE_CONNECTION)
		_, _ = parseChangeUser(b, 0)
	})
}

func TestParseOKSessionTracking(t *testing.T) {
	// OK, affected 1, insert id 0, status SESSION_STATE_CHANGED|AUTOCOMMIT,
	// warnings 0, info "" and one system variable: last_gtid=0-1-42.
	state := []byte{0x00, 0x12, 0x09}
	state = append(state, "last_gtid"...)
	state = append(state, 0x07)
	state = append(state, "0-1-420"...)
	pkt := []byte{0, 1, 0, 0x02, 0x40, 0, 0, 0, byte(len(state))}
	pkt = append(pkt, state...)
	ok := wire.ParseOK(pkt, true)
	var tr tracked
	tr.noteOK(ok)
	if tr.gtid != "0-1-420" || ok.Affected != 1 || ok.Status != 0x4002 {
		t.Fatalf("parsed %+v, tracked %+v", ok, tr)
	}
	out := ok.WithoutTracking(append([]byte(nil), pkt...))
	if want := []byte{0, 1, 0, 0x02, 0x00, 0, 0}; !bytes.Equal(out, want) {
		t.Fatalf("without tracking: % x, want % x", out, want)
	}
}
