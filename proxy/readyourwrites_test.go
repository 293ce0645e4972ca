package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestReadAfterCreateDatabaseWaitsBeforeSync is the regression-suite
// pattern of issue 13: one connection drops and creates a database, another
// (whose default database it is) creates a table in it, inserts and reads.
// The read goes to a replica that must first catch up (the replicas are
// held back by a global read lock for a moment), and the session's default
// database does not exist there yet: the replica must wait for the read's
// GTID before it is given the database, not fail the read with 1049
// (Unknown database) or 1146 (Table doesn't exist).
func TestReadAfterCreateDatabaseWaitsBeforeSync(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {gtid_wait: 20s, max_replica_lag: 1h, read_primary_below: 0}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := open(t, p.Addr, "")
	for i := range 3 {
		name := fmt.Sprintf("ryw_%d_%d", time.Now().UnixNano(), i)
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name) })
		unlock := holdReplicas(ctx, t, topo)
		mustExec(t, admin, "DROP DATABASE IF EXISTS "+name)
		mustExec(t, admin, "CREATE DATABASE "+name)
		db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/%s", p.Addr, name))
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "CREATE TABLE t1 (a INT)")
		mustExec(t, db, "INSERT INTO t1 VALUES (1), (2)")
		// The replicas apply nothing until released, after the read
		// was routed and waits there.
		released := make(chan struct{})
		go func() {
			defer close(released)
			time.Sleep(300 * time.Millisecond)
			unlock()
		}()
		var n int
		err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t1").Scan(&n)
		<-released
		db.Close()
		if err != nil || n != 2 {
			t.Fatalf("iteration %d: SELECT COUNT(*) right after CREATE DATABASE, CREATE TABLE and INSERT: %d, %v; want 2", i, n, err)
		}
	}
}

// holdReplicas takes FLUSH TABLES WITH READ LOCK on both replicas, which
// stops their SQL threads from applying anything (they still run, so the
// proxy keeps routing reads there); unlock releases them.
func holdReplicas(ctx context.Context, t *testing.T, topo *testenv.Topo) (unlock func()) {
	t.Helper()
	var conns []*sql.Conn
	for _, addr := range []string{topo.Replica1, topo.Replica2} {
		c, err := topo.DB(t, addr, "root", "", "").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			for _, c := range conns {
				_, _ = c.ExecContext(context.Background(), "UNLOCK TABLES")
				c.Close()
			}
		})
	}
	t.Cleanup(unlock)
	return unlock
}

// TestReadYourWritesAfterSettingSessionTracking: the writes of a session
// that sets session_track_system_variables itself (to track something
// else) are still seen by the reads that follow (consistency global). The
// proxy learns a write's GTID from last_gtid in that list; the client's SET
// replaced it, so a SELECT right after CREATE TABLE and INSERT went to a
// replica that had not applied them (held back here by a global read
// lock): 1146. Once where the proxy replays the SET on the other
// connections the session borrows (its own read), once on the connection
// the SET ran on, which the session holds (pinned by a user variable, so
// never synced again) and reads on: another session's read.
func TestReadYourWritesAfterSettingSessionTracking(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {gtid_wait: 20s, max_replica_lag: 1h, read_primary_below: 0}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, setup string
		otherReads  bool
	}{
		{"replayed on other connections", "", false},
		{"held connection", "SET @pin = 1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, p.Addr, "")
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			table := fmt.Sprintf("ryw_track_%d", time.Now().UnixNano())
			t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
			for _, q := range []string{tc.setup, "SET SESSION session_track_system_variables = 'autocommit'"} {
				if _, err := conn.ExecContext(ctx, q); q != "" && err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			unlock := holdReplicas(ctx, t, topo)
			for _, q := range []string{"CREATE TABLE " + table + " (a INT)", "INSERT INTO " + table + " VALUES (1), (2)"} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			released := make(chan struct{})
			go func() {
				defer close(released)
				time.Sleep(300 * time.Millisecond)
				unlock()
			}()
			reader := conn.QueryRowContext
			if tc.otherReads {
				reader = db.QueryRowContext // another connection: conn is held
			}
			var n int
			err = reader(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			<-released
			if err != nil || n != 2 {
				t.Fatalf("SELECT COUNT(*) right after CREATE TABLE and INSERT: %d, %v; want 2", n, err)
			}
		})
	}
}

