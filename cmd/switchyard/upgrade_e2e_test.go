package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/internal/testenv"
)

// These tests upgrade real switchyard processes (the -race binary built
// from this tree) under real clients against the real MariaDB topology.

const upgradeToken = "upgrade-test-token-0123456789"

// upgradeProxy starts a switchyard for the upgrade tests and makes sure
// every process an upgrade starts is stopped when the test ends.
func upgradeProxy(t *testing.T, topo *testenv.Topo) (*testenv.Switchyard, *pidSet) {
	t.Helper()
	// Patient probes: on a loaded machine the -race proxy under 64
	// clients can miss a 1s probe, lose the primary for a round and end
	// the held transactions (1158), which is not what this test is about.
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop+"admin_token: "+upgradeToken+
		"\nupgrade: {window: 15s}\nhealth: {interval: 500ms, timeout: 5s}\n")
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	pids := &pidSet{}
	t.Cleanup(pids.stopAll)
	return sy, pids
}

// pidSet holds the processes upgrades started (not the test's children:
// they are stopped by pid).
type pidSet struct {
	mu   sync.Mutex
	pids []int
}

// addFrom adds the new pid an upgrade's output names, if it names one.
func (p *pidSet) addFrom(out string) {
	if m := servesRE.FindStringSubmatch(out); m != nil {
		pid, _ := strconv.Atoi(m[1])
		p.add(pid)
	}
}

func (p *pidSet) add(pid int) {
	p.mu.Lock()
	p.pids = append(p.pids, pid)
	p.mu.Unlock()
}

func (p *pidSet) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pid := range p.pids {
		testenv.StopPID(pid)
	}
}

// alive and waitGone: short names for the testenv helpers.
var (
	alive    = testenv.Alive
	waitGone = testenv.WaitGone
)

var servesRE = regexp.MustCompile(`pid (\d+) serves \(was (\d+)\); (\d+) sessions moved`)

// upgrade runs `switchyard upgrade` and returns the new pid and how many
// sessions moved.
func upgrade(t *testing.T, adminAddr string, pids *pidSet, extra ...string) (newPID, moved int) {
	t.Helper()
	out, errOut, code := runAction(t, append([]string{"upgrade", "--admin", adminAddr, "--token", upgradeToken}, extra...)...)
	pids.addFrom(out)
	if code != 0 {
		t.Fatalf("switchyard upgrade: exit %d\n%s%s", code, out, errOut)
	}
	m := servesRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("switchyard upgrade said %q", out)
	}
	newPID, _ = strconv.Atoi(m[1])
	moved, _ = strconv.Atoi(m[3])
	t.Logf("switchyard upgrade: %s", strings.TrimSpace(out))
	return newPID, moved
}

// clientErrors collects what any client saw go wrong.
type clientErrors struct {
	mu   sync.Mutex
	errs []string
}

func (c *clientErrors) add(who string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 50 {
		c.errs = append(c.errs, who+": "+err.Error())
	}
}

func (c *clientErrors) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Errorf("%d client errors, first: %s", len(c.errs), strings.Join(c.errs, "\n"))
	}
}

// readyWatch polls /readyz until stopped and counts the answers that were
// not 200 (connection refused included).
func readyWatch(t *testing.T, adminAddr string) (stop func() (ok, failed int)) {
	var okN, failN atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		c := http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := c.Get("http://" + adminAddr + "/readyz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				if failN.Add(1) <= 3 {
					t.Logf("/readyz: %v %v", err, resp)
				}
			} else {
				okN.Add(1)
			}
		}
	}()
	return func() (int, int) {
		close(done)
		<-finished
		return int(okN.Load()), int(failN.Load())
	}
}

// workload is the 64 clients of the upgrade test, each checking its own
// state on every round.
type workload struct {
	t     *testing.T
	addr  string
	errs  clientErrors
	stop  chan struct{}
	wg    sync.WaitGroup
	acked sync.Map // client number → *atomic.Int64 writes acknowledged
	// rounds counts the rounds each kind of client finished.
	rounds sync.Map
}

