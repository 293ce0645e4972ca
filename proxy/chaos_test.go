package proxy_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// The tests in this file kill real processes — MariaDB servers, the
// switchyard itself — under a read/write load from real clients, and then
// check what the clients were told against what the servers hold.

// opTimeout bounds every client operation; maxOp is the longest one the
// tests accept (anything near opTimeout is a client that hung).
const (
	opTimeout = 45 * time.Second
	maxOp     = 30 * time.Second
)

// load is a bounded read/write load through a proxy: clients insert unique
// ids (alone or two per transaction) and read, and it records which inserts
// were acknowledged, how long each operation took and where reads ran.
type load struct {
	table string
	next  atomic.Int64 // the last id handed out

	mu      sync.Mutex
	acked   []int64   // ids whose INSERT or COMMIT returned OK
	okAt    []okEvent // every successful operation
	errs    map[string]int
	slowest time.Duration
}

type okEvent struct {
	at    time.Time
	write bool
	port  string // the server a read ran on (@@port)
}

func newLoad(table string) *load { return &load{table: table, errs: map[string]int{}} }

// createTable makes the load's table on db: no unique key on id, so a write
// applied twice shows as two rows.
func (l *load) createTable(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec("CREATE TABLE " + l.table + " (pk BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, client INT NOT NULL, KEY (id))"); err != nil {
		t.Fatal(err)
	}
}

// run starts n clients on db until ctx ends and returns a wait function.
// Client i does, in turn, an insert, a read and a two-row transaction.
func (l *load) run(ctx context.Context, db *sql.DB, n int) func() {
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				start := time.Now()
				ev, ids, err := l.op(octx, db, c, i)
				d := time.Since(start)
				cancel()
				if ctx.Err() != nil {
					return // stopped mid-operation: neither acknowledged nor failed
				}
				l.record(ev, ids, err, d)
				pause := 2 * time.Millisecond
				if err != nil {
					pause = 50 * time.Millisecond
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	return wg.Wait
}

func (l *load) op(ctx context.Context, db *sql.DB, client, i int) (okEvent, []int64, error) {
	ev := okEvent{write: true}
	switch i % 3 {
	case 0:
		id := l.next.Add(1)
		_, err := db.ExecContext(ctx, "INSERT INTO "+l.table+" (id, client) VALUES (?, ?)", id, client)
		return ev, []int64{id}, err
	case 1:
		ev.write = false
		var n int
		err := db.QueryRowContext(ctx, "SELECT @@port, COUNT(*) FROM "+l.table+" WHERE id > ?", l.next.Load()-50).Scan(&ev.port, &n)
		return ev, nil, err
	default:
		ids := []int64{l.next.Add(1), l.next.Add(1)}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return ev, nil, err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+l.table+" (id, client) VALUES (?, ?)", id, client); err != nil {
				_ = tx.Rollback()
				return ev, nil, err
			}
		}
		return ev, ids, tx.Commit()
	}
}

func (l *load) record(ev okEvent, ids []int64, err error, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, d)
	if err != nil {
		msg := err.Error()
		if len(msg) > 90 {
			msg = msg[:90]
		}
		l.errs[msg]++
		return
	}
	ev.at = time.Now()
	l.okAt = append(l.okAt, ev)
	l.acked = append(l.acked, ids...)
}

// oksSince counts successful reads and writes that ended after at, and the
// reads by server port.
func (l *load) oksSince(at time.Time) (reads, writes int, ports map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ports = map[string]int{}
	for _, e := range l.okAt {
		if e.at.Before(at) {
			continue
		}
		if e.write {
			writes++
		} else {
			reads++
			ports[e.port]++
		}
	}
	return reads, writes, ports
}