// TestReadYourWritesAfterReturning: a write that answers with rows
// (INSERT … RETURNING) ends with an EOF packet, which carries no GTID; the
// proxy must still learn it, or a read after the acknowledged write (here
// another session's, consistency global) runs on a replica that has not
// applied it (held back by a global read lock) and misses the row.
func TestReadYourWritesAfterReturning(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {gtid_wait: 20s, max_replica_lag: 1h, read_primary_below: 0}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	table := fmt.Sprintf("ryw_returning_%d", time.Now().UnixNano())
	direct := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "CREATE TABLE "+table+" (a INT)")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS " + table) })
	syncReplicas(ctx, t, topo, direct)
	for i, tc := range protocols {
		t.Run(tc.name, func(t *testing.T) {
			writer, reader := open(t, p.Addr, tc.params), open(t, p.Addr, "")
			unlock := holdReplicas(ctx, t, topo)
			var a int
			if err := writer.QueryRowContext(ctx, "INSERT INTO "+table+" VALUES (?) RETURNING a", i+1).Scan(&a); err != nil || a != i+1 {
				t.Fatalf("INSERT … RETURNING: %d, %v", a, err)
			}
			released := make(chan struct{})
			go func() {
				defer close(released)
				time.Sleep(300 * time.Millisecond)
				unlock()
			}()
			var n int
			err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			<-released
			if err != nil || n != i+1 {
				t.Fatalf("another session's SELECT COUNT(*) after INSERT … RETURNING: %d, %v; want %d", n, err, i+1)
			}
		})
	}
}

// protocols are the DSN parameters of a client that sends its statements
// as text and of one that prepares them.
var protocols = []struct{ name, params string }{
	{"text", "interpolateParams=true"},
	{"prepared", ""},
}

// syncReplicas waits until both replicas applied everything the primary
// (direct) has written.
func syncReplicas(ctx context.Context, t *testing.T, topo *testenv.Topo, direct *sql.DB) {
	t.Helper()
	var pos string
	if err := direct.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{topo.Replica1, topo.Replica2} {
		var r int
		if err := topo.DB(t, addr, "root", "", "").QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&r); err != nil || r != 0 {
			t.Fatalf("replica %s did not reach %s: %d, %v", addr, pos, r, err)
		}
	}
}

// rywTable makes a table of n rows on the primary, applied by both
// replicas before it returns.
func rywTable(ctx context.Context, t *testing.T, topo *testenv.Topo, n int) (table string, direct *sql.DB) {
	t.Helper()
	table = fmt.Sprintf("ryw_paths_%d", time.Now().UnixNano())
	direct = topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, direct, "CREATE TABLE "+table+" (a INT PRIMARY KEY)")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS " + table) })
	mustExec(t, direct, "INSERT INTO "+table+" SELECT seq FROM seq_1_to_"+fmt.Sprint(n))
	syncReplicas(ctx, t, topo, direct)
	return table, direct
}