func (w *workload) ack(client int) {
	v, _ := w.acked.LoadOrStore(client, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (w *workload) round(kind string) {
	v, _ := w.rounds.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// pause sleeps d unless the workload stops.
func (w *workload) pause(d time.Duration) bool {
	select {
	case <-w.stop:
		return false
	case <-time.After(d):
		return true
	}
}

func (w *workload) conn(db string) (*sql.DB, *sql.Conn) {
	h, err := sql.Open("mysql", testenv.DSN(w.addr, "app", "app", db))
	if err != nil {
		w.t.Fatal(err)
	}
	h.SetMaxOpenConns(1)
	w.t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.Conn(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return h, c
}

var bg = context.Background()

// goClient runs one go-sql-driver client of the given style until stopped.
func (w *workload) goClient(id int, style int) {
	_, c := w.conn("test")
	who := fmt.Sprintf("client %d (style %d)", id, style)
	var ins, cnt *sql.Stmt
	switch style {
	case 1: // statements prepared once, executed across every upgrade
		var err error
		if ins, err = c.PrepareContext(bg, "INSERT INTO upg (client, n) VALUES (?, ?)"); err != nil {
			w.t.Fatal(err)
		}
		if cnt, err = c.PrepareContext(bg, "SELECT COUNT(*) FROM upg WHERE client = ?"); err != nil {
			w.t.Fatal(err)
		}
	case 3: // session state that must follow the session
		if _, err := c.ExecContext(bg, "SET SESSION time_zone = '+03:00', SESSION sql_mode = 'ANSI_QUOTES'"); err != nil {
			w.t.Fatal(err)
		}
		if _, err := c.ExecContext(bg, "USE upg_other"); err != nil {
			w.t.Fatal(err)
		}
	}
	w.wg.Go(func() {
		for n := 1; !w.stopped(); n++ {
			var err error
			switch style {
			case 0: // text protocol
				_, err = c.ExecContext(bg, fmt.Sprintf("INSERT INTO upg (client, n) VALUES (%d, %d)", id, n))
			case 1:
				_, err = ins.ExecContext(bg, id, n)
				if err == nil {
					var got int
					// Read-your-writes (routing.consistency): all n are there.
					if err = cnt.QueryRowContext(bg, id).Scan(&got); err == nil && got != n {
						err = fmt.Errorf("count %d after %d writes", got, n)
					}
				}
			case 2: // prepare, execute, close per statement
				_, err = c.ExecContext(bg, "INSERT INTO upg (client, n) VALUES (?, ?)", id, n)
			case 3:
				_, err = c.ExecContext(bg, fmt.Sprintf("INSERT INTO test.upg (client, n) VALUES (%d, %d)", id, n))
				if err == nil {
					var tz, mode, db string
					if err = c.QueryRowContext(bg, "SELECT @@session.time_zone, @@session.sql_mode, DATABASE()").Scan(&tz, &mode, &db); err == nil &&
						(tz != "+03:00" || mode != "ANSI_QUOTES" || db != "upg_other") {
						err = fmt.Errorf("session state lost: time_zone %q sql_mode %q database %q", tz, mode, db)
					}
				}
			}
			if err != nil {
				w.errs.add(who, err)
				return
			}
			w.ack(id)
			w.round(fmt.Sprint("style", style))
			w.pause(60 * time.Millisecond)
		}
	})
}

// txClient holds an open transaction with a temporary table and a user
// variable across the upgrades; it commits at the end.
func (w *workload) txClient(id int) (check func()) {
	_, c := w.conn("test")
	for _, q := range []string{"BEGIN", "CREATE TEMPORARY TABLE tmp_upg (a INT)", "SET @kept = 'across upgrades'"} {
		if _, err := c.ExecContext(bg, q); err != nil {
			w.t.Fatal(q, err)
		}
	}
	var k atomic.Int64
	w.wg.Go(func() {
		for !w.stopped() {
			n := k.Load() + 1
			if _, err := c.ExecContext(bg, fmt.Sprintf("INSERT INTO tmp_upg VALUES (%d)", n)); err != nil {
				w.errs.add("tx client", err)
				return
			}
			if _, err := c.ExecContext(bg, fmt.Sprintf("INSERT INTO upg (client, n) VALUES (%d, %d)", id, n)); err != nil {
				w.errs.add("tx client", err)
				return
			}
			k.Store(n)
			w.round("tx")
			w.pause(100 * time.Millisecond)
		}
	})
	return func() {
		var rows, inTx int
		var kept sql.NullString
		if err := c.QueryRowContext(bg, "SELECT (SELECT COUNT(*) FROM tmp_upg), @kept, @@in_transaction").Scan(&rows, &kept, &inTx); err != nil {
			w.t.Errorf("tx client: %v", err)
			return
		}
		if rows != int(k.Load()) || kept.String != "across upgrades" || inTx != 1 {
			w.t.Errorf("tx client: temporary table has %d rows (want %d), @kept %q, in transaction %d", rows, k.Load(), kept.String, inTx)
		}
		if _, err := c.ExecContext(bg, "COMMIT"); err != nil {
			w.t.Errorf("tx client: commit: %v", err)
			return
		}
		for range k.Load() {
			w.ack(id)
		}
	}
}

// lockClient holds GET_LOCK across the upgrades.
func (w *workload) lockClient(topo *testenv.Topo) (check func()) {
	_, c := w.conn("test")
	var got, connID int
	if err := c.QueryRowContext(bg, "SELECT GET_LOCK('upg_lock', 0), CONNECTION_ID()").Scan(&got, &connID); err != nil || got != 1 {
		w.t.Fatalf("GET_LOCK: %d %v", got, err)
	}
	w.wg.Go(func() {
		for w.pause(100 * time.Millisecond) {
			var mine int
			if err := c.QueryRowContext(bg, "SELECT IS_USED_LOCK('upg_lock') = CONNECTION_ID()").Scan(&mine); err != nil || mine != 1 {
				w.errs.add("lock client", fmt.Errorf("lock no longer mine (%d): %v", mine, err))
				return
			}
			w.round("lock")
		}
	})
	return func() {
		direct := topo.DB(w.t, topo.Primary, "root", "", "")
		var holder sql.NullInt64
		if err := direct.QueryRowContext(bg, "SELECT IS_USED_LOCK('upg_lock')").Scan(&holder); err != nil || holder.Int64 != int64(connID) {
			w.t.Errorf("lock upg_lock is held by %v, want the client's connection %d (%v)", holder, connID, err)
		}
		var now int
		if err := c.QueryRowContext(bg, "SELECT CONNECTION_ID()").Scan(&now); err != nil || now != connID {
			w.t.Errorf("lock client: connection id %d, was %d (%v)", now, connID, err)
		}
	}
}

// streamClient reads a large result again and again, slowly, so that
// upgrades find it in the middle of one.
func (w *workload) streamClient() {
	_, c := w.conn("test")
	w.wg.Go(func() {
		for !w.stopped() {
			rows, err := c.QueryContext(bg, "SELECT seq, REPEAT('x', 200) FROM seq_1_to_60000")
			if err != nil {
				w.errs.add("stream client", err)
				return
			}
			n := 0
			var seq int
			var pad string
			for rows.Next() {
				if err := rows.Scan(&seq, &pad); err != nil {
					break
				}
				if n++; n%5000 == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			err = errors.Join(rows.Err(), rows.Close())
			if err == nil && n != 60000 {
				err = fmt.Errorf("%d rows, want 60000", n)
			}
			if err != nil {
				w.errs.add("stream client", err)
				return
			}
			w.round("stream")
		}
	})
}

// cliClient drives the mariadb command-line client through a pipe.
func (w *workload) cliClient(id int) (check func()) {
	_, port, _ := net.SplitHostPort(w.addr)
	cmd := exec.Command("mariadb", "-h127.0.0.1", "-P"+port, "-uapp", "-papp", "--batch", "--skip-column-names", "test")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	var ticks atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tick") {
				ticks.Add(1)
			}
		}
	}()
	sent := 0
	w.wg.Go(func() {
		defer stdin.Close()
		for n := 1; w.pause(100 * time.Millisecond); n++ {
			if _, err := fmt.Fprintf(stdin, "INSERT INTO upg (client, n) VALUES (%d, %d); SELECT 'tick', %d;\n", id, n, n); err != nil {
				w.errs.add(fmt.Sprintf("mariadb client %d", id), err)
				return
			}
			sent = n
		}
	})
	return func() {
		<-readDone
		if err := cmd.Wait(); err != nil {
			w.t.Errorf("mariadb client %d: %v: %s", id, err, stderr.String())
		}
		if int(ticks.Load()) != sent {
			w.t.Errorf("mariadb client %d: %d answers to %d statements", id, ticks.Load(), sent)
		}
		for range ticks.Load() {
			w.ack(id)
		}
	}
}

func upgradeSchema(t *testing.T, topo *testenv.Topo) {
	t.Helper()
	root := topo.DB(t, topo.Primary, "root", "", "")
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS test",
		"CREATE DATABASE IF NOT EXISTS upg_other",
		"GRANT ALL ON upg_other.* TO 'app'@'%'",
		"DROP TABLE IF EXISTS test.upg",
		"CREATE TABLE test.upg (id BIGINT AUTO_INCREMENT PRIMARY KEY, client INT NOT NULL, n INT NOT NULL, KEY (client, n))",
	} {
		if _, err := root.ExecContext(bg, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestUpgradeKeepsEveryClient: 64 clients of every kind keep working
// across three upgrades in a row, with every write there exactly once and
// every session's state where it was.
func TestUpgradeKeepsEveryClient(t *testing.T) {
	topo := testenv.Topology(t)
	upgradeSchema(t, topo)
	sy, pids := upgradeProxy(t, topo)

	w := &workload{t: t, addr: sy.Addr, stop: make(chan struct{})}
	const goClients = 57
	for i := range goClients {
		w.goClient(i+1, i%4)
	}
	checkTx := w.txClient(100)
	checkLock := w.lockClient(topo)
	w.streamClient()
	var checkCLI []func()
	for i := range 4 {
		checkCLI = append(checkCLI, w.cliClient(200+i))
	}
	const clients = goClients + 1 + 1 + 1 + 4
	readyStop := readyWatch(t, sy.AdminAddr)

	time.Sleep(time.Second)
	first := sy.PID()
	pid := first
	for i := range 3 {
		next, moved := upgrade(t, sy.AdminAddr, pids)
		if moved < clients {
			t.Errorf("upgrade %d moved %d sessions, want at least %d", i+1, moved, clients)
		}
		// The first process stays as the parent (upgrade.keep_parent);
		// the others exit once their sessions moved.
		if pid != first && !waitGone(pid, 20*time.Second) {
			t.Errorf("upgrade %d: the old process %d is still running", i+1, pid)
		}
		pid = next
		time.Sleep(time.Second) // traffic through the new process
	}
	if !alive(first) {
		t.Errorf("the first process %d exited: a supervisor watching it would have stopped everything", first)
	}
	close(w.stop)
	w.wg.Wait()
	ok, failed := readyStop()
	if failed > 0 {
		t.Errorf("/readyz failed %d times (of %d) during the upgrades", failed, ok+failed)
	}
	w.errs.check(t)
	checkTx()
	checkLock()
	for _, c := range checkCLI {
		c()
	}
	w.rounds.Range(func(k, v any) bool {
		t.Logf("%s: %d rounds", k, v.(*atomic.Int64).Load())
		return true
	})

	// Every acknowledged write is there exactly once (read on the primary).
	root := topo.DB(t, topo.Primary, "root", "", "")
	w.acked.Range(func(k, v any) bool {
		var rows, distinct int
		if err := root.QueryRowContext(bg, "SELECT COUNT(*), COUNT(DISTINCT n) FROM test.upg WHERE client = ?", k).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if want := int(v.(*atomic.Int64).Load()); rows != want || distinct != want {
			t.Errorf("client %v: %d rows (%d distinct), %d acknowledged", k, rows, distinct, want)
		}
		return true
	})

	m := scrapeMetrics(t, sy.AdminAddr)
	if got := m.Value("switchyard_upgrade_sessions_total", "result", "adopted"); got < clients {
		t.Errorf("the last process adopted %v sessions, want at least %d", got, clients)
	}
	ac, err := admin.NewClient(sy.AdminAddr, upgradeToken)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ac.Topology(bg); err != nil || v.Upgrade == nil || v.Upgrade.NewPID != pid || v.Upgrade.Moved < clients {
		t.Errorf("/topology of the last process: upgrade %+v, %v; want it to name itself and the sessions it adopted", v.Upgrade, err)
	}

	// SIGTERM to the first process, as a supervisor sends it, stops the
	// one that serves, and the first exits after it.
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitGone(pid, 30*time.Second) || !waitGone(first, 30*time.Second) {
		t.Errorf("after SIGTERM to the first process: serving %d alive %v, first %d alive %v", pid, alive(pid), first, alive(first))
	}
}

// TestUpgradeFailureKeepsServing: an upgrade to a binary that exits at
// once, or to one of another state version, leaves every client served by
// the old process, which /readyz never stops calling ready; the next good
// upgrade still works.
func TestUpgradeFailureKeepsServing(t *testing.T) {
	topo := testenv.Topology(t)
	upgradeSchema(t, topo)
	sy, pids := upgradeProxy(t, topo)
	other := testenv.BuildSwitchyardWith(t, "switchyard-other-state",
		"-ldflags", "-X github.com/switchyard/switchyard/proxy.StateVersion=test-other")
	exits := filepath.Join(t.TempDir(), "exits-at-once")
	if err := os.WriteFile(exits, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	w := &workload{t: t, addr: sy.Addr, stop: make(chan struct{})}
	for i := range 4 {
		w.goClient(i+1, i%4)
	}
	checkTx := w.txClient(100)
	readyStop := readyWatch(t, sy.AdminAddr)

	for _, c := range []struct{ binary, want string }{
		{exits, "did not start the handoff"},
		{other, "state version"},
	} {
		out, errOut, code := runAction(t, "upgrade", "--admin", sy.AdminAddr, "--token", upgradeToken, "--binary", c.binary)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("upgrade to %s: exit %d, want 1 with %q:\n%s%s", filepath.Base(c.binary), code, c.want, out, errOut)
		}
		if !alive(sy.PID()) {
			t.Fatalf("the old process died after a failed upgrade to %s", filepath.Base(c.binary))
		}
		time.Sleep(500 * time.Millisecond) // clients keep working meanwhile
		stillServes := heldConn(t, sy.Addr)
		stillWorks(t, stillServes)
	}
	ac, err := admin.NewClient(sy.AdminAddr, upgradeToken)
	if err != nil {
		t.Fatal(err)
	}
	topoView, err := ac.Topology(bg)
	if err != nil {
		t.Fatal(err)
	}
	if topoView.Upgrade == nil || topoView.Upgrade.Result != "failed" || !strings.Contains(topoView.Upgrade.Error, "state version") {
		t.Errorf("/topology upgrade = %+v, want the failed state-version upgrade", topoView.Upgrade)
	}
	m := scrapeMetrics(t, sy.AdminAddr)
	if got := m.Value("switchyard_upgrades_total", "result", "failed"); got != 2 {
		t.Errorf("switchyard_upgrades_total{result=failed} = %v, want 2", got)
	}

	// The process is not wedged: a good upgrade moves everyone.
	upgrade(t, sy.AdminAddr, pids)
	time.Sleep(500 * time.Millisecond)
	close(w.stop)
	w.wg.Wait()
	if ok, failed := readyStop(); failed > 0 {
		t.Errorf("/readyz failed %d times (of %d)", failed, ok+failed)
	}
	w.errs.check(t)
	checkTx()
}

// TestUpgradeIsNotAMemberDeath: the peer of an upgraded proxy sees it
// alive and fresh the whole time (same name, same gossip address), and the
// new process is a member of the cluster.
func TestUpgradeIsNotAMemberDeath(t *testing.T) {
	topo := testenv.Topology(t)
	gossip := []string{
		fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
	}
	var sys []*testenv.Switchyard
	pids := &pidSet{}
	t.Cleanup(pids.stopAll)
	for i, name := range []string{"p0", "p1"} {
		extra := fmt.Sprintf("%sadmin_token: %s\nhealth: {interval: 250ms, timeout: 1s}\ncluster: {name: %s, bind: %q, join: [%q], expected_size: 2}\n",
			fastStop, upgradeToken, name, gossip[i], gossip[1-i])
		yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), extra)
		sys = append(sys, testenv.StartSwitchyard(t, yaml, addr, adm, true))
	}
	peer, err := admin.NewClient(sys[1].AdminAddr, upgradeToken)
	if err != nil {
		t.Fatal(err)
	}
	// p0 as p1 sees it: alive and fresh.
	p0Seen := func() (alive, fresh bool) {
		v, err := peer.Topology(bg)
		if err != nil {
			return false, false
		}
		for _, m := range v.Members {
			if m.Name == "p0" {
				return m.Alive, m.Fresh
			}
		}
		return false, false
	}
	deadline := time.Now().Add(20 * time.Second)
	for a, f := p0Seen(); !a || !f; a, f = p0Seen() {
		if time.Now().After(deadline) {
			t.Fatal("p1 never saw p0 alive and fresh")
		}
		time.Sleep(100 * time.Millisecond)
	}

	c := heldConn(t, sys[0].Addr)
	var seen atomic.Int64
	var notAlive atomic.Int64
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			seen.Add(1)
			if a, f := p0Seen(); !a || !f {
				notAlive.Add(1)
			}
		}
	}()
	upgrade(t, sys[0].AdminAddr, pids)
	time.Sleep(3 * time.Second) // several probe rounds and gossip intervals
	close(done)
	<-watched
	if n := notAlive.Load(); n > 0 {
		t.Errorf("p1 saw p0 dead or stale %d times of %d during and after its upgrade", n, seen.Load())
	}
	stillWorks(t, c)
	self, err := admin.NewClient(sys[0].AdminAddr, upgradeToken)
	if err != nil {
		t.Fatal(err)
	}
	// The new process joined under the old name: it hears p1 (in a few
	// gossip rounds, longer on a loaded machine).
	members := 0
	for deadline := time.Now().Add(20 * time.Second); members != 2 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v, err := self.Topology(bg); err == nil {
			members = v.ClusterMembers
		}
	}
	if members != 2 {
		t.Errorf("the upgraded p0 counts %d fresh members, want 2", members)
	}
}

