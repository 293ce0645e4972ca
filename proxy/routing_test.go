package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// serverIDs maps each backend of the shared topology to its @@server_id.
func serverIDs(t *testing.T, topo *testenv.Topo) (primary int, replicas map[int]bool) {
	t.Helper()
	replicas = map[int]bool{}
	for i, addr := range topo.Addrs() {
		var id int
		if err := topo.DB(t, addr, "root", "", "").QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			primary = id
		} else {
			replicas[id] = true
		}
	}
	return primary, replicas
}

func whoAnswers(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, stmt string) int {
	t.Helper()
	var id int
	if err := q.QueryRowContext(context.Background(), stmt).Scan(&id); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return id
}

func TestReadsOnReplicasWritesOnPrimary(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	primary, replicas := serverIDs(t, topo)
	db := open(t, p.Addr, "")
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS rw (id INT PRIMARY KEY AUTO_INCREMENT, sid INT)")

	seen := map[int]int{}
	for range 20 {
		seen[whoAnswers(t, db, "SELECT @@server_id")]++
	}
	for id := range seen {
		if !replicas[id] {
			t.Fatalf("a plain read ran on server %d; want only replicas %v (seen %v)", id, replicas, seen)
		}
	}
	mustExec(t, db, "INSERT INTO rw (sid) VALUES (@@server_id)")
	var sid int
	if err := topo.DB(t, topo.Primary, "root", "", "test").QueryRow("SELECT sid FROM rw ORDER BY id DESC LIMIT 1").Scan(&sid); err != nil {
		t.Fatal(err)
	}
	if sid != primary {
		t.Fatalf("INSERT ran on server %d, want the primary %d", sid, primary)
	}
	if id := whoAnswers(t, db, "SELECT @@server_id FROM rw LIMIT 1 FOR UPDATE"); id != primary {
		t.Fatalf("SELECT ... FOR UPDATE ran on %d, want the primary %d", id, primary)
	}
	if id := whoAnswers(t, db, "/* switchyard: primary */ SELECT @@server_id"); id != primary {
		t.Fatalf("primary hint: ran on %d, want %d", id, primary)
	}

	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if id := whoAnswers(t, tx, "SELECT @@server_id"); id != primary {
			t.Fatalf("a read inside a transaction ran on %d, want the primary %d", id, primary)
		}
	}
	_ = tx.Commit()

	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	first := whoAnswers(t, ro, "SELECT @@server_id")
	if !replicas[first] {
		t.Fatalf("READ ONLY transaction ran on %d, want a replica", first)
	}
	for range 5 {
		if id := whoAnswers(t, ro, "SELECT @@server_id"); id != first {
			t.Fatalf("READ ONLY transaction moved from %d to %d", first, id)
		}
	}
	_ = ro.Commit()
}

