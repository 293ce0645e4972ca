package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestFirstCommandPipelinedWithHandshake sends the handshake response and
// the first COM_QUERY in one write, as a pipelining connector may: the
// login's OK must come back, then the query's result, not a hang with the
// command lost in the handshake's read buffer.
func TestFirstCommandPipelinedWithHandshake(t *testing.T) {
	c := dialRaw(t, sharedProxy(t).Addr)
	resp := c.handshakeResponse("app", "app", "test")
	both := append(packet(1, resp), packet(0, append([]byte{mysql.COM_QUERY}, "SELECT 'pipelined'"...))...)
	if _, err := c.nc.Write(both); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the login's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("login: %q, want an OK packet", ok)
	}
	if row := c.singleValue(); row != "pipelined" {
		t.Fatalf("row %q, want the pipelined query's", row)
	}
}

// TestChangeUserToHashOnlyUser logs in as one user and switches with
// COM_CHANGE_USER to a user whose config holds only the
// mysql_native_password hash: the proxy checks the password against the
// hash, learns SHA1(password) from the answer, and opens the new user's
// backend connections with it, on the primary and on a replica.
func TestChangeUserToHashOnlyUser(t *testing.T) {
	topo := testenv.Topology(t)
	hash := mysql.EncodePasswordHex(mysql.NativePasswordHash([]byte("app")))
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "{name: app, password: app}",
		fmt.Sprintf("{name: app, password: %q}\n  - {name: repl, password: repl}", hash), 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)

	c := dialRaw(t, s.Addr)
	// No database: repl has no grant on test.
	if _, err := c.nc.Write(packet(1, c.handshakeResponse("repl", "repl", ""))); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the login's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("login as repl: %q, want an OK packet", ok)
	}
	if u := c.query("SELECT CURRENT_USER()"); !strings.HasPrefix(u, "repl@") {
		t.Fatalf("before COM_CHANGE_USER: CURRENT_USER() = %q, want repl", u)
	}

	// COM_CHANGE_USER: user, no auth data (the proxy asks again with a
	// salt of its own), database, collation, plugin.
	change := append([]byte{mysql.COM_CHANGE_USER}, "app\x00"...)
	change = append(change, 0)
	change = append(change, "test\x00"...)
	change = binary.LittleEndian.AppendUint16(change, uint16(mysql.DEFAULT_COLLATION_ID))
	change = append(change, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
	if _, err := c.nc.Write(packet(0, change)); err != nil {
		t.Fatal(err)
	}
	sw := c.read("the auth switch request")
	prefix := "\xfe" + mysql.AUTH_NATIVE_PASSWORD + "\x00"
	if !bytes.HasPrefix(sw, []byte(prefix)) || len(sw) < len(prefix)+20 {
		t.Fatalf("answer to COM_CHANGE_USER: %q, want an auth switch to mysql_native_password", sw)
	}
	salt := sw[len(prefix) : len(prefix)+20]
	if _, err := c.nc.Write(packet(2, mysql.CalcNativePassword(salt, []byte("app")))); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the change's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("COM_CHANGE_USER to the hash-only user: %q, want an OK packet", ok)
	}
	for _, hint := range []string{"primary", "replica"} {
		if u := c.query("/* switchyard: " + hint + " */ SELECT CURRENT_USER()"); u != "app@%" {
			t.Errorf("after COM_CHANGE_USER, on the %s: CURRENT_USER() = %q, want app@%%", hint, u)
		}
	}
}

// rawClient speaks the protocol by hand, for what drivers do not do.
type rawClient struct {
	t        *testing.T
	nc       net.Conn
	r        *bufio.Reader
	scramble []byte // from the greeting
	greeting []byte
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawClient{t: t, nc: nc, r: bufio.NewReader(nc)}
	c.greeting = c.read("the greeting")
	c.scramble = greetingScramble(t, c.greeting)
	return c
}

func (c *rawClient) read(what string) []byte {
	c.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		c.t.Fatalf("reading %s: %v", what, err)
	}
	body := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("reading %s: %v", what, err)
	}
	return body
}

// handshakeResponse is a HandshakeResponse41 for user with password
// (mysql_native_password) and database db ("" for none).
func (c *rawClient) handshakeResponse(user, password, db string) []byte {
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
		mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS)
	resp := binary.LittleEndian.AppendUint32(nil, caps)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, mysql.DEFAULT_COLLATION_ID)
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, user+"\x00"...)
	auth := mysql.CalcNativePassword(c.scramble, []byte(password))
	resp = append(resp, byte(len(auth)))
	resp = append(resp, auth...)
	resp = append(resp, db+"\x00"...)
	return append(resp, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
}

// query runs a statement that returns one value and returns it.
func (c *rawClient) query(sql string) string {
	c.t.Helper()
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, sql...))); err != nil {
		c.t.Fatal(err)
	}
	return c.singleValue()
}

// singleValue reads a result of one column and one row (text protocol,
// EOF packets: the client does not ask for CLIENT_DEPRECATE_EOF).
func (c *rawClient) singleValue() string {
	c.t.Helper()
	if cols := c.read("the column count"); len(cols) != 1 || cols[0] != 1 {
		c.t.Fatalf("column count packet %q, want 1 column", cols)
	}
	c.read("the column definition")
	if eof := c.read("the end of the columns"); eof[0] != mysql.EOF_HEADER {
		c.t.Fatalf("after the column definition: %q, want EOF", eof)
	}
	var row []byte
	for {
		p := c.read("the rows")
		if p[0] == mysql.EOF_HEADER && len(p) < 9 {
			break
		}
		row = p
	}
	if len(row) == 0 || int(row[0]) != len(row)-1 {
		c.t.Fatalf("row %q, want one short text value", row)
	}
	return string(row[1:])
}

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
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
