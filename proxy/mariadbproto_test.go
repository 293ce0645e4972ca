package proxy_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// MariaDB's extended capability flags (bits 32-63), as sent in the last 4
// reserved bytes of the handshake packets.
const (
	extProgress uint32 = 1 << 0
	extBulk     uint32 = 1 << 2
)

// greetingExt returns the capability flags of a HandshakeV10 payload and
// MariaDB's extended flags (0 when CLIENT_MYSQL is set).
func greetingExt(g []byte) (caps, ext uint32) {
	pos := bytes.IndexByte(g[1:], 0) + 2 + 4 + 8 + 1 // version NUL, connection id, scramble 1, filler
	caps = uint32(binary.LittleEndian.Uint16(g[pos:])) | uint32(binary.LittleEndian.Uint16(g[pos+5:]))<<16
	if caps&mysql.CLIENT_LONG_PASSWORD == 0 {
		ext = binary.LittleEndian.Uint32(g[pos+14:])
	}
	return caps, ext
}

// loginMariaDB logs c in as a MariaDB client asking for the extended flags
// ext (CLIENT_MYSQL unset, the flags in the reserved bytes).
func (c *rawClient) loginMariaDB(user, password, db string, ext uint32) {
	c.t.Helper()
	resp := c.handshakeResponse(user, password, db)
	caps := binary.LittleEndian.Uint32(resp) &^ mysql.CLIENT_LONG_PASSWORD
	binary.LittleEndian.PutUint32(resp, caps)
	binary.LittleEndian.PutUint32(resp[28:], ext)
	if _, err := c.nc.Write(packet(1, resp)); err != nil {
		c.t.Fatal(err)
	}
	if ok := c.read("the login's answer"); ok[0] != mysql.OK_HEADER {
		c.t.Fatalf("login as %s: %q, want OK", user, ok)
	}
}

// prepare prepares sql and returns the statement id, reading the
// parameter and column definitions.
func (c *rawClient) prepare(sql string) uint32 {
	c.t.Helper()
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_STMT_PREPARE}, sql...))); err != nil {
		c.t.Fatal(err)
	}
	return c.readPrepareOK(sql)
}

func (c *rawClient) readPrepareOK(sql string) uint32 {
	c.t.Helper()
	ok := c.read("the prepare answer")
	if ok[0] != mysql.OK_HEADER || len(ok) < 9 {
		c.t.Fatalf("prepare %q: %q, want a prepare OK", sql, ok)
	}
	columns, params := binary.LittleEndian.Uint16(ok[5:]), binary.LittleEndian.Uint16(ok[7:])
	for _, n := range []uint16{params, columns} {
		if n > 0 {
			for range n + 1 {
				c.read("a definition")
			}
		}
	}
	return binary.LittleEndian.Uint32(ok[1:])
}

// resultRows reads a result set (EOF dialect) and returns its rows' payloads.
func (c *rawClient) resultRows(what string) [][]byte {
	c.t.Helper()
	first := c.read(what)
	if first[0] == mysql.ERR_HEADER || first[0] == mysql.OK_HEADER {
		c.t.Fatalf("%s: %q, want a result set", what, first)
	}
	for {
		if p := c.read("column definitions"); p[0] == mysql.EOF_HEADER && len(p) < 9 {
			break
		}
	}
	var rows [][]byte
	for {
		p := c.read("rows")
		if p[0] == mysql.EOF_HEADER && len(p) < 9 {
			return rows
		}
		rows = append(rows, p)
	}
}

// bulkPacket is a COM_STMT_BULK_EXECUTE of stmt for rows of (INT, VARCHAR),
// with the parameter types.
func bulkPacket(stmt uint32, ids []int32, vals []string) []byte {
	p := []byte{0xFA}
	p = binary.LittleEndian.AppendUint32(p, stmt)
	p = binary.LittleEndian.AppendUint16(p, 128) // STMT_BULK_FLAG_CLIENT_SEND_TYPES
	p = append(p, mysql.MYSQL_TYPE_LONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0)
	for i := range ids {
		p = append(p, 0) // STMT_INDICATOR_NONE
		p = binary.LittleEndian.AppendUint32(p, uint32(ids[i]))
		p = append(p, 0, byte(len(vals[i])))
		p = append(p, vals[i]...)
	}
	return p
}

