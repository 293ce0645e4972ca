package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// Hostile-client tests of the security model (README "Security model"):
// through the proxy a client can do what it could do directly, nothing
// more, and only a wrong credential counts against its address.

// lowPrivUser creates an account with SELECT on test only, on the primary
// (it replicates), and drops it when the test ends.
func lowPrivUser(t *testing.T, topo *testenv.Topo, name string) {
	t.Helper()
	root := topo.DB(t, topo.Primary, "root", "", "")
	mustExec(t, root, fmt.Sprintf("CREATE OR REPLACE USER '%s'@'%%' IDENTIFIED BY '%s'", name, name))
	mustExec(t, root, fmt.Sprintf("GRANT SELECT ON test.* TO '%s'@'%%'", name))
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name)) })
}

// dialFrom connects from a given loopback source address, so that the
// proxy counts its logins against that address, and returns the first
// packet: the greeting, or an ERR when the proxy refuses at once.
func dialFrom(t *testing.T, addr, from string) (*rawClient, []byte) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{t: t, nc: nc, r: bufio.NewReader(nc)}
	first := c.read("the greeting")
	if first[0] != gomysql.ERR_HEADER {
		c.scramble = greetingScramble(t, first)
	}
	return c, first
}

// greetingID is the connection id of a HandshakeV10 packet.
func greetingID(g []byte) uint32 {
	end := bytes.IndexByte(g[1:], 0) + 1 // the server version's NUL
	return binary.LittleEndian.Uint32(g[end+1 : end+5])
}

// loginFrom logs in from source address from and returns the answer's
// error code (0 for OK), the connection and the greeting's connection id.
func loginFrom(t *testing.T, addr, from, user, password string) (uint16, *rawClient, uint32) {
	t.Helper()
	c, first := dialFrom(t, addr, from)
	if first[0] == gomysql.ERR_HEADER { // refused before the handshake (1129, 1040)
		return binary.LittleEndian.Uint16(first[1:3]), nil, 0
	}
	if _, err := c.nc.Write(packet(1, c.handshakeResponse(user, password, "test"))); err != nil {
		t.Fatal(err)
	}
	return c.errCode("the login's answer"), c, greetingID(first)
}

// errCode reads a one-packet answer and returns its error code, 0 for OK.
func (c *rawClient) errCode(what string) uint16 {
	c.t.Helper()
	p := c.read(what)
	switch p[0] {
	case gomysql.OK_HEADER:
		return 0
	case gomysql.ERR_HEADER:
		return binary.LittleEndian.Uint16(p[1:3])
	}
	c.t.Fatalf("%s: %q, want OK or ERR", what, p)
	return 0
}

// processKill sends COM_PROCESS_KILL (the C API's mysql_kill, PyMySQL's
// kill) and returns the answer's error code.
func (c *rawClient) processKill(id uint32) uint16 {
	c.t.Helper()
	if _, err := c.nc.Write(packet(0, binary.LittleEndian.AppendUint32([]byte{gomysql.COM_PROCESS_KILL}, id))); err != nil {
		c.t.Fatal(err)
	}
	return c.errCode("the answer to COM_PROCESS_KILL")
}

// exec sends a COM_QUERY that returns no rows and returns its error code.
func (c *rawClient) exec(sql string) uint16 {
	c.t.Helper()
	if _, err := c.nc.Write(packet(0, append([]byte{gomysql.COM_QUERY}, sql...))); err != nil {
		c.t.Fatal(err)
	}
	return c.errCode(sql)
}