func TestSessionStateFollowsTheSession(t *testing.T) {
	p := sharedProxy(t)
	_, replicas := serverIDs(t, testenv.Topology(t))
	db := open(t, p.Addr, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{
		"SET NAMES latin1",
		"SET sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE'",
		"SET time_zone = '+03:00'",
		"USE mysql",
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for range 10 {
		var sid int
		var charset, mode, tz, dbname string
		err := c.QueryRowContext(ctx, "SELECT @@server_id, @@character_set_client, @@sql_mode, @@time_zone, DATABASE()").Scan(&sid, &charset, &mode, &tz, &dbname)
		if err != nil {
			t.Fatal(err)
		}
		if !replicas[sid] {
			t.Fatalf("read ran on %d, want a replica", sid)
		}
		if charset != "latin1" || mode != "ANSI_QUOTES,NO_ZERO_DATE" || tz != "+03:00" || dbname != "mysql" {
			t.Fatalf("on server %d the session state is charset=%s sql_mode=%s time_zone=%s db=%s", sid, charset, mode, tz, dbname)
		}
	}
	// Another client never sees that state.
	other := open(t, p.Addr, "")
	var mode, dbname string
	if err := other.QueryRow("SELECT @@sql_mode, DATABASE()").Scan(&mode, &dbname); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mode, "ANSI_QUOTES") || dbname != "test" {
		t.Fatalf("another client sees sql_mode=%s db=%s", mode, dbname)
	}
}

func TestPinsKeepBackendState(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	steps := []struct{ q, want string }{
		{"CREATE TEMPORARY TABLE tmp_pin (v INT)", ""},
		{"INSERT INTO tmp_pin VALUES (41)", ""},
		{"SELECT v + 1 FROM tmp_pin", "42"},
		{"SET @u = 'user-var'", ""},
		{"SELECT @u", "user-var"},
		{"SELECT GET_LOCK('switchyard_test_lock', 5)", "1"},
		{"SELECT IS_USED_LOCK('switchyard_test_lock') = CONNECTION_ID()", "1"},
		{"SELECT RELEASE_LOCK('switchyard_test_lock')", "1"},
	}
	for _, s := range steps {
		if s.want == "" {
			if _, err := c.ExecContext(ctx, s.q); err != nil {
				t.Fatalf("%s: %v", s.q, err)
			}
			continue
		}
		var got string
		if err := c.QueryRowContext(ctx, s.q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", s.q, err)
		}
		if got != s.want {
			t.Fatalf("%s = %q, want %q", s.q, got, s.want)
		}
	}
}

func TestLastInsertIDAfterInsert(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS lid (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 5 {
		res, err := c.ExecContext(ctx, "INSERT INTO lid (v) VALUES (1)")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := res.LastInsertId()
		var got, identity int64
		if err := c.QueryRowContext(ctx, "SELECT LAST_INSERT_ID(), @@identity").Scan(&got, &identity); err != nil {
			t.Fatal(err)
		}
		if got != want || identity != want {
			t.Fatalf("LAST_INSERT_ID() = %d, @@identity = %d, want %d", got, identity, want)
		}
		upd, err := c.ExecContext(ctx, "UPDATE lid SET v = v + 1 WHERE id >= ?", want-1)
		if err != nil {
			t.Fatal(err)
		}
		affected, _ := upd.RowsAffected()
		var rows int64
		if err := c.QueryRowContext(ctx, "SELECT ROW_COUNT()").Scan(&rows); err != nil || rows != affected || rows == 0 {
			t.Fatalf("ROW_COUNT() = %d, %v; want %d", rows, err, affected)
		}
	}
}

// TestManyClientsFewConnections runs 500 clients through a pool of 20
// backend connections per backend, each with its own session variable, and
// checks no client ever sees another's value.
func TestManyClientsFewConnections(t *testing.T) {
	topo := testenv.Topology(t)
	root := topo.DB(t, topo.Primary, "root", "", "")
	mustExec(t, root, "CREATE USER IF NOT EXISTS pool500@'%' IDENTIFIED BY 'pool500'")
	mustExec(t, root, "GRANT SELECT ON test.* TO pool500@'%'")
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "pool: {max_per_backend: 20, wait_timeout: 20s}\nlimits: {connect_timeout: 10s}\n")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: pool500, password: pool500}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	const clients, rounds = 500, 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			db, err := sql.Open("mysql", fmt.Sprintf("pool500:pool500@tcp(%s)/test", s.Addr))
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			c, err := db.Conn(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			want := 4096 + i
			if _, err := c.ExecContext(context.Background(), fmt.Sprintf("SET SESSION group_concat_max_len = %d", want)); err != nil {
				errs <- err
				return
			}
			for range rounds {
				var got int
				if err := c.QueryRowContext(context.Background(), "SELECT @@group_concat_max_len").Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- fmt.Errorf("client %d sees group_concat_max_len=%d, its own is %d", i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each backend saw at most 20 connections from the proxy.
	for _, addr := range topo.Addrs() {
		var n int
		if err := topo.DB(t, addr, "root", "", "").QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'pool500'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 20 {
			t.Fatalf("%s has %d connections from pool500, want at most 20", addr, n)
		}
	}
}

// TestReadYourWrites delays the replicas of a private topology by three
// seconds (MASTER_DELAY) while keeping them eligible for reads: every read
// after a write must still see it, in session mode on one connection and in
// global mode across connections, while eventual mode shows the staleness
// the others avoid (so the test can fail).
func TestReadYourWrites(t *testing.T) {
	topo := testenv.NewTopology(t)
	mustExec(t, topo.DB(t, topo.Primary, "root", "", ""), "CREATE TABLE IF NOT EXISTS test.ryw (mode VARCHAR(10), id INT, PRIMARY KEY (mode, id))")
	waitReplicated(t, topo, "test.ryw")
	for _, r := range []string{topo.Replica1, topo.Replica2} {
		rdb := topo.DB(t, r, "root", "", "")
		mustExec(t, rdb, "STOP SLAVE")
		mustExec(t, rdb, "CHANGE MASTER TO MASTER_DELAY = 3")
		mustExec(t, rdb, "START SLAVE")
	}
	for _, mode := range []string{"eventual", "session", "global"} {
		t.Run(mode, func(t *testing.T) {
			yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), fmt.Sprintf("routing: {consistency: %s, gtid_wait: 50ms, max_replica_lag: 60s}\n", mode))
			s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
			db := open(t, s.Addr, "")
			writer, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			reader := writer
			if mode != "session" {
				if reader, err = open(t, s.Addr, "").Conn(context.Background()); err != nil {
					t.Fatal(err)
				}
				defer reader.Close()
			}
			stale := 0
			for i := range 10 {
				if _, err := writer.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO ryw VALUES ('%s', %d)", mode, i)); err != nil {
					t.Fatal(err)
				}
				var n int
				if err := reader.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM ryw WHERE mode = ?", mode).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != i+1 {
					stale++
				}
			}
			switch {
			case mode == "eventual" && stale == 0:
				t.Fatal("eventual reads never saw stale data: the replicas are not delayed, the test proves nothing")
			case mode != "eventual" && stale > 0:
				t.Fatalf("%d of 10 reads after a write missed it", stale)
			}
		})
	}
}

func waitReplicated(t *testing.T, topo *testenv.Topo, table string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range []string{topo.Replica1, topo.Replica2} {
		for {
			var n int
			err := topo.DB(t, r, "root", "", "").QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) = ?", table).Scan(&n)
			if err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reach replica %s", table, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestExplainRoute(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	explain := func(stmt string) (role, reason, holds string) {
		t.Helper()
		rows, err := c.QueryContext(ctx, "EXPLAIN ROUTE "+stmt)
		if err != nil {
			t.Fatalf("EXPLAIN ROUTE %s: %v", stmt, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			t.Fatalf("EXPLAIN ROUTE %s returned no row", stmt)
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for i, c := range cols {
			got[c] = vals[i].String
		}
		return got["role"], got["reason"], got["session_holds"]
	}
	if role, reason, _ := explain("SELECT 1"); role != "replica" || reason != "replica" {
		t.Fatalf("a read: role %s reason %s", role, reason)
	}
	if role, reason, _ := explain("UPDATE t SET a = 1"); role != "primary" || reason != "write" {
		t.Fatalf("a write: role %s reason %s", role, reason)
	}
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if role, reason, holds := explain("SELECT 1"); role != "held" || reason != "in_transaction" || !strings.Contains(holds, "transaction") {
		t.Fatalf("a read in a transaction: role %s reason %s holds %s", role, reason, holds)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
}
