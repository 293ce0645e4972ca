package proxy_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// These tests compare what a client sees through Switchyard with what the
// server's own session semantics say (issue 13): state set anywhere is
// kept, the default database is exact, diagnostics follow the statement,
// and nothing writes on a replica.

// oneConn returns a single client connection through the shared proxy.
func oneConn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func queryString(t *testing.T, c *sql.Conn, q string) sql.NullString {
	t.Helper()
	var v sql.NullString
	if err := c.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// TestNoDefaultDatabaseIsExact: a session without a default database sees
// none, even on pooled connections that other sessions gave one.
func TestNoDefaultDatabaseIsExact(t *testing.T) {
	p := sharedProxy(t)
	withDB := open(t, p.Addr, "")
	for range 8 {
		mustExec(t, withDB, "DO 1")
		var s string
		if err := withDB.QueryRow("SELECT DATABASE()").Scan(&s); err != nil || s != "test" {
			t.Fatalf("DATABASE() with test: %q %v", s, err)
		}
	}
	noDB, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/", p.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer noDB.Close()
	for i := range 16 {
		var v sql.NullString
		q := "SELECT DATABASE()"
		if i%2 == 1 {
			q = "/* switchyard: primary */ SELECT DATABASE()"
		}
		if err := noDB.QueryRow(q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v.Valid {
			t.Fatalf("%s in a session without a database = %q, want NULL", q, v.String)
		}
	}
}

// TestStateSetInsideMultiStatementsAndProcedures: a user variable set by
// a multi-statement that fails later, or inside a stored procedure, is
// there for the next statement, as the server reports it changed.
func TestStateSetInsideMultiStatementsAndProcedures(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "multiStatements=true")
	c := oneConn(t, db)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "SET @v := 5; SELECT 1; SELEC 2; SELECT 3"); err == nil {
		t.Fatal("a multi-statement with a syntax error succeeded")
	}
	if v := queryString(t, c, "SELECT @v"); v.String != "5" {
		t.Fatalf("@v after the multi-statement = %v, want 5", v)
	}

	mustExec(t, db, "DROP PROCEDURE IF EXISTS set_query")
	mustExec(t, db, "CREATE PROCEDURE set_query(q TEXT) BEGIN SET @query = REPLACE(q, 'x', 'y'); SET SESSION time_zone = '+03:00'; END")
	c2 := oneConn(t, db)
	if _, err := c2.ExecContext(ctx, "CALL set_query('xx')"); err != nil {
		t.Fatal(err)
	}
	for range 4 { // reads that would go to replicas
		if v := queryString(t, c2, "SELECT @query"); v.String != "yy" {
			t.Fatalf("@query after CALL = %v, want yy", v)
		}
		if v := queryString(t, c2, "SELECT @@session.time_zone"); v.String != "+03:00" {
			t.Fatalf("time_zone after CALL = %v, want +03:00", v)
		}
	}
}

// TestLargeStatementStateIsKept: a statement too large to classify still
// reports what it changed (a 2 MiB user variable), and the session keeps it.
func TestLargeStatementStateIsKept(t *testing.T) {
	p := sharedProxy(t)
	c := oneConn(t, open(t, p.Addr, ""))
	big := strings.Repeat("a", 2<<20)
	if _, err := c.ExecContext(context.Background(), "SET @big = '"+big+"'"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v := queryString(t, c, "SELECT LENGTH(@big)"); v.String != fmt.Sprint(len(big)) {
			t.Fatalf("LENGTH(@big) = %v, want %d", v, len(big))
		}
	}
	// Another session on the same pools never sees it.
	other := oneConn(t, open(t, p.Addr, ""))
	for range 8 {
		if v := queryString(t, other, "/* switchyard: primary */ SELECT LENGTH(@big)"); v.Valid {
			t.Fatalf("another session sees @big of length %s", v.String)
		}
	}
}

