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

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// sleepersOn counts the statements of the sessions of user app running
// SLEEP on a server now, from its processlist.
func sleepersOn(t *testing.T, root *sql.DB, marker string) int {
	t.Helper()
	var n int
	err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app' AND INFO LIKE ?",
		"%"+marker+"%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestActiveLimitPerBackend runs 12 sessions of SELECT SLEEP through a
// proxy with pool.max_active_per_backend 3 and every statement on the
// primary, and watches the primary's processlist meanwhile: never more than
// 3 of them run there at once, and every session completes (the others
// queued, none was refused).
func TestActiveLimitPerBackend(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {read_write_split: false}\npool: {max_active_per_backend: 3, wait_timeout: 60s}\n")
	root := topo.DB(t, topo.Primary, "root", "", "")
	const sessions, limit = 12, 3
	const marker = "active_limit_probe"
	db := openDB(t, p.Addr, "test")
	db.SetMaxOpenConns(sessions)

	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for range sessions {
		wg.Go(func() {
			var v int
			errs <- db.QueryRow("SELECT SLEEP(0.3) /* " + marker + " */").Scan(&v)
		})
	}
	stop := make(chan struct{})
	seen := 0
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			seen = max(seen, sleepersOn(t, root, marker))
		}
	})
	wg.Wait()
	close(stop)
	watch.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued session failed: %v", err)
		}
	}
	if seen > limit || seen == 0 {
		t.Fatalf("saw %d sleeps at once on the primary, want 1..%d", seen, limit)
	}
	m, err := testenv.ScrapeMetrics(t.Context(), p.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	if w := m.Value("switchyard_backend_queue_waits_total", "backend", "db1"); w < 1 {
		t.Errorf("switchyard_backend_queue_waits_total{backend=db1} = %v, want at least 1", w)
	}
	if q := m.Value("switchyard_backend_queue_length", "backend", "db1"); q != 0 {
		t.Errorf("switchyard_backend_queue_length{backend=db1} = %v after every session finished, want 0", q)
	}
}

// TestActiveLimitHeldSessionAndTimeout: with room for one command on the
// primary, a session idle in a transaction does not keep another session's
// statement queued (the limit counts commands running, not connections
// held). Once a SLEEP holds the only slot, another session's statement
// queues and, after pool.wait_timeout, gets 1429 (HY000) saying the
// backend was too busy and nothing ran, its connection staying usable;
// while the statements of the transaction run at once beside the queue
// (a transaction must never wait behind statements that may wait for its
// locks).
func TestActiveLimitHeldSessionAndTimeout(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {read_write_split: false}\npool: {max_active_per_backend: 1, wait_timeout: 300ms}\n")
	root := topo.DB(t, topo.Primary, "root", "", "")
	a, b, c := openDB(t, p.Addr, "test"), openDB(t, p.Addr, "test"), openDB(t, p.Addr, "test")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := tx.QueryRow("SELECT 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	bc, err := b.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if err := bc.QueryRowContext(ctx, "SELECT 2").Scan(&v); err != nil || v != 2 {
		t.Fatalf("a statement while another session idles in a transaction: %v %d; want it to run at once", err, v)
	}

	const marker = "active_limit_sleeper"
	sleepDone := make(chan error, 1)
	go func() {
		var s int
		sleepDone <- c.QueryRowContext(ctx, "SELECT SLEEP(5) /* "+marker+" */").Scan(&s)
	}()
	for deadline := time.Now().Add(10 * time.Second); sleepersOn(t, root, marker) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the SLEEP never showed in the primary's processlist")
		}
	}
	err = bc.QueryRowContext(ctx, "SELECT 3").Scan(&v)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1429 || string(me.SQLState[:]) != "HY000" ||
		!strings.Contains(me.Message, "too busy") || !strings.Contains(me.Message, "nothing ran") {
		t.Fatalf("a statement queued past pool.wait_timeout: %v, want 1429 (HY000) saying the backend was too busy", err)
	}
	for i := range 3 { // the transaction's statements pass the queue
		if err := tx.QueryRow("SELECT ?", i).Scan(&v); err != nil || v != i {
			t.Fatalf("statement %d in the transaction while the only slot is taken: %v", i, err)
		}
	}
	select {
	case err := <-sleepDone:
		t.Fatalf("the SLEEP ended (%v) before the transaction's statements did: they queued behind it", err)
	default:
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-sleepDone; err != nil {
		t.Fatal(err)
	}
	if err := bc.QueryRowContext(ctx, "SELECT 4").Scan(&v); err != nil || v != 4 {
		t.Fatalf("the refused session after the SLEEP ended: %v %d", err, v)
	}
	m, err := testenv.ScrapeMetrics(ctx, p.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Value("switchyard_backend_queue_timeouts_total", "backend", "db1"); n != 1 {
		t.Errorf("switchyard_backend_queue_timeouts_total{backend=db1} = %v, want 1 (b's SELECT 3)", n)
	}
}

// TestActiveLimitSoftHoldDoesNotQueueOthers: with room for one connection
// on the primary, a session whose write keeps its connection for a
// possible LAST_INSERT_ID() (a soft hold) and then stays idle does not keep
// another session's statement queued; its own LAST_INSERT_ID() still
// reads its write.
func TestActiveLimitSoftHoldDoesNotQueueOthers(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {read_write_split: false}\npool: {max_active_per_backend: 1, wait_timeout: 500ms}\n")
	direct := topo.DB(t, topo.Primary, "root", "", "")
	table := fmt.Sprintf("test.soft_hold_%d", time.Now().UnixNano())
	mustExec(t, direct, "CREATE TABLE "+table+" (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	t.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS " + table) })

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a, err := openDB(t, p.Addr, "test").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openDB(t, p.Addr, "test").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := a.ExecContext(ctx, "INSERT INTO "+table+" (v) VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := res.LastInsertId()
	var v int
	for i := range 3 { // a is idle, holding its connection for LAST_INSERT_ID()
		if err := b.QueryRowContext(ctx, "SELECT ?", i).Scan(&v); err != nil {
			t.Fatalf("statement %d of another session while one idles after a write: %v", i, err)
		}
	}
	var got int64
	if err := a.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&got); err != nil || got != want {
		t.Fatalf("LAST_INSERT_ID() after the write: %d, %v; want %d", got, err, want)
	}
}

// TestActiveLimitCountsAddUp runs many short statements from more sessions
// than the limit, so that connections go back to the pool and out again
// while others queue, then checks that the gate's count went back to 0:
// every slot taken was given back (a borrow that took a connection just
// put back must not lose its slot to the Put still finishing).
func TestActiveLimitCountsAddUp(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "pool: {max_active_per_backend: 4, wait_timeout: 60s}\n")
	db := openDB(t, p.Addr, "test")
	db.SetMaxOpenConns(16)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			var v int
			for i := range 150 {
				if err := db.QueryRow("SELECT ?", i).Scan(&v); err != nil {
					errs <- err
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
	m, err := testenv.ScrapeMetrics(t.Context(), p.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"db1", "db2", "db3"} {
		if n := m.Value("switchyard_backend_active_connections", "backend", b); n != 0 {
			t.Errorf("switchyard_backend_active_connections{backend=%s} = %v with no statement running, want 0", b, n)
		}
	}
}