// TestBulkExecute runs COM_STMT_BULK_EXECUTE (array binding) through the
// proxy: the proxy offers MARIADB_CLIENT_STMT_BULK_OPERATIONS in front of
// MariaDB, the rows land on the primary, and RETURNING's result set comes
// back whole.
func TestBulkExecute(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	direct := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "DROP TABLE IF EXISTS bulk_t")
	mustExec(t, direct, "CREATE TABLE bulk_t (id INT PRIMARY KEY, v VARCHAR(10))")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS bulk_t") })

	c := dialRaw(t, p.Addr)
	caps, ext := greetingExt(c.greeting)
	if caps&mysql.CLIENT_LONG_PASSWORD != 0 || ext&(extBulk|extProgress) != extBulk|extProgress {
		t.Fatalf("greeting: flags %#x, extended %#x; want CLIENT_MYSQL unset and bulk operations and progress offered", caps, ext)
	}
	c.loginMariaDB("app", "app", "test", extBulk)

	ins := c.prepare("INSERT INTO bulk_t VALUES (?, ?)")
	if _, err := c.nc.Write(packet(0, bulkPacket(ins, []int32{1, 2, 3}, []string{"a", "b", "c"}))); err != nil {
		t.Fatal(err)
	}
	ok := c.read("the bulk insert's answer")
	if ok[0] != mysql.OK_HEADER || ok[1] != 3 {
		t.Fatalf("bulk insert of 3 rows: %q, want OK with 3 affected rows", ok)
	}

	ret := c.prepare("INSERT INTO bulk_t VALUES (?, ?) RETURNING id, v")
	before := primarySeq(t, direct)
	if _, err := c.nc.Write(packet(0, bulkPacket(ret, []int32{4, 5}, []string{"d", "e"}))); err != nil {
		t.Fatal(err)
	}
	if rows := c.resultRows("the bulk insert's RETURNING"); len(rows) != 2 {
		t.Fatalf("RETURNING of a 2-row bulk insert: %d rows, want 2", len(rows))
	}
	// Its answer is a result set, whose EOF carries no GTID: the proxy
	// must still know it, for the session's next read.
	after := primarySeq(t, direct)
	row := c.queryRow("EXPLAIN ROUTE /* switchyard: consistency=session */ SELECT * FROM bulk_t")
	need := row[9] // needs_gtid
	var seq uint64
	if _, err := fmt.Sscanf(need[strings.LastIndexByte(need, '-')+1:], "%d", &seq); err != nil || seq <= before || seq > after {
		t.Fatalf("after a bulk insert with RETURNING the session's next read needs GTID %q; want the write's, after sequence %d and up to %d", need, before, after)
	}
	if n := c.query("SELECT COUNT(*) FROM bulk_t"); n != "5" {
		t.Fatalf("after the bulk inserts: %s rows through the proxy, want 5", n)
	}
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM bulk_t").Scan(&n); err != nil || n != 5 {
		t.Fatalf("on the primary: %d rows (%v), want 5", n, err)
	}
}