// TestUpgradeWaitsForACommand: a session in the middle of a statement
// longer than upgrade.window finishes it in the old process and moves at
// its next command. The statement waits for a lock the test holds, so that
// it ends when the test says, whatever the machine's speed.
func TestUpgradeWaitsForACommand(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop+"admin_token: "+upgradeToken+"\nupgrade: {window: 3s, keep_parent: false}\n")
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	pids := &pidSet{}
	t.Cleanup(pids.stopAll)

	holder, err := topo.DB(t, topo.Primary, "root", "", "").Conn(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(bg, "SELECT GET_LOCK('upg_wait', 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %d %v", got, err)
	}
	c := heldConn(t, sy.Addr)
	waited := make(chan error, 1)
	go func() {
		var r int
		waited <- c.QueryRowContext(bg, "SELECT GET_LOCK('upg_wait', 60)").Scan(&r)
	}()
	running(t, topo, "SELECT GET_LOCK('upg_wait', 60)")

	out, errOut, code := runAction(t, "upgrade", "--admin", adm, "--token", upgradeToken)
	pids.addFrom(out)
	if code != 0 || !strings.Contains(out, "0 sessions moved; 1 mid-command") {
		t.Fatalf("upgrade: exit %d, want 0 with the waiting session mid-command:\n%s%s", code, out, errOut)
	}
	if _, err := holder.ExecContext(bg, "DO RELEASE_LOCK('upg_wait')"); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("the statement under way failed: %v", err)
	}
	stillWorks(t, c)
	if !waitGone(sy.PID(), 15*time.Second) {
		t.Errorf("the old process %d still runs after its last session moved", sy.PID())
	}
	if got := scrapeMetrics(t, adm).Value("switchyard_upgrade_sessions_total", "result", "adopted"); got != 1 {
		t.Errorf("the new process adopted %v sessions, want the one that was busy", got)
	}
	// The lock it took after the move is its own, on the connection it kept.
	var mine int
	if err := c.QueryRowContext(bg, "SELECT IS_USED_LOCK('upg_wait') = CONNECTION_ID()").Scan(&mine); err != nil || mine != 1 {
		t.Errorf("the moved session does not hold the lock it took: %d %v", mine, err)
	}
}