func connectionID(t *testing.T, c *sql.Conn) uint32 {
	t.Helper()
	var id uint32
	if err := c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func threadAlive(t *testing.T, root *sql.DB, id uint32) bool {
	t.Helper()
	var n int
	if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestKillRunsAsTheClient: a low-privilege account tries every KILL form,
// by COM_QUERY and COM_PROCESS_KILL, on another user's connection and on a
// replica's Binlog Dump thread: each gets the server's 1095, as it would
// directly, and nothing is killed. Its own connection it may kill.
func TestKillRunsAsTheClient(t *testing.T) {
	topo := testenv.Topology(t)
	lowPrivUser(t, topo, "lowkill")
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "  - {name: app, password: app}\n", "  - {name: app, password: app}\n  - {name: lowkill, password: lowkill}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	ctx := context.Background()
	root := topo.DB(t, topo.Primary, "root", "", "")

	victimDB := topo.DB(t, topo.Primary, "app", "app", "test")
	victim, err := victimDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	victimID := connectionID(t, victim)
	var dumpID uint32
	if err := root.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' LIMIT 1").Scan(&dumpID); err != nil {
		t.Fatalf("no Binlog Dump thread on the primary: %v", err)
	}

	code, c, _ := loginFrom(t, s.Addr, "127.0.0.1", "lowkill", "lowkill")
	if code != 0 {
		t.Fatalf("login as lowkill: error %d", code)
	}
	for _, id := range []uint32{victimID, dumpID} {
		if got := c.processKill(id); got != gomysql.ER_KILL_DENIED_ERROR {
			t.Errorf("COM_PROCESS_KILL %d by a low-privilege account: error %d, want 1095", id, got)
		}
		for _, form := range []string{"KILL %d", "KILL CONNECTION %d", "KILL QUERY %d", "KILL HARD %d", "KILL SOFT QUERY %d", "  kill  connection  %d ;"} {
			q := fmt.Sprintf(form, id)
			if got := c.exec(q); got != gomysql.ER_KILL_DENIED_ERROR {
				t.Errorf("%s by a low-privilege account: error %d, want 1095", q, got)
			}
		}
	}
	if err := victim.PingContext(ctx); err != nil {
		t.Errorf("another user's connection was killed by a low-privilege account through the proxy: %v", err)
	}
	if !threadAlive(t, root, dumpID) {
		t.Errorf("a replica's Binlog Dump thread %d was killed by a low-privilege account through the proxy", dumpID)
	}

	// Its own thread (directly on the primary) it may kill, by either form.
	own := topo.DB(t, topo.Primary, "lowkill", "lowkill", "test")
	for _, byQuery := range []bool{false, true} {
		oc, err := own.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := connectionID(t, oc)
		got := uint16(0)
		if byQuery {
			got = c.exec(fmt.Sprintf("KILL %d", id))
		} else {
			got = c.processKill(id)
		}
		if got != 0 {
			t.Errorf("kill of its own thread %d (by query: %v): error %d, want OK", id, byQuery, got)
		}
		if threadAlive(t, root, id) {
			t.Errorf("its own thread %d survived the kill (by query: %v)", id, byQuery)
		}
		oc.Close()
	}
	if got := c.processKill(4000000000); got != gomysql.ER_NO_SUCH_THREAD {
		t.Errorf("COM_PROCESS_KILL of an unknown id: error %d, want 1094", got)
	}
}

// Proxy connection ids (the handshake's, what KILL names) are allocated
// from this range, which backend thread ids do not reach in practice
// (proxy/kill.go).
const proxyIDMin, proxyIDMax = 1 << 30, 1<<31 - 1

// TestProxyIDsDoNotCollide: proxy connection ids are taken from a range
// backend thread ids do not reach, so KILL of a backend thread id (read
// with CONNECTION_ID()) kills that thread, never a proxy session. Where the
// backend's thread counter can be brought to a live proxy id (as with the
// old ids, counted from 10001), the collision is built first.
func TestProxyIDsDoNotCollide(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	root := topo.DB(t, topo.Primary, "root", "", "")

	code, victim, proxyID := loginFrom(t, s.Addr, "127.0.0.1", "app", "app")
	if code != 0 {
		t.Fatalf("login: error %d", code)
	}
	if proxyID < proxyIDMin || proxyID > proxyIDMax {
		t.Errorf("proxy connection id %d is outside [%d, %d], where backend thread ids can reach it", proxyID, proxyIDMin, proxyIDMax)
	}
	direct := topo.DB(t, topo.Primary, "app", "app", "test")
	direct.SetMaxIdleConns(0)
	target := threadNear(t, direct, proxyID)
	defer target.Close()
	targetID := connectionID(t, target)
	t.Logf("proxy session %d, backend thread %d", proxyID, targetID)

	_, killer, _ := loginFrom(t, s.Addr, "127.0.0.1", "app", "app")
	if got := killer.exec(fmt.Sprintf("KILL %d", targetID)); got != 0 {
		t.Fatalf("KILL %d of a backend thread: error %d", targetID, got)
	}
	if threadAlive(t, root, targetID) {
		t.Errorf("KILL %d through the proxy left backend thread %d running", targetID, targetID)
	}
	if got := victim.exec("DO 1"); got != 0 {
		t.Errorf("proxy session %d after KILL of backend thread %d: error %d", proxyID, targetID, got)
	}
}

// threadNear opens a direct connection whose thread id is want when the
// server's thread counter can be brought there in a few thousand
// connections, and otherwise any direct connection.
func threadNear(t *testing.T, db *sql.DB, want uint32) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	for range 30000 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := connectionID(t, c)
		if id == want || id > want || want-id > 30000 {
			return c
		}
		c.Close()
	}
	t.Fatalf("the server's thread ids did not reach %d", want)
	return nil
}