// TestExecuteLastPrepared sends COM_STMT_PREPARE and a COM_STMT_EXECUTE of
// statement id 0xFFFFFFFF in one write, as mariadb_stmt_execute_direct
// does: the execute runs the statement just prepared.
func TestExecuteLastPrepared(t *testing.T) {
	p := sharedProxy(t)
	c := dialRaw(t, p.Addr)
	c.loginMariaDB("app", "app", "test", extBulk)
	prep := packet(0, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT 42"...))
	exec := packet(0, []byte{mysql.COM_STMT_EXECUTE, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0, 0})
	if _, err := c.nc.Write(append(prep, exec...)); err != nil {
		t.Fatal(err)
	}
	c.readPrepareOK("SELECT 42")
	if rows := c.resultRows("the execute of statement -1"); len(rows) != 1 {
		t.Fatalf("execute of the last prepared statement: %d rows, want 1", len(rows))
	}
}

// TestChangeUserRefusedKeepsSession: a COM_CHANGE_USER answered with the
// handshake's scramble logs in at once; a refused one leaves the
// connection open and logged in as before (1045), as on MariaDB; after
// three refusals every further one gets 1047.
func TestChangeUserRefusedKeepsSession(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: repl, password: repl}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	c := dialRaw(t, s.Addr)
	c.loginMariaDB("app", "app", "test", 0)

	changeUser := func(user, password string) []byte {
		b := append([]byte{mysql.COM_CHANGE_USER}, user+"\x00"...)
		auth := mysql.CalcNativePassword(c.scramble, []byte(password))
		b = append(append(b, byte(len(auth))), auth...)
		b = append(b, 0) // no database
		b = binary.LittleEndian.AppendUint16(b, uint16(mysql.DEFAULT_COLLATION_ID))
		b = append(b, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
		if _, err := c.nc.Write(packet(0, b)); err != nil {
			t.Fatal(err)
		}
		return c.read("the change's answer")
	}
	if ok := changeUser("repl", "repl"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("COM_CHANGE_USER with the handshake scramble: %q, want OK at once", ok)
	}
	if u := c.query("SELECT CURRENT_USER()"); u != "repl@%" {
		t.Fatalf("after the change: CURRENT_USER() = %q, want repl@%%", u)
	}
	for i := range 3 {
		sw := changeUser("app", "wrong")
		if sw[0] != mysql.EOF_HEADER {
			t.Fatalf("wrong password, try %d: %q, want an auth switch", i+1, sw)
		}
		salt := sw[len("\xfe"+mysql.AUTH_NATIVE_PASSWORD+"\x00"):][:20]
		if _, err := c.nc.Write(packet(2, mysql.CalcNativePassword(salt, []byte("wrong")))); err != nil {
			t.Fatal(err)
		}
		if e := c.read("the refusal"); e[0] != mysql.ERR_HEADER || binary.LittleEndian.Uint16(e[1:]) != mysql.ER_ACCESS_DENIED_ERROR {
			t.Fatalf("wrong password, try %d: %q, want 1045", i+1, e)
		}
		if u := c.query("SELECT CURRENT_USER()"); u != "repl@%" {
			t.Fatalf("after refused change %d: CURRENT_USER() = %q, want repl@%% still", i+1, u)
		}
	}
	if e := changeUser("app", "app"); e[0] != mysql.ERR_HEADER || binary.LittleEndian.Uint16(e[1:]) != mysql.ER_UNKNOWN_COM_ERROR {
		t.Fatalf("a fourth COM_CHANGE_USER after three refusals: %q, want 1047", e)
	}
}

// TestLoginSeesGlobalAutocommitOff: while @@global.autocommit is 0, a
// client's handshake OK says autocommit is off, and what it writes without
// COMMIT is rolled back when it disconnects, as directly. A private
// topology: the global setting would leak into other tests.
func TestLoginSeesGlobalAutocommitOff(t *testing.T) {
	topo := testenv.NewTopology(t)
	s := topo.Proxy(t, "")
	direct := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "CREATE TABLE ac_t (id INT PRIMARY KEY)")
	// A pooled connection opened before the change, as in production.
	warm := dialRaw(t, s.Addr)
	warm.loginMariaDB("app", "app", "test", 0)
	mustExec(t, direct, "SET GLOBAL autocommit = 0")

	c := dialRaw(t, s.Addr)
	resp := c.handshakeResponse("app", "app", "test")
	if _, err := c.nc.Write(packet(1, resp)); err != nil {
		t.Fatal(err)
	}
	ok := c.read("the login's answer")
	if ok[0] != mysql.OK_HEADER || len(ok) < 5 {
		t.Fatalf("login: %q, want OK", ok)
	}
	if st := binary.LittleEndian.Uint16(ok[3:]); st&mysql.SERVER_STATUS_AUTOCOMMIT != 0 {
		t.Fatalf("handshake OK status %#x has SERVER_STATUS_AUTOCOMMIT; @@global.autocommit is 0", st)
	}
	if v := c.query("SELECT @@autocommit"); v != "0" {
		t.Fatalf("@@autocommit = %s through the proxy, want 0", v)
	}
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, "INSERT INTO ac_t VALUES (1)"...))); err != nil {
		t.Fatal(err)
	}
	if p := c.read("the insert's answer"); p[0] != mysql.OK_HEADER {
		t.Fatalf("INSERT: %q", p)
	}
	c.nc.Close() // without COMMIT
	mustExec(t, direct, "SET GLOBAL autocommit = 1")
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM ac_t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after the client left without COMMIT: %d (%v), want 0", n, err)
	}
}