// TestUpgradeLeavesTLSSessionsToTheOldProcess: a TLS session cannot move
// (crypto/tls keeps its keys); it goes on working on the old process,
// which exits once the client closes it, while a plain session moves.
func TestUpgradeLeavesTLSSessionsToTheOldProcess(t *testing.T) {
	topo := testenv.Topology(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	cert, key := ca.Issue(t, dir, "localhost")
	extra := fmt.Sprintf("%sadmin_token: %s\nupgrade: {window: 20s, keep_parent: false}\ntls: {cert: %q, key: %q}\n", fastStop, upgradeToken, cert, key)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), extra)
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	pids := &pidSet{}
	t.Cleanup(pids.stopAll)

	secure, err := sql.Open("mysql", testenv.DSN(addr, "app", "app", "test")+"&tls=skip-verify")
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	sc, err := secure.Conn(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.QueryRowContext(bg, "SELECT @@version").Scan(new(string)); err != nil {
		t.Fatal(err)
	}
	plain := heldConn(t, addr)

	out, errOut, code := runAction(t, "upgrade", "--admin", adm, "--token", upgradeToken)
	pids.addFrom(out)
	if code != 0 || !strings.Contains(out, "1 sessions moved") || !strings.Contains(out, "(1 TLS, 0 failed to move)") {
		t.Fatalf("upgrade: exit %d, want the plain session moved and the TLS one staying:\n%s%s", code, out, errOut)
	}
	stillWorks(t, plain)
	for range 3 {
		var one int
		if err := sc.QueryRowContext(bg, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("the TLS session broke after the upgrade: %v", err)
		}
	}
	if !alive(sy.PID()) {
		t.Fatal("the old process exited while it still served a TLS session")
	}
	sc.Close()
	secure.Close()
	if !waitGone(sy.PID(), 10*time.Second) {
		t.Errorf("the old process %d still runs after its last (TLS) session closed", sy.PID())
	}
	// New TLS clients go to the new process.
	again, err := sql.Open("mysql", testenv.DSN(addr, "app", "app", "test")+"&tls=skip-verify")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.PingContext(bg); err != nil {
		t.Errorf("a new TLS client after the upgrade: %v", err)
	}
}