// TestDiagnosticsFollowTheStatement: SHOW WARNINGS and friends read the
// diagnostics of the session's previous statement, wherever it ran.
func TestDiagnosticsFollowTheStatement(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	compare := func(t *testing.T, c *sql.Conn) []string {
		t.Helper()
		ctx := context.Background()
		var got []string
		if _, err := c.ExecContext(ctx, "SELECT CAST('abc' AS SIGNED)"); err != nil {
			t.Fatal(err)
		}
		got = append(got, queryString(t, c, "SHOW COUNT(*) WARNINGS").String)
		var level, msg string
		var code int
		if err := c.QueryRowContext(ctx, "SHOW WARNINGS").Scan(&level, &code, &msg); err != nil {
			t.Fatalf("SHOW WARNINGS: %v", err)
		}
		got = append(got, fmt.Sprint(level, code))
		if _, err := c.ExecContext(ctx, "SELECT * FROM no_such_table_here"); err == nil {
			t.Fatal("no error")
		}
		got = append(got, queryString(t, c, "SELECT @@error_count").String)
		if err := c.QueryRowContext(ctx, "SHOW ERRORS").Scan(&level, &code, &msg); err != nil {
			t.Fatalf("SHOW ERRORS: %v", err)
		}
		got = append(got, fmt.Sprint(level, code))
		return got
	}
	direct := compare(t, oneConn(t, topo.DB(t, topo.Primary, "app", "app", "test")))
	proxied := compare(t, oneConn(t, open(t, p.Addr, "")))
	if strings.Join(direct, ",") != strings.Join(proxied, ",") {
		t.Fatalf("diagnostics through switchyard %v, directly %v", proxied, direct)
	}
}

// TestSessionStatusCountsTheSession: after FLUSH STATUS, the session's own
// status counters count its statements.
func TestSessionStatusCountsTheSession(t *testing.T) {
	p := sharedProxy(t)
	c := oneConn(t, open(t, p.Addr, ""))
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "FLUSH STATUS"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		queryString(t, c, "SELECT 1")
	}
	var name string
	var n int
	if err := c.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_select'").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	if n != 5 && n != 6 { // 6 where the SHOW itself counts
		t.Fatalf("Com_select = %d after FLUSH STATUS and 5 selects", n)
	}
}

// superUser creates an account whose privileges pass read_only (what the
// guards must stop without relying on read_only) and a proxy that serves it.
func superUser(t *testing.T) *testenv.Switchyard {
	t.Helper()
	topo := testenv.Topology(t)
	root := topo.DB(t, topo.Primary, "root", "", "")
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS 'su'@'%' IDENTIFIED BY 'su'",
		"GRANT ALL PRIVILEGES ON *.* TO 'su'@'%' WITH GRANT OPTION",
	} {
		mustExec(t, root, q)
	}
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: su, password: su}\n", 1)
	return testenv.StartSwitchyard(t, yaml, addr, admin, true)
}