// TestChangeUserMovesConnectionCount: COM_CHANGE_USER takes a connection
// slot of the new user (1203 past its max_connections, the session staying
// the old user's) and gives back the old user's.
func TestChangeUserMovesConnectionCount(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: repl, password: repl, max_connections: 1}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)

	changeUser := func(c *rawClient, user, password string) []byte {
		b := append([]byte{mysql.COM_CHANGE_USER}, user+"\x00"...)
		auth := mysql.CalcNativePassword(c.scramble, []byte(password))
		b = append(append(b, byte(len(auth))), auth...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(mysql.DEFAULT_COLLATION_ID))
		b = append(b, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
		if _, err := c.nc.Write(packet(0, b)); err != nil {
			t.Fatal(err)
		}
		return c.read("the change's answer")
	}
	a := dialRaw(t, s.Addr)
	a.loginMariaDB("repl", "repl", "", 0)
	b := dialRaw(t, s.Addr)
	b.loginMariaDB("app", "app", "test", 0)
	if e := changeUser(b, "repl", "repl"); e[0] != mysql.ERR_HEADER || binary.LittleEndian.Uint16(e[1:]) != mysql.ER_TOO_MANY_USER_CONNECTIONS {
		t.Fatalf("change to repl while repl's one connection is in use: %q, want 1203", e)
	}
	if u := b.query("SELECT CURRENT_USER()"); u != "app@%" {
		t.Fatalf("after the refused change: CURRENT_USER() = %q, want app@%%", u)
	}
	if ok := changeUser(a, "app", "app"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("repl's session changes to app: %q, want OK", ok)
	}
	if ok := changeUser(b, "repl", "repl"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("change to repl once its slot is free: %q, want OK", ok)
	}
	if u := b.query("SELECT CURRENT_USER()"); u != "repl@%" {
		t.Fatalf("after the change: CURRENT_USER() = %q, want repl@%%", u)
	}
}

