package proxy

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// Packets of a server's answers, as MariaDB 10.11 sends them to a client
// without CLIENT_DEPRECATE_EOF.
var (
	okPkt       = []byte{0x00, 0, 0, 0x02, 0, 0, 0}
	okMorePkt   = []byte{0x00, 0, 0, 0x0a, 0, 0, 0} // SERVER_MORE_RESULTS_EXISTS
	errPkt      = wire.ErrPacket(1146, "42S02", "Table 'test.t' doesn't exist")
	eofPkt      = []byte{0xfe, 0, 0, 0x02, 0}
	eofMorePkt  = []byte{0xfe, 0, 0, 0x0a, 0}
	eofCursor   = []byte{0xfe, 0, 0, 0x42, 0} // SERVER_STATUS_CURSOR_EXISTS
	colDef      = append([]byte{3, 'd', 'e', 'f'}, bytes.Repeat([]byte{0}, 20)...)
	progressPkt = []byte{0xff, 0xff, 0xff, 1, 1, 3, 0x10, 0x27, 0, 'c', 'o', 'p', 'y'}
	sentinel    = []byte("sentinel")
)

func textRow(values ...string) []byte {
	var b []byte
	for _, v := range values {
		b = append(b, byte(len(v)))
		b = append(b, v...)
	}
	return b
}

func resultSet(end []byte, rows ...[]byte) [][]byte {
	out := [][]byte{{2}, colDef, colDef, eofPkt}
	out = append(out, rows...)
	return append(out, end)
}

// pair connects a backend.Conn over loopback TCP to a fake server that
// sends packets (each one logical packet, sequence ids counting from 1),
// then the sentinel, and collects what the conn writes back.
func pair(t *testing.T, packets [][]byte) (*backend.Conn, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	written := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(written)
			return
		}
		defer c.Close()
		w := wire.NewConn(c, 1<<10, 1<<10)
		seq := byte(1)
		for _, p := range append(packets, sentinel) {
			seq, _ = w.Write(p, seq)
		}
		_ = w.Flush()
		back, _ := io.ReadAll(c)
		written <- back
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &backend.Conn{Conn: wire.NewConn(nc, 1<<10, 1<<10)}, written
}

// TestDiscardAnswer: a dropped answer is read to its exact end, whatever
// its shape, so the connection stays in step (the next packet read is the
// sentinel); an answer that cannot be ended by reading is an error.
func TestDiscardAnswer(t *testing.T) {
	bigRow := textRow(string(bytes.Repeat([]byte{'x'}, 200)), "1")
	for _, tc := range []struct {
		name    string
		cmd     byte
		packets [][]byte
		fails   bool
	}{
		{"OK", mysql.COM_QUERY, [][]byte{okPkt}, false},
		{"ERR", mysql.COM_QUERY, [][]byte{errPkt}, false},
		{"rows", mysql.COM_QUERY, resultSet(eofPkt, textRow("1", "a"), bigRow, textRow("3", "c")), false},
		{"no rows", mysql.COM_QUERY, resultSet(eofPkt), false},
		{"rows cut by an ERR", mysql.COM_QUERY, resultSet(errPkt, textRow("1", "a")), false},
		{"two results then OK", mysql.COM_QUERY, append(append(resultSet(eofMorePkt, textRow("1", "a")), resultSet(eofMorePkt)...), okPkt), false},
		{"OK with more results, then rows", mysql.COM_QUERY, append([][]byte{okMorePkt}, resultSet(eofPkt, textRow("1", "a"))...), false},
		{"progress report, then rows", mysql.COM_QUERY, append([][]byte{progressPkt}, resultSet(eofPkt, textRow("1", "a"))...), false},
		{"binary rows of an execute", mysql.COM_STMT_EXECUTE, resultSet(eofPkt, []byte{0, 0, 1, 'a', 1, 'b'}), false},
		{"a LOCAL INFILE request", mysql.COM_QUERY, [][]byte{{0xfb, 'f'}}, true},
		{"a cursor left open", mysql.COM_STMT_EXECUTE, [][]byte{{2}, colDef, colDef, eofCursor}, true},
		{"prepare ERR", mysql.COM_STMT_PREPARE, [][]byte{errPkt}, false},
		{"prepare OK, 1 parameter, 2 columns", mysql.COM_STMT_PREPARE,
			[][]byte{{0, 7, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0}, colDef, eofPkt, colDef, colDef, eofPkt}, false},
		{"prepare OK, nothing", mysql.COM_STMT_PREPARE, [][]byte{{0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, written := pair(t, tc.packets)
			err := discardAnswer(conn, tc.cmd)
			if tc.fails {
				if err == nil {
					t.Fatal("dropped an answer it cannot end")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := conn.ReadSmall()
			if err != nil || !bytes.Equal(p, sentinel) {
				t.Fatalf("after the answer: %q, %v; want the sentinel", p, err)
			}
			conn.Conn.Conn.Close()
			back := <-written
			if tc.cmd == mysql.COM_STMT_PREPARE && tc.packets[0][0] == 0 {
				want := []byte{5, 0, 0, 0, mysql.COM_STMT_CLOSE, 7, 0, 0, 0}
				if !bytes.Equal(back, want) {
					t.Fatalf("after a dropped prepare the conn wrote %x, want the statement closed (%x)", back, want)
				}
			} else if len(back) != 0 {
				t.Fatalf("the conn wrote %x", back)
			}
		})
	}
}

// TestReadWaitAnswer: the wait's result and the applied position, per
// flavor; a failed wait (ERR) did not reach its position.
func TestReadWaitAnswer(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	maria, my := gtid.DialectOf(gtid.MariaDB), gtid.DialectOf(gtid.MySQL)
	for _, tc := range []struct {
		name    string
		d       gtid.Dialect
		packets [][]byte
		reached bool
		at      string
	}{
		{"mariadb reached", maria, resultSet(eofPkt, textRow("0", "0-1-42")), true, "0-1-42"},
		{"mariadb timed out", maria, resultSet(eofPkt, textRow("-1", "0-1-40")), false, "0-1-40"},
		{"mysql reached", my, resultSet(eofPkt, textRow("0", uuid+":1-9")), true, uuid + ":1-9"},
		{"mysql timed out", my, resultSet(eofPkt, textRow("1", uuid+":1-7")), false, uuid + ":1-7"},
		{"NULL", maria, resultSet(eofPkt, []byte{0xfb, 0xfb}), false, ""},
		{"ERR (max_statement_time, KILL QUERY)", maria, [][]byte{errPkt}, false, ""},
		{"ERR after the columns", maria, resultSet(errPkt), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _ := pair(t, tc.packets)
			reached, at, err := readWaitAnswer(conn, tc.d)
			if err != nil || reached != tc.reached || at != tc.at {
				t.Fatalf("= %v %q %v, want %v %q", reached, at, err, tc.reached, tc.at)
			}
			if p, err := conn.ReadSmall(); err != nil || !bytes.Equal(p, sentinel) {
				t.Fatalf("after the answer: %q, %v; want the sentinel", p, err)
			}
		})
	}
}