// TestNoWriteOnReplicaWhileCursorOpen is the replica write of issue 13: a
// cursor held on a replica, then a DROP TABLE as COM_QUERY, by an account
// that read_only does not stop. The DROP runs on the primary; the cursor
// stays usable; no replica gets a GTID of its own.
func TestNoWriteOnReplicaWhileCursorOpen(t *testing.T) {
	p := superUser(t)
	topo := testenv.Topology(t)
	mustExec(t, topo.DB(t, topo.Primary, "root", "", "test"), "CREATE TABLE IF NOT EXISTS cursor_victim (a INT)")
	waitReplicated(t, topo, "test.cursor_victim")
	c, err := client.Connect(p.Addr, "su", "su", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write, read := packetIO(t, c)
	write(append([]byte{mysql.COM_STMT_PREPARE}, "SELECT seq, @@server_id FROM seq_1_to_5"...))
	ok := read()
	stmt := binary.LittleEndian.Uint32(ok[1:5])
	columns := int(binary.LittleEndian.Uint16(ok[5:7]))
	for range columns + 1 {
		read()
	}
	exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1 /* CURSOR_TYPE_READ_ONLY */, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(exec[1:5], stmt)
	write(exec)
	for range columns + 2 {
		read()
	}
	if _, err := c.Execute("DROP TABLE IF EXISTS cursor_victim"); err != nil {
		t.Fatalf("DROP TABLE while a cursor is open: %v", err)
	}
	var n int
	if err := topo.DB(t, topo.Primary, "root", "", "").QueryRow(
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'test' AND table_name = 'cursor_victim'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the DROP did not run on the primary: %d tables left (%v)", n, err)
	}
	fetch := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 10, 0, 0, 0}
	binary.LittleEndian.PutUint32(fetch[1:5], stmt)
	write(fetch)
	rows := 0
	for {
		b := read()
		if b[0] == mysql.EOF_HEADER && len(b) < 9 {
			break
		}
		rows++
	}
	if rows != 5 {
		t.Fatalf("the cursor gave %d rows after the DROP, want 5", rows)
	}
	reset := []byte{mysql.COM_STMT_RESET, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(reset[1:5], stmt)
	write(reset)
	read()
	assertNoErrantGTIDs(t, topo)
}

// TestReplicaConnectionsAreReadOnly is the second guard: a statement that
// looks like a read but writes (a stored function with side effects) runs
// on a replica, whose connection refuses it with 1792 even for an account
// with every privilege, instead of writing there.
func TestReplicaConnectionsAreReadOnly(t *testing.T) {
	p := superUser(t)
	topo := testenv.Topology(t)
	root := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, root, "DROP FUNCTION IF EXISTS sneaky_write")
	mustExec(t, root, "CREATE FUNCTION sneaky_write() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO sneaky VALUES (1); RETURN 1; END")
	mustExec(t, root, "DROP TABLE IF EXISTS sneaky")
	mustExec(t, root, "CREATE TABLE sneaky (a INT)")
	waitReplicated(t, topo, "test.sneaky") // and the function, created before it
	db, err := sql.Open("mysql", fmt.Sprintf("su:su@tcp(%s)/test", p.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ro int
	if err := db.QueryRow("/* switchyard: replica */ SELECT @@tx_read_only").Scan(&ro); err != nil || ro != 1 {
		t.Fatalf("@@tx_read_only on a replica connection = %d (%v), want 1", ro, err)
	}
	for range 4 {
		_, err = db.Exec("/* switchyard: replica */ SELECT sneaky_write()")
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1792 {
			t.Fatalf("a write on a replica connection: %v, want error 1792", err)
		}
	}
	// A transaction of the client's own still writes, on the primary.
	mustExec(t, db, "SET SESSION TRANSACTION READ WRITE")
	mustExec(t, db, "INSERT INTO sneaky VALUES (2)")
	assertNoErrantGTIDs(t, topo)
}

// assertNoErrantGTIDs fails when a replica holds a GTID of its own server
// id: a write ran there and will stop its replication.
func assertNoErrantGTIDs(t *testing.T, topo *testenv.Topo) {
	t.Helper()
	for _, addr := range []string{topo.Replica1, topo.Replica2} {
		var id int
		var pos string
		if err := topo.DB(t, addr, "root", "", "").QueryRow("SELECT @@server_id, @@gtid_binlog_state").Scan(&id, &pos); err != nil {
			t.Fatal(err)
		}
		for _, g := range strings.Split(pos, ",") {
			if parts := strings.Split(strings.TrimSpace(g), "-"); len(parts) == 3 && parts[1] == fmt.Sprint(id) {
				t.Fatalf("replica %s (server_id %d) has a GTID of its own: %s", addr, id, pos)
			}
		}
	}
}

// TestChangingDatabaseDoesNotPin: USE (COM_INIT_DB, as the mariadb CLI
// sends it) and COM_RESET_CONNECTION report state changes the proxy
// replays; they must not pin the session to its connection.
func TestChangingDatabaseDoesNotPin(t *testing.T) {
	p := sharedProxy(t)
	c, err := client.Connect(p.Addr, "app", "app", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.UseDB("mysql"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Execute("EXPLAIN ROUTE SELECT 1"); err != nil {
		t.Fatal(err)
	} else if holds, _ := r.GetStringByName(0, "session_holds"); holds != "none" {
		t.Fatalf("after COM_INIT_DB the session holds %q, want none", holds)
	}
	if r, err := c.Execute("SELECT DATABASE()"); err != nil {
		t.Fatal(err)
	} else if db, _ := r.GetString(0, 0); db != "mysql" {
		t.Fatalf("DATABASE() = %q after COM_INIT_DB mysql", db)
	}
}