// TestProgressReports: a client that asked for MARIADB_CLIENT_PROGRESS
// gets the server's progress reports of a long ALTER TABLE (ERR header,
// code 0xFFFF) and then its OK; one that did not ask gets the OK alone.
func TestProgressReports(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	direct := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "DROP TABLE IF EXISTS progress_t")
	mustExec(t, direct, "CREATE TABLE progress_t (id INT PRIMARY KEY AUTO_INCREMENT, v CHAR(200))")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS progress_t") })
	mustExec(t, direct, "INSERT INTO progress_t (v) VALUES ('x')")
	for range 18 { // 2^18 rows: a copying ALTER takes more than a second
		mustExec(t, direct, "INSERT INTO progress_t (v) SELECT v FROM progress_t")
	}

	alter := func(ext uint32, column string) (reports int) {
		c := dialRaw(t, p.Addr)
		c.loginMariaDB("app", "app", "test", ext)
		if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, "SET SESSION progress_report_time = 1"...))); err != nil {
			t.Fatal(err)
		}
		if ok := c.read("the SET's answer"); ok[0] != mysql.OK_HEADER {
			t.Fatalf("SET progress_report_time: %q", ok)
		}
		q := "ALTER TABLE progress_t ADD COLUMN " + column + " INT, ALGORITHM=COPY"
		if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, q...))); err != nil {
			t.Fatal(err)
		}
		for {
			p := c.read("the ALTER's answer")
			if len(p) >= 3 && p[0] == mysql.ERR_HEADER && p[1] == 0xFF && p[2] == 0xFF {
				reports++
				continue
			}
			if p[0] != mysql.OK_HEADER {
				t.Fatalf("%s: %q, want OK", q, p)
			}
			return reports
		}
	}
	if n := alter(extProgress, "p1"); n == 0 {
		t.Fatalf("a client that asked for progress reports got none during a copying ALTER TABLE of 2^18 rows")
	}
	if n := alter(0, "p2"); n != 0 {
		t.Fatalf("a client that did not ask for progress reports got %d", n)
	}
}

// primarySeq returns the sequence number of the primary's last GTID.
func primarySeq(t *testing.T, db *sql.DB) uint64 {
	t.Helper()
	var pos string
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	if _, err := fmt.Sscanf(pos[strings.LastIndexByte(pos, '-')+1:], "%d", &seq); err != nil {
		t.Fatalf("gtid_binlog_pos %q: %v", pos, err)
	}
	return seq
}

// queryRow runs a text query and returns the values of its one row.
func (c *rawClient) queryRow(sql string) []string {
	c.t.Helper()
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, sql...))); err != nil {
		c.t.Fatal(err)
	}
	rows := c.resultRows(sql)
	if len(rows) != 1 {
		c.t.Fatalf("%s: %d rows, want 1", sql, len(rows))
	}
	var vals []string
	for r := rows[0]; len(r) > 0; {
		if r[0] == 0xFB { // NULL
			vals, r = append(vals, ""), r[1:]
			continue
		}
		n := int(r[0]) // short values only (< 251 bytes)
		vals, r = append(vals, string(r[1:1+n])), r[1+n:]
	}
	return vals
}