// TestReadYourWritesWithoutWaitRoundTrip: with consistency global, a read
// on another connection after a write sees it on each path a replica read
// can take, text and prepared, and the counters say which one it took:
//   - known: the replicas applied the write and the proxy knows it (its
//     probes, or an earlier wait's answer): no wait at all;
//   - pipelined: the replicas are held back (a global read lock) and let go
//     while the read waits; the wait went out with the read;
//   - no read ever paid a wait round trip of its own (separate stays 0).
func TestReadYourWritesWithoutWaitRoundTrip(t *testing.T) {
	topo := testenv.Topology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := topo.Proxy(t, "routing: {consistency: global, gtid_wait: 20s, max_replica_lag: 1h, read_primary_below: 0}\n")
	table, _ := rywTable(ctx, t, topo, 10)
	for i, tc := range protocols {
		writer, reader := open(t, s.Addr, tc.params), open(t, s.Addr, tc.params)
		count := func(t *testing.T, want int) {
			t.Helper()
			var n int
			if err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE a > ?", 0).Scan(&n); err != nil || n != want {
				t.Fatalf("another connection's read after the write: %d rows, %v; want %d", n, err, want)
			}
		}
		t.Run(tc.name+"/pipelined", func(t *testing.T) {
			before := scrapeReads(t, s)
			unlock := holdReplicas(ctx, t, topo)
			mustExec(t, writer, "INSERT INTO "+table+" VALUES (?)", 100+2*i)
			released := make(chan struct{})
			go func() {
				defer close(released)
				time.Sleep(300 * time.Millisecond)
				unlock()
			}()
			count(t, 11+2*i)
			<-released
			after := scrapeReads(t, s)
			if after["pipelined"] <= before["pipelined"] || after["separate"] != before["separate"] || after["redirected"] != before["redirected"] {
				t.Errorf("consistent reads before %v, after %v: want a pipelined wait, no separate one, none redirected", before, after)
			}
		})
		t.Run(tc.name+"/known", func(t *testing.T) {
			mustExec(t, writer, "INSERT INTO "+table+" VALUES (?)", 101+2*i)
			before := scrapeReads(t, s)
			// The first reads may still wait (pipelined) until each replica
			// is known to have the write: from then on none waits.
			deadline := time.Now().Add(20 * time.Second)
			for scrapeReads(t, s)["known"] == before["known"] {
				if time.Now().After(deadline) {
					t.Fatalf("no read served without a wait: %v", scrapeReads(t, s))
				}
				count(t, 12+2*i)
			}
			after := scrapeReads(t, s)
			if after["separate"] != before["separate"] || after["redirected"] != before["redirected"] {
				t.Errorf("consistent reads before %v, after %v: want no separate wait, none redirected", before, after)
			}
		})
	}
}

// TestReadYourWritesRedirectedAfterTimedOutWait: a replica that does not
// apply the write within gtid_wait (held back by a global read lock) still
// answered the read that went out with the wait; that answer (here 201 rows
// without the new one) is read and dropped, and the client gets the
// primary's, whole: every row, each saying the primary's server_id. The
// replica connections that dropped an answer go back to their pool in
// step: the reads after them, text and prepared, are right too.
func TestReadYourWritesRedirectedAfterTimedOutWait(t *testing.T) {
	topo := testenv.Topology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := topo.Proxy(t, "routing: {consistency: global, gtid_wait: 200ms, max_replica_lag: 1h, read_primary_below: 0}\n")
	table, _ := rywTable(ctx, t, topo, 200)
	primaryID, _ := serverIDs(t, topo)
	rows := func(db *sql.DB) (n, fromPrimary int, err error) {
		rs, err := db.QueryContext(ctx, "SELECT a, @@server_id FROM "+table+" WHERE a > ? ORDER BY a", 0)
		if err != nil {
			return 0, 0, err
		}
		defer rs.Close()
		for rs.Next() {
			var a, id int
			if err := rs.Scan(&a, &id); err != nil {
				return n, fromPrimary, err
			}
			n++
			if id == primaryID {
				fromPrimary++
			}
		}
		return n, fromPrimary, rs.Err()
	}
	want := 200
	for _, tc := range protocols {
		t.Run(tc.name, func(t *testing.T) {
			writer, reader := open(t, s.Addr, tc.params), open(t, s.Addr, tc.params)
			before := scrapeReads(t, s)
			unlock := holdReplicas(ctx, t, topo)
			want++
			mustExec(t, writer, "INSERT INTO "+table+" VALUES (?)", want)
			n, fromPrimary, err := rows(reader)
			unlock()
			if err != nil || n != want || fromPrimary != want {
				t.Fatalf("read after a write whose wait timed out: %d rows (%d from the primary), %v; want %d, all from the primary", n, fromPrimary, err, want)
			}
			after := scrapeReads(t, s)
			if after["redirected"] <= before["redirected"] || after["separate"] != before["separate"] {
				t.Errorf("consistent reads before %v, after %v: want a redirected read, no separate wait", before, after)
			}
			// The replicas catch up; reads on the pooled connections that
			// dropped answers are whole and right.
			for i := range 20 {
				if n, _, err := rows(reader); err != nil || n != want {
					t.Fatalf("read %d after the redirect: %d rows, %v; want %d", i, n, err, want)
				}
			}
		})
	}
}