// running waits until a server of topo runs the statement.
func running(t *testing.T, topo *testenv.Topo, stmt string) {
	t.Helper()
	var dbs []*sql.DB
	for _, a := range topo.Addrs() {
		dbs = append(dbs, topo.DB(t, a, "root", "", ""))
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, db := range dbs {
			var n int
			if err := db.QueryRowContext(bg, "SELECT COUNT(*) FROM information_schema.processlist WHERE info = ?", stmt).Scan(&n); err == nil && n > 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no server runs %q", stmt)
}

// TestSIGUSR2Upgrades: a process manager's SIGUSR2 does what switchyard
// upgrade does.
func TestSIGUSR2Upgrades(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop+"admin_token: "+upgradeToken+"\nupgrade: {keep_parent: false}\n")
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	pids := &pidSet{}
	t.Cleanup(pids.stopAll)
	c := heldConn(t, addr)
	old := sy.PID()
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if !waitGone(old, 30*time.Second) {
		t.Fatalf("the old process %d still runs 30s after SIGUSR2", old)
	}
	ac, err := admin.NewClient(adm, upgradeToken)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ac.Topology(bg)
	if err != nil {
		t.Fatal(err)
	}
	if v.Upgrade == nil || v.Upgrade.OldPID != old || v.Upgrade.NewPID == old || v.Upgrade.Moved != 1 {
		t.Fatalf("/topology after SIGUSR2: upgrade %+v, want one session moved from %d to a new process", v.Upgrade, old)
	}
	pids.add(v.Upgrade.NewPID)
	stillWorks(t, c)
}