// TestBulkWriteBesideReplicaCursor: while the session holds a replica
// connection for an open cursor, a bulk write runs on the primary beside
// it, never on the replica, and the cursor stays usable.
func TestBulkWriteBesideReplicaCursor(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	direct := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "DROP TABLE IF EXISTS bulk_cursor_t")
	mustExec(t, direct, "CREATE TABLE bulk_cursor_t (id INT PRIMARY KEY, v VARCHAR(10))")
	mustExec(t, direct, "INSERT INTO bulk_cursor_t VALUES (100, 'x'), (101, 'y')")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS bulk_cursor_t") })
	// The cursor's read is eventual: a table made after the rows reaches
	// the replicas after them.
	mustExec(t, direct, "DROP TABLE IF EXISTS bulk_cursor_mark")
	mustExec(t, direct, "CREATE TABLE bulk_cursor_mark (a INT)")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS bulk_cursor_mark") })
	waitReplicated(t, topo, "test.bulk_cursor_mark")

	c := dialRaw(t, p.Addr)
	c.loginMariaDB("app", "app", "test", extBulk)
	sel := c.prepare("/* switchyard: replica, consistency=eventual */ SELECT id FROM bulk_cursor_t")
	exec := []byte{mysql.COM_STMT_EXECUTE}
	exec = binary.LittleEndian.AppendUint32(exec, sel)
	exec = append(exec, 1, 1, 0, 0, 0) // CURSOR_TYPE_READ_ONLY, one iteration
	if _, err := c.nc.Write(packet(0, exec)); err != nil {
		t.Fatal(err)
	}
	if cols := c.read("the cursor's column count"); cols[0] != 1 {
		t.Fatalf("cursor execute: %q, want 1 column", cols)
	}
	c.read("the column definition")
	eof := c.read("the end of the columns")
	if eof[0] != mysql.EOF_HEADER || binary.LittleEndian.Uint16(eof[3:])&mysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
		t.Fatalf("cursor execute: %q, want an EOF saying a cursor is open", eof)
	}
	// ProxyConfig names the servers db1 (the primary), db2, db3.
	if route := c.queryRow("EXPLAIN ROUTE INSERT INTO bulk_cursor_t VALUES (1, 'a')"); route[0] != "db1" {
		t.Fatalf("with a replica cursor open an INSERT would go to %s (%s), want the primary db1", route[0], route[2])
	}
	ins := c.prepare("INSERT INTO bulk_cursor_t VALUES (?, ?)")
	if _, err := c.nc.Write(packet(0, bulkPacket(ins, []int32{1, 2}, []string{"a", "b"}))); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the bulk insert's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("bulk insert while a replica cursor is open: %q, want OK", ok)
	}
	var n int
	if err := direct.QueryRow("SELECT COUNT(*) FROM bulk_cursor_t WHERE id IN (1, 2)").Scan(&n); err != nil || n != 2 {
		t.Fatalf("the bulk insert's rows on the primary: %d (%v), want 2", n, err)
	}
	fetch := []byte{mysql.COM_STMT_FETCH}
	fetch = binary.LittleEndian.AppendUint32(fetch, sel)
	fetch = binary.LittleEndian.AppendUint32(fetch, 10)
	if _, err := c.nc.Write(packet(0, fetch)); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for {
		r := c.read("the cursor's rows")
		if r[0] == mysql.EOF_HEADER && len(r) < 9 {
			break
		}
		if r[0] == mysql.ERR_HEADER {
			t.Fatalf("fetch after the bulk write: %q", r)
		}
		rows++
	}
	if rows != 2 {
		t.Fatalf("the cursor gave %d rows after the bulk write, want 2", rows)
	}
	assertNoErrantGTIDs(t, topo)
}

// TestProxyAnswerAfterFailedMultiStatement: after a multi-statement whose
// second statement fails (its first result said "more results exist"), a
// result the proxy makes itself (EXPLAIN ROUTE) must not say "more
// results": the client would wait for one forever.
func TestProxyAnswerAfterFailedMultiStatement(t *testing.T) {
	p := sharedProxy(t)
	c := dialRaw(t, p.Addr)
	resp := c.handshakeResponse("app", "app", "test")
	caps := binary.LittleEndian.Uint32(resp) | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS
	binary.LittleEndian.PutUint32(resp, caps)
	if _, err := c.nc.Write(packet(1, resp)); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the login's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("login: %q", ok)
	}
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, "SELECT 1; SELEC 2"...))); err != nil {
		t.Fatal(err)
	}
	c.resultRows("SELECT 1")
	if e := c.read("the second statement's error"); e[0] != mysql.ERR_HEADER {
		t.Fatalf("SELEC 2: %q, want ERR", e)
	}
	if _, err := c.nc.Write(packet(0, append([]byte{mysql.COM_QUERY}, "EXPLAIN ROUTE SELECT 1"...))); err != nil {
		t.Fatal(err)
	}
	c.read("the column count")
	for {
		if p := c.read("the column definitions"); p[0] == mysql.EOF_HEADER && len(p) < 9 {
			break
		}
	}
	c.read("the row")
	eof := c.read("the end of the rows")
	if st := binary.LittleEndian.Uint16(eof[3:]); st&mysql.SERVER_MORE_RESULTS_EXISTS != 0 {
		t.Fatalf("EXPLAIN ROUTE's last EOF has status %#x: SERVER_MORE_RESULTS_EXISTS, and no result follows", st)
	}
}