// TestReadYourWritesOnPrimaryWithRoom: with the default
// routing.read_primary_below (16), a read on another connection after a
// write that no replica has applied (held back by a global read lock) runs
// on the primary at once while the primary has room: it sees the write
// without waiting for the replicas. Once 16 commands run on the primary,
// the same read waits on a replica instead, which answers once let go.
func TestReadYourWritesOnPrimaryWithRoom(t *testing.T) {
	topo := testenv.Topology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := topo.Proxy(t, "routing: {consistency: global, gtid_wait: 20s, max_replica_lag: 1h}\n")
	table, _ := rywTable(ctx, t, topo, 10)
	primaryID, _ := serverIDs(t, topo)
	writer, reader := open(t, s.Addr, "interpolateParams=true"), open(t, s.Addr, "interpolateParams=true")
	read := func(ctx context.Context) (n, serverID int, err error) {
		err = reader.QueryRowContext(ctx, "SELECT COUNT(*), @@server_id FROM "+table).Scan(&n, &serverID)
		return n, serverID, err
	}
	routed := func() float64 {
		m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
		if err != nil {
			t.Fatal(err)
		}
		return m.Value("switchyard_statements_total", "route", "primary_room")
	}

	t.Run("idle primary", func(t *testing.T) {
		unlock := holdReplicas(ctx, t, topo)
		defer unlock()
		before, reads := routed(), scrapeReads(t, s)
		mustExec(t, writer, "INSERT INTO "+table+" VALUES (11)")
		quick, stop := context.WithTimeout(ctx, 5*time.Second) // a wait would last till unlock
		defer stop()
		n, id, err := read(quick)
		if err != nil || n != 11 || id != primaryID {
			t.Fatalf("read after the write: %d rows on server %d, %v; want 11 on the primary (%d) at once", n, id, err, primaryID)
		}
		if after := routed(); after != before+1 {
			t.Errorf("statements routed primary_room: %v then %v; want one more", before, after)
		}
		if after := scrapeReads(t, s); after["pipelined"] != reads["pipelined"] || after["separate"] != reads["separate"] {
			t.Errorf("consistent reads on replicas before %v, after %v: want none", reads, after)
		}
	})

	t.Run("busy primary", func(t *testing.T) {
		const running = 16
		sleepers := open(t, s.Addr, "")
		sleepers.SetMaxOpenConns(running)
		var wg sync.WaitGroup
		defer wg.Wait()
		for range running {
			wg.Go(func() { _, _ = sleepers.ExecContext(ctx, "/* switchyard: primary */ SELECT SLEEP(6)") })
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Value("switchyard_backend_active_connections") >= running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v commands running on the backends; want %d sleeping on the primary", m.Value("switchyard_backend_active_connections"), running)
			}
			time.Sleep(20 * time.Millisecond)
		}
		unlock := holdReplicas(ctx, t, topo)
		before, reads := routed(), scrapeReads(t, s)
		mustExec(t, writer, "INSERT INTO "+table+" VALUES (12)")
		go func() {
			time.Sleep(300 * time.Millisecond)
			unlock()
		}()
		n, id, err := read(ctx)
		if err != nil || n != 12 || id == primaryID {
			t.Fatalf("read after the write: %d rows on server %d, %v; want 12 on a replica (the primary, %d, is busy)", n, id, err, primaryID)
		}
		if after := routed(); after != before {
			t.Errorf("statements routed primary_room: %v then %v; want none more", before, after)
		}
		if after := scrapeReads(t, s); after["pipelined"] <= reads["pipelined"] {
			t.Errorf("consistent reads before %v, after %v: want a pipelined wait", reads, after)
		}
	})
}
