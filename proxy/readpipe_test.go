package proxy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// pipelined scrapes switchyard_pipelined_reads_total{result}.
func pipelined(t *testing.T, s *testenv.Switchyard, result string) float64 {
	t.Helper()
	m, err := testenv.ScrapeMetrics(context.Background(), s.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	return m.Value("switchyard_pipelined_reads_total", "result", result)
}

// untilPipelined runs query on c until the proxy answers it on a pipelined
// connection (the shape must first run quickly on connections of its own,
// and under consistency global the replicas must be known to have the
// writes before it), bounded in time and count.
func untilPipelined(t *testing.T, s *testenv.Switchyard, c *sql.Conn, query string, args ...any) {
	t.Helper()
	before := pipelined(t, s, "answered")
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		rows, err := c.QueryContext(context.Background(), query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for rows.Next() {
		}
		rows.Close()
		if i%5 == 4 && pipelined(t, s, "answered") > before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s was never answered on a pipelined connection", query)
}

// TestPipelinedReadsReachTheirOwnClient: many clients in two databases
// read rows of their own at once, text protocol, through pipelined
// connections: every answer must be the one to the client's own statement
// in the client's own database (an answer handed to the wrong read, or a
// connection shared across databases, fails here).
func TestPipelinedReadsReachTheirOwnClient(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "")
	admin := open(t, s.Addr, "")
	mustExec(t, admin, "CREATE DATABASE IF NOT EXISTS pipe_other")
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS pipe_other") })
	for _, db := range []string{"test", "pipe_other"} {
		mustExec(t, admin, "DROP TABLE IF EXISTS "+db+".pipe_rows")
		mustExec(t, admin, "CREATE TABLE "+db+".pipe_rows (id INT PRIMARY KEY, v VARCHAR(40))")
		mustExec(t, admin, "INSERT INTO "+db+".pipe_rows SELECT seq, CONCAT('"+db+"-', seq) FROM seq_1_to_500")
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP TABLE IF EXISTS test.pipe_rows") })
	const query = "SELECT id, v FROM pipe_rows WHERE id = ?"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, db := range []string{"test", "pipe_other"} {
		h, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/%s?interpolateParams=true", s.Addr, db))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, err := h.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		untilPipelined(t, s, c, query, 1)
		c.Close()
	}
	before := pipelined(t, s, "answered")

	const clients, reads = 32, 300
	eachClient(t, clients, func(i int) error {
		db := []string{"test", "pipe_other"}[i%2]
		h, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/%s?interpolateParams=true", s.Addr, db))
		if err != nil {
			return err
		}
		defer h.Close()
		c, err := h.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		for n := range reads {
			id := 1 + (i*reads+n*7)%500
			var gotID int
			var v string
			if err := c.QueryRowContext(ctx, query, id).Scan(&gotID, &v); err != nil {
				return fmt.Errorf("client %d read %d: %w", i, n, err)
			}
			if want := fmt.Sprintf("%s-%d", db, id); gotID != id || v != want {
				return fmt.Errorf("client %d (database %s) asked for id %d and got %d %q, want %q", i, db, id, gotID, v, want)
			}
		}
		return nil
	})
	wantMostPipelined(t, s, before, clients*reads)
}

// eachClient runs client(i) for i in [0, n) at once and fails the test
// with their errors.
func eachClient(t *testing.T, n int, client func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := client(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// wantMostPipelined: most of the reads since before were answered on
// pipelined connections.
func wantMostPipelined(t *testing.T, s *testenv.Switchyard, before float64, reads int) {
	t.Helper()
	answered := pipelined(t, s, "answered") - before
	if answered < float64(reads)/2 {
		t.Errorf("%v of %d reads were answered on pipelined connections, want most", answered, reads)
	}
	t.Logf("%v of %d reads pipelined", answered, reads)
}

// textConn is one client connection to s, text protocol, and a context
// bounding the test's statements to a minute.
func textConn(t *testing.T, s *testenv.Switchyard) (context.Context, *sql.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	c, err := open(t, s.Addr, "interpolateParams=true").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ctx, c
}

// TestPipelinedReadKeepsDiagnostics: a pipelined read whose answer has
// warnings or an error runs again on a connection of the client's own,
// so that the client gets the same answer and SHOW WARNINGS sees them,
// as directly.
func TestPipelinedReadKeepsDiagnostics(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "")
	ctx, c := textConn(t, s)
	showWarnings := func() []string {
		rows, err := c.QueryContext(ctx, "SHOW WARNINGS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var level, msg string
			var code int
			if err := rows.Scan(&level, &code, &msg); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %d", level, code))
		}
		return got
	}

	untilPipelined(t, s, c, "SELECT CAST(? AS SIGNED)", "12")
	rerun := pipelined(t, s, "rerun")
	var n int64
	if err := c.QueryRowContext(ctx, "SELECT CAST(? AS SIGNED)", "12abc").Scan(&n); err != nil || n != 12 {
		t.Fatalf("SELECT CAST('12abc' AS SIGNED): %d, %v; want 12", n, err)
	}
	if got := showWarnings(); len(got) != 1 || got[0] != "Warning 1292" {
		t.Errorf("SHOW WARNINGS after a read with a warning: %q, want [Warning 1292]", got)
	}
	if pipelined(t, s, "rerun") <= rerun {
		t.Error("the read with a warning was not sent on a pipelined connection first (the test proves nothing)")
	}

	untilPipelined(t, s, c, "SELECT EXP(?)", 1)
	rerun = pipelined(t, s, "rerun")
	var f float64
	err := c.QueryRowContext(ctx, "SELECT EXP(?)", 1000).Scan(&f)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1690 || string(me.SQLState[:]) != "22003" {
		t.Fatalf("SELECT EXP(1000): %v; want MariaDB's 1690 (22003) DOUBLE value is out of range", err)
	}
	if got := showWarnings(); len(got) != 1 || got[0] != "Error 1690" {
		t.Errorf("SHOW WARNINGS after a read that failed: %q, want [Error 1690]", got)
	}
	if pipelined(t, s, "rerun") <= rerun {
		t.Error("the failing read was not sent on a pipelined connection first (the test proves nothing)")
	}
}

// TestPipelineStallRunsAgain: a read of a quick shape that turns out slow
// holds up the reads behind it on its pipelined connection; after five
// times pool.pipeline_quick the connection is closed, every read on it
// runs again on a connection of its own (answered right), and the shape
// is no longer pipelined.
func TestPipelineStallRunsAgain(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "pool: {pipeline_quick: 20ms}\n")
	ctx, c := textConn(t, s)
	untilPipelined(t, s, c, "SELECT SLEEP(?)", 0)
	failed := pipelined(t, s, "failed")
	start := time.Now()
	var v int
	if err := c.QueryRowContext(ctx, "SELECT SLEEP(?)", 0.5).Scan(&v); err != nil || v != 0 {
		t.Fatalf("SELECT SLEEP(0.5): %d, %v; want 0", v, err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("SELECT SLEEP(0.5) answered in %v: it did not run again after its connection was closed", took)
	}
	if pipelined(t, s, "failed") <= failed {
		t.Error("the slow read was not failed on its pipelined connection")
	}
	m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	if m.Value("switchyard_pipeline_stalls_total") < 1 {
		t.Error("switchyard_pipeline_stalls_total did not count the stall")
	}
	answered := pipelined(t, s, "answered")
	for range 5 {
		if err := c.QueryRowContext(ctx, "SELECT SLEEP(?)", 0).Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	if got := pipelined(t, s, "answered"); got != answered {
		t.Errorf("the shape that stalled was pipelined again at once (%v answered, was %v)", got, answered)
	}
}

// TestPipelinedReadIsGuarded: the pipelined connection carries the READ
// ONLY guard of every replica connection, and pipelining can be turned
// off.
func TestPipelinedReadIsGuarded(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "")
	ctx, c := textConn(t, s)
	const q = "SELECT @@tx_read_only, ?"
	untilPipelined(t, s, c, q, 1)
	answered := pipelined(t, s, "answered")
	var ro, one int
	if err := c.QueryRowContext(ctx, q, 1).Scan(&ro, &one); err != nil || ro != 1 {
		t.Fatalf("%s on a pipelined connection: %d, %v; want 1 (the READ ONLY guard)", q, ro, err)
	}
	if pipelined(t, s, "answered") <= answered {
		t.Error("the read was not answered on a pipelined connection")
	}

	off := topo.Proxy(t, "pool: {pipeline_connections: 0}\n")
	odb := open(t, off.Addr, "interpolateParams=true")
	for i := range 20 {
		if _, err := odb.ExecContext(ctx, "SELECT ?", i); err != nil && !strings.Contains(err.Error(), "no rows") {
			t.Fatal(err)
		}
	}
	if got := pipelined(t, off, "answered"); got != 0 {
		t.Errorf("pool.pipeline_connections: 0 still pipelined %v reads", got)
	}
}

// TestPipelinedExecutes: prepared statements (binary protocol) executed
// by many clients at once are pipelined too: each client gets the row it
// asked for, and the statement is prepared once per pipelined connection.
func TestPipelinedExecutes(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "")
	admin := open(t, s.Addr, "")
	mustExec(t, admin, "DROP TABLE IF EXISTS pipe_exec")
	mustExec(t, admin, "CREATE TABLE pipe_exec (id INT PRIMARY KEY, v VARCHAR(40), d DOUBLE)")
	mustExec(t, admin, "INSERT INTO pipe_exec SELECT seq, CONCAT('row-', seq), seq / 4 FROM seq_1_to_300")
	t.Cleanup(func() { _, _ = admin.Exec("DROP TABLE IF EXISTS pipe_exec") })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := open(t, s.Addr, "") // no interpolation: COM_STMT_PREPARE and COM_STMT_EXECUTE
	const query = "SELECT id, v, d FROM pipe_exec WHERE id = ? AND v LIKE ?"
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	untilPipelined(t, s, c, query, 1, "row-%")
	c.Close()
	before := pipelined(t, s, "answered")

	const clients, reads = 16, 200
	eachClient(t, clients, func(i int) error {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		var stmt *sql.Stmt
		if i%2 == 0 { // half prepare once, half on every query (as database/sql does)
			if stmt, err = c.PrepareContext(ctx, query); err != nil {
				return err
			}
			defer stmt.Close()
		}
		for n := range reads {
			id := 1 + (i*reads+n*11)%300
			var row *sql.Row
			if stmt != nil {
				row = stmt.QueryRowContext(ctx, id, "row-%")
			} else {
				row = c.QueryRowContext(ctx, query, id, "row-%")
			}
			var gotID int
			var v string
			var d float64
			if err := row.Scan(&gotID, &v, &d); err != nil {
				return fmt.Errorf("client %d read %d: %w", i, n, err)
			}
			if gotID != id || v != fmt.Sprintf("row-%d", id) || d != float64(id)/4 {
				return fmt.Errorf("client %d asked for id %d and got %d %q %v", i, id, gotID, v, d)
			}
		}
		return nil
	})
	wantMostPipelined(t, s, before, clients*reads)
}

// TestPipelinedReadKilled: KILL QUERY of a session whose read is on a
// pipelined connection (no connection of its own to kill yet) is not lost
// when that read stalls and would run again: the client gets 1317, as from
// the server, not the read's answer half a second later. The victim is a
// go-mysql client, which knows its connection id from the handshake
// (CONNECTION_ID() would pin the session, which is then never pipelined).
func TestPipelinedReadKilled(t *testing.T) {
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "pool: {pipeline_quick: 20ms}\n")
	victim, err := client.Connect(s.Addr, "app", "app", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	before := pipelined(t, s, "answered")
	for i := 0; i < 200 && pipelined(t, s, "answered") == before; i++ {
		if _, err := victim.Execute("SELECT SLEEP(0)"); err != nil {
			t.Fatal(err)
		}
	}
	if pipelined(t, s, "answered") == before {
		t.Fatal("SELECT SLEEP(0) was never pipelined")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	killer := open(t, s.Addr, "")
	done := make(chan error, 1)
	go func() {
		time.Sleep(30 * time.Millisecond) // the read is on its pipelined connection by now
		_, err := killer.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID()))
		done <- err
	}()
	_, err = victim.Execute("SELECT SLEEP(0.5)")
	if kerr := <-done; kerr != nil {
		t.Fatalf("KILL QUERY: %v", kerr)
	}
	var me *gomysql.MyError
	if !errors.As(err, &me) || me.Code != 1317 || me.State != "70100" {
		t.Fatalf("SELECT SLEEP(0.5) killed while pipelined: %v; want error 1317 (70100) Query execution was interrupted", err)
	}
	r, err := victim.Execute("SELECT 7")
	if err != nil {
		t.Fatalf("the session after the kill: %v", err)
	}
	if v, _ := r.GetInt(0, 0); v != 7 {
		t.Fatalf("the session after the kill answered %d, want 7", v)
	}
}
