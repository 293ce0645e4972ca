package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestFirstCommandPipelinedWithHandshake sends the handshake response and
// the first COM_QUERY in one write, as a pipelining connector may: the
// login's OK must come back, then the query's result, not a hang with the
// command lost in the handshake's read buffer.
func TestFirstCommandPipelinedWithHandshake(t *testing.T) {
	p := sharedProxy(t)
	nc, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	readPacket := func(what string) []byte {
		t.Helper()
		var h [4]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("reading %s: %v", what, err)
		}
		body := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatalf("reading %s: %v", what, err)
		}
		return body
	}
	packet := func(seq byte, payload []byte) []byte {
		n := len(payload)
		return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
	}

	scramble := greetingScramble(t, readPacket("the greeting"))
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
		mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS)
	resp := binary.LittleEndian.AppendUint32(nil, caps)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, mysql.DEFAULT_COLLATION_ID)
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, "app\x00"...)
	auth := mysql.CalcNativePassword(scramble, []byte("app"))
	resp = append(resp, byte(len(auth)))
	resp = append(resp, auth...)
	resp = append(resp, "test\x00"...)
	resp = append(resp, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
	both := append(packet(1, resp), packet(0, append([]byte{mysql.COM_QUERY}, "SELECT 'pipelined'"...))...)
	if _, err := nc.Write(both); err != nil {
		t.Fatal(err)
	}

	if ok := readPacket("the login's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("login: %q, want an OK packet", ok)
	}
	if cols := readPacket("the column count"); len(cols) != 1 || cols[0] != 1 {
		t.Fatalf("column count packet %q, want 1 column", cols)
	}
	readPacket("the column definition")
	if eof := readPacket("the end of the columns"); eof[0] != mysql.EOF_HEADER {
		t.Fatalf("after the column definition: %q, want EOF (no CLIENT_DEPRECATE_EOF)", eof)
	}
	var row []byte
	for {
		p := readPacket("the rows")
		if p[0] == mysql.EOF_HEADER && len(p) < 9 {
			break
		}
		row = p
	}
	if !bytes.Equal(row, append([]byte{9}, "pipelined"...)) {
		t.Fatalf("row %q, want the pipelined query's", row)
	}
}

// greetingScramble returns the 20-byte scramble of a HandshakeV10 packet.
func greetingScramble(t *testing.T, g []byte) []byte {
	t.Helper()
	end := bytes.IndexByte(g[1:], 0) + 1 // the server version's NUL
	part1 := g[end+5 : end+13]           // after the NUL and the connection id
	pos := end + 13 + 1 + 2 + 1 + 2 + 2  // filler, caps, charset, status, caps
	pos += 1 + 10                        // auth data length, reserved
	if pos+12 > len(g) {
		t.Fatalf("short greeting %q", g)
	}
	return append(append([]byte{}, part1...), g[pos:pos+12]...)
}