// waitFor polls cond (what it waits for, described) every 100ms up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, d, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check fails t unless every acknowledged id is in the table on db exactly
// once, no id is there twice, and no operation took longer than maxOp.
func (l *load) check(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT id, COUNT(*) FROM "+l.table+" GROUP BY id")
	if err != nil {
		t.Fatalf("read back %s: %v", l.table, err)
	}
	defer rows.Close()
	count := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		count[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var missing, twice []int64
	for _, id := range l.acked {
		if count[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range count {
		if n > 1 {
			twice = append(twice, id)
		}
	}
	slices.Sort(twice)
	t.Logf("%d acknowledged writes, %d rows; slowest operation %v; errors: %v",
		len(l.acked), len(count), l.slowest.Round(time.Millisecond), l.errs)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged writes missing, e.g. %v", len(missing), missing[:min(10, len(missing))])
	}
	if len(twice) > 0 {
		t.Errorf("%d ids written more than once, e.g. %v", len(twice), twice[:min(10, len(twice))])
	}
	if l.slowest > maxOp {
		t.Errorf("an operation took %v (limit %v): a client hung", l.slowest, maxOp)
	}
}

// proxyPrimary returns the address of the primary a proxy routes writes to,
// from its admin /topology.
func proxyPrimary(s *testenv.Switchyard) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.AdminAddr + "/topology")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tp struct {
		Primary            string `json:"primary"`
		FailoverInProgress bool   `json:"failover_in_progress"`
		Servers            []struct {
			Name, Address, Role string
			Up                  bool `json:"up"`
		} `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tp); err != nil {
		return "", err
	}
	for _, s := range tp.Servers {
		if s.Name == tp.Primary && !tp.FailoverInProgress {
			return s.Address, nil
		}
	}
	return "", fmt.Errorf("no primary (%q, failover in progress %v)", tp.Primary, tp.FailoverInProgress)
}

// TestChaosKillServersUnderLoad runs 8 clients through a switchyard with
// automatic failover in front of a semi-synchronous private topology, and
// kills -9: a replica (reads go on; restarted, it serves reads again), then
// the primary (a replica is promoted and writes come back). Every
// acknowledged write must then be on the new primary exactly once, no
// client operation may have hung, and the proxy must still serve.
func TestChaosKillServersUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills servers of a private topology")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 110*time.Second)
	defer cancel()
	topo := testenv.NewTopology(t)
	topo.EnableSemiSync(t, ctx, topo.Primary, topo.Replica1, topo.Replica2)
	s := topo.Proxy(t, "health: {interval: 500ms, timeout: 1s}\n"+
		"failover: {cooldown: 2s, auto_rejoin: true, semi_sync: true, replication_user: repl, replication_password: repl}\n")
	db := open(t, s.Addr, "timeout=5s")
	db.SetMaxOpenConns(16)
	l := newLoad("chaos")
	l.createTable(t, db)

	lctx, stop := context.WithCancel(ctx)
	wait := l.run(lctx, db, 8)
	defer func() { stop(); wait() }()
	waitFor(t, 30*time.Second, "200 operations before the first kill", func() (bool, string) {
		r, w, _ := l.oksSince(time.Time{})
		return r+w >= 200, fmt.Sprintf("%d reads, %d writes", r, w)
	})

	// A replica dies: reads go on (on the other replica or the primary).
	_, port, _ := strings.Cut(topo.Replica2, ":")
	topo.Kill(t, topo.Replica2)
	killed := time.Now()
	waitFor(t, 15*time.Second, "reads and writes after the replica's kill", func() (bool, string) {
		r, w, ports := l.oksSince(killed.Add(time.Second))
		return r >= 20 && w >= 20, fmt.Sprintf("%d reads %v, %d writes", r, ports, w)
	})
	// Back, it serves reads again.
	topo.Start(t)
	restarted := time.Now()
	waitFor(t, 30*time.Second, "reads on the restarted replica "+topo.Replica2, func() (bool, string) {
		_, _, ports := l.oksSince(restarted)
		return ports[port] > 0, fmt.Sprintf("reads by port %v", ports)
	})
	t.Logf("replica %s killed and restarted; reads on it again %v after the restart", topo.Replica2, time.Since(restarted).Round(time.Millisecond))

	// The primary dies: a replica is promoted, writes come back.
	topo.Kill(t, topo.Primary)
	killed = time.Now()
	waitFor(t, 30*time.Second, "a new primary in the proxy", func() (bool, string) {
		p, err := proxyPrimary(s)
		return err == nil && p != topo.Primary, fmt.Sprintf("%s %v", p, err)
	})
	waitFor(t, 20*time.Second, "reads and writes after the failover", func() (bool, string) {
		r, w, _ := l.oksSince(killed)
		return r >= 50 && w >= 100, fmt.Sprintf("%d reads, %d writes", r, w)
	})
	primary, _ := proxyPrimary(s)
	t.Logf("primary %s killed; %s promoted, writes back, in %v", topo.Primary, primary, time.Since(killed).Round(time.Millisecond))
	stop()
	wait()

	l.check(t, topo.DB(t, primary, "root", "", "test"))
	if !s.Ready() {
		t.Error("the proxy is not ready after the drill")
	}
	var one int
	if err := open(t, s.Addr, "").QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("a new client after the drill: %v", err)
	}
}

// TestProxyKilledUnderLoad kills -9 the switchyard process while clients
// write and read through database/sql pools, and starts it again on the
// same ports: the clients' next operations succeed on new connections, and
// no acknowledged write is lost or doubled.
func TestProxyKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	topo := testenv.Topology(t)
	s := topo.Proxy(t, "")
	db := open(t, s.Addr, "timeout=5s")
	db.SetMaxOpenConns(8)
	l := newLoad(fmt.Sprintf("restart_%d", time.Now().UnixNano()))
	l.createTable(t, db)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + l.table) })

	ctx, stop := context.WithCancel(t.Context())
	wait := l.run(ctx, db, 8)
	defer func() { stop(); wait() }()
	waitFor(t, 30*time.Second, "200 operations before the kill", func() (bool, string) {
		r, w, _ := l.oksSince(time.Time{})
		return r+w >= 200, fmt.Sprintf("%d reads, %d writes", r, w)
	})
	s.Kill(t)
	killed := time.Now()
	time.Sleep(500 * time.Millisecond) // the clients meet a closed port for a while
	s.Restart(t, true)
	t.Logf("switchyard down for %v", time.Since(killed).Round(time.Millisecond))
	restarted := time.Now()
	waitFor(t, 30*time.Second, "reads and writes after the restart", func() (bool, string) {
		r, w, _ := l.oksSince(restarted)
		return r >= 50 && w >= 100, fmt.Sprintf("%d reads, %d writes", r, w)
	})
	stop()
	wait()
	l.check(t, topo.DB(t, topo.Primary, "root", "", "test"))
}
