package health

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

// The tests in this file run real MariaDB servers (a private topology each,
// so that they may kill them) and, for the failover drills, three real
// switchyard processes gossiping on loopback. Each is bounded by a context
// deadline. They run in parallel with each other.

// ---- servers ----

// topoMu serializes starting private topologies: concurrent
// mariadb-install-db runs share the system temporary directory and now and
// then trip on each other's temporary tables (scripts/topology.sh gives
// them no tmpdir of their own).
var topoMu sync.Mutex

func newTopology(t *testing.T) *testenv.Topo {
	t.Helper()
	topoMu.Lock()
	defer topoMu.Unlock()
	return testenv.NewTopology(t)
}

// openServer opens a root handle on a server that may be down.
func openServer(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", testenv.DSN(addr, "root", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// serverView is what a test checks of a server, read directly.
type serverView struct {
	up            bool
	readOnly      bool
	source        string // Master_Host:Master_Port, "" when not replicating
	ioRun, sqlRun bool
	ioErr, sqlErr string
	binlogState   string
	epoch         uint64
	epochPrimary  string
}

func inspect(ctx context.Context, db *sql.DB) serverView {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var v serverView
	if err := db.QueryRowContext(ctx, "SELECT @@read_only, @@gtid_binlog_state").Scan(&v.readOnly, &v.binlogState); err != nil {
		return v
	}
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	// Up only when its replication status was read too: a status that
	// failed to come (ctx ended, say) must not read as "replicates from
	// nothing".
	v.up = err == nil
	if err == nil {
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if rows.Scan(ptrs...) != nil {
				v.up = false
				break
			}
			r := map[string]string{}
			for i, c := range cols {
				r[c] = vals[i].String
			}
			if r["Master_Host"] != "" {
				v.source = r["Master_Host"] + ":" + r["Master_Port"]
				v.ioRun, v.sqlRun = r["Slave_IO_Running"] == "Yes", r["Slave_SQL_Running"] == "Yes"
				v.ioErr, v.sqlErr = r["Last_IO_Error"], r["Last_SQL_Error"]
			}
		}
		if rows.Err() != nil {
			v.up = false
		}
		rows.Close()
	}
	_ = db.QueryRowContext(ctx, "SELECT epoch, primary_name FROM switchyard.epoch WHERE id = 1").Scan(&v.epoch, &v.epochPrimary)
	return v
}

// serverSeq returns the sequence number of the newest GTID that server id
// sid wrote, from a gtid_binlog_state ("0-1-105,0-2-230").
func serverSeq(state string, sid int) string {
	for g := range strings.SplitSeq(state, ",") {
		if parts := strings.Split(g, "-"); len(parts) == 3 && parts[1] == fmt.Sprint(sid) {
			return parts[2]
		}
	}
	return ""
}

// poll calls cond every 100ms until it reports done or ctx ends; it fails
// the test with the last explanation.
func poll(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var why string
	for {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached: %s", what, why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// primaryAmong waits for exactly one server of addrs to be writable and not
// replicating, and every other up server of addrs to replicate from it.
func primaryAmong(t *testing.T, ctx context.Context, dbs map[string]*sql.DB, addrs []string) string {
	t.Helper()
	var primary string
	poll(t, ctx, "one primary, every other server following it", func() (bool, string) {
		views := map[string]serverView{}
		var writable []string
		for _, a := range addrs {
			v := inspect(ctx, dbs[a])
			views[a] = v
			if v.up && !v.readOnly && v.source == "" {
				writable = append(writable, a)
			}
		}
		if len(writable) != 1 {
			return false, fmt.Sprintf("writable: %v; views %+v", writable, views)
		}
		primary = writable[0]
		for _, a := range addrs {
			if v := views[a]; a != primary && v.up && (v.source != primary || !v.ioRun || !v.sqlRun) {
				return false, fmt.Sprintf("%s does not follow %s: %+v", a, primary, v)
			}
		}
		return true, ""
	})
	return primary
}

// ---- writers ----

// writeLog records every write attempt of the writers.
type writeLog struct {
	mu     sync.Mutex
	events []writeEvent
	next   int64
}

type writeEvent struct {
	seq        int64
	start, end time.Time
	err        error
}

func (w *writeLog) seq() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	return w.next
}

func (w *writeLog) add(e writeEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
}

func (w *writeLog) snapshot() []writeEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

func (w *writeLog) acked() []int64 {
	var s []int64
	for _, e := range w.snapshot() {
		if e.err == nil {
			s = append(s, e.seq)
		}
	}
	return s
}

// recovery returns how long after at the first write that started after
// at was acknowledged, the number of failed writes that started after at,
// and a sample of their errors.
func (w *writeLog) recovery(at time.Time) (time.Duration, int, []string) {
	first := time.Duration(-1)
	failed := 0
	var sample []string
	for _, e := range w.snapshot() {
		if e.start.Before(at) {
			continue
		}
		if e.err != nil {
			failed++
			if len(sample) < 3 {
				sample = append(sample, e.err.Error())
			}
			continue
		}
		if d := e.end.Sub(at); first < 0 || d < first {
			first = d
		}
	}
	return first, failed, sample
}

// waitAcked waits until n more writes than now are acknowledged.
func (w *writeLog) waitAcked(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	target := len(w.acked()) + n
	poll(t, ctx, fmt.Sprintf("%d acknowledged writes", target), func() (bool, string) {
		got := len(w.acked())
		return got >= target, fmt.Sprintf("%d acknowledged", got)
	})
}

// runWriters runs n writers until ctx ends, each inserting the next
// sequence number with exec and retrying after a short pause on error.
func runWriters(ctx context.Context, n int, log *writeLog, exec func(ctx context.Context, writer int, seq int64) error) func() {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				seq := log.seq()
				start := time.Now()
				wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := exec(wctx, i, seq)
				cancel()
				if ctx.Err() != nil && err != nil {
					return // stopped, not failed
				}
				log.add(writeEvent{seq: seq, start: start, end: time.Now(), err: err})
				pause := 5 * time.Millisecond
				if err != nil {
					pause = 20 * time.Millisecond
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

// checkAcked fails t unless every acknowledged sequence number is in table
// on the server behind db.
func checkAcked(t *testing.T, ctx context.Context, db *sql.DB, table string, acked []int64) {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT seq FROM "+table)
	if err != nil {
		t.Fatalf("read back %s: %v", table, err)
	}
	defer rows.Close()
	present := map[int64]bool{}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		present[s] = true
	}
	var missing []int64
	for _, s := range acked {
		if !present[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged writes are missing from %s, e.g. %v", len(missing), len(acked), table, missing[:min(10, len(missing))])
	} else {
		t.Logf("all %d acknowledged writes present (%d rows)", len(acked), len(present))
	}
}

// ---- switchyard processes ----

type proxyProc struct {
	*testenv.Switchyard
	name string
}

// topologyView is the part of admin's GET /topology body the tests read
// (admin imports health, so its type cannot be used here).
type topologyView struct {
	Primary            string `json:"primary"`
	RecordedEpoch      uint64 `json:"recorded_epoch"`
	FailoverInProgress bool   `json:"failover_in_progress"`
	Failover           string `json:"failover"`
	ClusterMembers     int    `json:"cluster_members"`
	Servers            []struct {
		Name      string `json:"name"`
		Address   string `json:"address"`
		Fenced    bool   `json:"fenced"`
		LastError string `json:"last_error"`
	} `json:"servers"`
	Members []memberView `json:"members"`
}

// topology reads a proxy's /topology, bounded by 2s.
func (p proxyProc) topology(ctx context.Context) (*topologyView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.AdminAddr+"/topology", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /topology: %s", resp.Status)
	}
	var t topologyView
	return &t, json.NewDecoder(resp.Body).Decode(&t)
}

func (p proxyProc) log(t *testing.T) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startProxies starts n switchyard processes in front of topo that form a
// cluster on loopback, with an encryption key and extra config.
func startProxies(t *testing.T, topo *testenv.Topo, n int, failoverYAML string) []proxyProc {
	t.Helper()
	key := base64.StdEncoding.EncodeToString([]byte("switchyard-test-key-32-bytes!!!!"))
	gossip := make([]string, n)
	for i := range gossip {
		gossip[i] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	type started struct {
		i int
		p *testenv.Switchyard
	}
	var procs []proxyProc
	for i := range n {
		extra := fmt.Sprintf("health: {interval: 500ms, timeout: 1s}\nlog: {level: info}\n%s"+
			"cluster:\n  name: p%d\n  bind: %s\n  join: [%s]\n  expected_size: %d\n  key: %s\n",
			failoverYAML, i, gossip[i], strings.Join(gossip, ", "), n, key)
		yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), extra)
		procs = append(procs, proxyProc{Switchyard: testenv.StartSwitchyard(t, yaml, addr, admin, true), name: fmt.Sprintf("p%d", i)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	poll(t, ctx, "every proxy sees the whole cluster", func() (bool, string) {
		for _, p := range procs {
			tp, err := p.topology(ctx)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", p.name, err)
			}
			if tp.ClusterMembers != n {
				return false, fmt.Sprintf("%s: %d members", p.name, tp.ClusterMembers)
			}
		}
		return true, ""
	})
	return procs
}

func proxyDB(t *testing.T, p proxyProc) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", testenv.DSN(p.Addr, "app", "app", "test"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// ---- the drills ----

// TestFailoverDrill kills -9 the primary of a semi-synchronous topology
// twice, under writers going through three gossiping proxies: each time a
// replica is promoted, the other follows it, writes succeed again within 5s
// and no acknowledged write is lost. In between, the old primary restarts:
// it is fenced read-only and takes no writes.
func TestFailoverDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers and processes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	topo := newTopology(t)
	addrs := topo.Addrs()
	dbs := map[string]*sql.DB{}
	for _, a := range addrs {
		dbs[a] = openServer(t, a)
	}
	topo.EnableSemiSync(t, ctx, topo.Primary, topo.Replica1, topo.Replica2)
	procs := startProxies(t, topo, 3, "failover: {cooldown: 2s, auto_rejoin: true, semi_sync: true, "+
		"replication_user: repl, replication_password: repl}\n")
	checkMembersAgree(t, ctx, procs, "db1", 0)
	checkStatusShowsMembers(t, procs[0], procs, "db1")
	if _, err := proxyDB(t, procs[0]).ExecContext(ctx,
		"CREATE TABLE test.drill (seq BIGINT PRIMARY KEY, writer INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var proxyDBs []*sql.DB
	for _, p := range procs {
		proxyDBs = append(proxyDBs, proxyDB(t, p))
	}
	log := &writeLog{}
	wctx, stopWriters := context.WithCancel(ctx)
	wait := runWriters(wctx, 6, log, func(ctx context.Context, w int, seq int64) error {
		_, err := proxyDBs[w%len(proxyDBs)].ExecContext(ctx, "INSERT INTO test.drill (seq, writer) VALUES (?, ?)", seq, w)
		return err
	})
	defer func() { stopWriters(); wait() }()

	primary := topo.Primary
	alive := slices.Clone(addrs)
	for drill := 1; drill <= 2; drill++ {
		log.waitAcked(t, ctx, 100)
		var before []testenv.Metrics
		if drill == 1 {
			before = scrapeAll(t, ctx, procs)
		}
		killed := primary
		kill := time.Now()
		topo.Kill(t, killed)
		alive = slices.DeleteFunc(alive, func(a string) bool { return a == killed })

		dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
		primary = primaryAmong(t, dctx, dbs, alive)
		poll(t, dctx, "a write acknowledged after the kill", func() (bool, string) {
			d, _, _ := log.recovery(kill)
			return d >= 0, "none yet"
		})
		dcancel()
		recovered, failed, sample := log.recovery(kill)
		t.Logf("drill %d: killed %s, promoted %s; first write acknowledged %v after the kill (%d writes failed meanwhile, e.g. %q)",
			drill, killed, primary, recovered.Round(time.Millisecond), failed, sample)
		if recovered > 5*time.Second {
			t.Errorf("drill %d: writes came back %v after the kill, want within 5s", drill, recovered)
		}
		if v := inspect(ctx, dbs[primary]); v.epoch != uint64(drill) || v.epochPrimary == "" {
			t.Errorf("drill %d: the new primary records epoch %d (%q), want %d", drill, v.epoch, v.epochPrimary, drill)
		}

		if drill == 1 {
			killedName, promotedName := backendName(t, topo, killed), backendName(t, topo, primary)
			mctx, mcancel := context.WithTimeout(ctx, 15*time.Second)
			checkFailoverMetrics(t, mctx, procs, before, killedName, promotedName, 1)
			checkMembersAgree(t, mctx, procs, promotedName, 1)
			mcancel()
			if checkOldPrimaryFenced(t, ctx, topo, procs, dbs, log, killed, primary) {
				alive = append(alive, killed) // a diverged one stays out: it follows no one
			}
		}
	}
	log.waitAcked(t, ctx, 50)
	stopWriters()
	wait()
	checkAcked(t, ctx, dbs[primary], "test.drill", log.acked())

	var promoted int
	for _, p := range procs {
		promoted += strings.Count(p.log(t), `msg="failover: promoted"`)
	}
	if promoted != 2 {
		t.Errorf("%d promotions logged across the proxies, want 2", promoted)
	}
}

// checkOldPrimaryFenced restarts the killed old primary (server id 1) while
// the writers run: it must be read-only at once and write nothing of its own
// (no new GTID of server id 1), then rejoin as a replica of primary — unless
// a transaction in flight at the kill made its history diverge, which the
// proxies must then report as needing an operator. It returns whether the
// old primary rejoined.
func checkOldPrimaryFenced(t *testing.T, ctx context.Context, topo *testenv.Topo, procs []proxyProc,
	dbs map[string]*sql.DB, log *writeLog, old, primary string) (rejoined bool) {
	t.Helper()
	topo.Start(t)
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	v := inspect(rctx, dbs[old])
	own := serverSeq(v.binlogState, 1)
	poll(t, rctx, "the restarted old primary is read-only", func() (bool, string) {
		v := inspect(rctx, dbs[old])
		return v.up && v.readOnly, fmt.Sprintf("%+v", v)
	})
	if _, err := dbs[old].ExecContext(rctx, "SET GLOBAL rpl_semi_sync_master_timeout = 2000"); err != nil {
		t.Fatal(err)
	}
	var report string
	poll(t, rctx, "the old primary rejoins, or is reported", func() (bool, string) {
		if v := inspect(rctx, dbs[old]); v.source == primary && v.ioRun && v.sqlRun {
			report, rejoined = "rejoined as a replica of "+primary, true
			return true, ""
		}
		tp, err := procs[0].topology(rctx)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range tp.Servers {
			if s.Address == old && strings.Contains(s.LastError, "needs an operator") {
				report = s.LastError
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", inspect(rctx, dbs[old]))
	})
	t.Logf("old primary %s: %s", old, report)
	log.waitAcked(t, rctx, 100)
	v = inspect(rctx, dbs[old])
	if !v.readOnly {
		t.Errorf("the restarted old primary is writable: %+v", v)
	}
	if got := serverSeq(v.binlogState, 1); got != own {
		t.Errorf("the restarted old primary wrote GTIDs of its own: server 1 at %s, was %s", got, own)
	}
	return rejoined
}

// TestFailoverNeedsQuorum freezes two of three proxies (SIGSTOP) and kills
// the primary: the lone proxy must not promote. Thawed, the cluster fails
// over once; the old primary, restarted, rejoins as a replica.
func TestFailoverNeedsQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers and processes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	topo := newTopology(t)
	addrs := topo.Addrs()
	dbs := map[string]*sql.DB{}
	for _, a := range addrs {
		dbs[a] = openServer(t, a)
	}
	procs := startProxies(t, topo, 3, "failover: {cooldown: 2s, auto_rejoin: true, "+
		"replication_user: repl, replication_password: repl}\n")
	for _, p := range procs[:2] {
		if err := p.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Cmd.Process.Signal(syscall.SIGCONT) })
	}
	topo.Kill(t, topo.Primary)
	lone := procs[2]

	// Long enough for a verdict several times over (confirm_after 1.5s,
	// views stale after 3s).
	quiet, qcancel := context.WithTimeout(ctx, 8*time.Second)
	for quiet.Err() == nil {
		for _, a := range addrs[1:] {
			if v := inspect(quiet, dbs[a]); v.up && (!v.readOnly || v.source == "") {
				t.Fatalf("%s was promoted or detached by a proxy without quorum: %+v", a, v)
			}
		}
		select {
		case <-quiet.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	qcancel()
	tp, err := lone.topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tp.Failover, "no quorum") || tp.ClusterMembers != 1 || tp.FailoverInProgress {
		t.Errorf("lone proxy: failover %q, members %d, in progress %v", tp.Failover, tp.ClusterMembers, tp.FailoverInProgress)
	}
	checkFrozenMembersDisagree(t, ctx, lone, tp, procs[:2])

	for _, p := range procs[:2] {
		if err := p.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	thawed := time.Now()
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	primary := primaryAmong(t, fctx, dbs, addrs[1:])
	fcancel()
	t.Logf("thawed: %s promoted %v later", primary, time.Since(thawed).Round(time.Millisecond))
	if v := inspect(ctx, dbs[primary]); v.epoch != 1 {
		t.Errorf("epoch %d after one failover, want 1", v.epoch)
	}
	// Every proxy routes to it.
	poll(t, ctx, "every proxy sees the new primary", func() (bool, string) {
		for _, p := range procs {
			tp, err := p.topology(ctx)
			if err != nil {
				return false, err.Error()
			}
			addr := ""
			for _, s := range tp.Servers {
				if s.Name == tp.Primary {
					addr = s.Address
				}
			}
			if addr != primary || tp.FailoverInProgress {
				return false, fmt.Sprintf("%s: primary %q, in progress %v (%s)", p.name, tp.Primary, tp.FailoverInProgress, tp.Failover)
			}
		}
		return true, ""
	})
	checkMembersAgree(t, ctx, procs, backendName(t, topo, primary), 1)

	// The old primary comes back: read-only, then a replica of the new one.
	topo.Start(t)
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	poll(t, rctx, "the old primary rejoins as a replica", func() (bool, string) {
		v := inspect(rctx, dbs[topo.Primary])
		return v.readOnly && v.source == primary && v.ioRun && v.sqlRun, fmt.Sprintf("%+v", v)
	})
	var promoted int
	for _, p := range procs {
		promoted += strings.Count(p.log(t), `msg="failover: promoted"`)
	}
	if promoted != 1 {
		t.Errorf("%d promotions logged across the proxies, want exactly 1", promoted)
	}
}

// TestSwitchoverUnderLoad runs a Monitor in-process against a private
// topology, with writers that behave as the proxy must (hold while
// FailoverInProgress, wait on Updated, write to Primary()): a switchover
// there and back loses and fails nothing.
func TestSwitchoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	topo := newTopology(t)
	addrs := topo.Addrs()
	dbs := map[string]*sql.DB{}
	apps := map[string]*sql.DB{}
	for _, a := range addrs {
		dbs[a] = openServer(t, a)
		h, err := sql.Open("mysql", testenv.DSN(a, "app", "app", "test"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		apps[a] = h
	}
	cfg := testConfig(time.Second, addrs...)
	cfg.Health.Interval = 500 * time.Millisecond
	cfg.Failover = config.Default().Failover
	cfg.Failover.ReplicationUser, cfg.Failover.ReplicationPassword = "repl", "repl"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := mustMonitor(t, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})))
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()
	select {
	case <-m.Ready():
	case <-ctx.Done():
		t.Fatal("not ready")
	}
	if _, err := apps[topo.Primary].ExecContext(ctx, "CREATE TABLE test.sw (seq BIGINT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}

	errHeld := errors.New("held too long")
	log := &writeLog{}
	wctx, stopWriters := context.WithCancel(ctx)
	ackedAt(t, m, "0-1-1") // read by each switchover; the real GTIDs are the proxy's business
	wait := runWriters(wctx, 4, log, func(ctx context.Context, _ int, seq int64) error {
		for {
			ch := m.Updated()
			snap := m.Snapshot()
			p, ok := snap.Primary()
			if snap.FailoverInProgress || !ok {
				select {
				case <-ch:
					continue
				case <-time.After(10 * time.Second):
					return errHeld
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			_, err := apps[p.Address].ExecContext(ctx, "INSERT INTO test.sw (seq) VALUES (?)", seq)
			return err
		}
	})
	defer func() { stopWriters(); wait() }()

	for i, to := range []struct{ name, addr string }{{"db2", topo.Replica1}, {"db1", topo.Primary}} {
		log.waitAcked(t, ctx, 200)
		start := time.Now()
		if _, err := m.Switchover(ctx, to.name); err != nil {
			t.Fatalf("switchover %d to %s: %v", i+1, to.name, err)
		}
		t.Logf("switchover %d to %s took %v", i+1, to.name, time.Since(start).Round(time.Millisecond))
		if p, ok := m.Snapshot().Primary(); !ok || p.Name != to.name || m.Snapshot().FailoverInProgress {
			t.Fatalf("after switchover: primary %v %v, in progress %v", p.Name, ok, m.Snapshot().FailoverInProgress)
		}
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		if got := primaryAmong(t, sctx, dbs, addrs); got != to.addr {
			t.Fatalf("servers say the primary is %s, want %s", got, to.addr)
		}
		poll(t, sctx, "every server has the new epoch", func() (bool, string) {
			for _, a := range addrs {
				if v := inspect(sctx, dbs[a]); v.epoch != uint64(i+1) || v.epochPrimary != to.name {
					return false, fmt.Sprintf("%s: epoch %d %q", a, v.epoch, v.epochPrimary)
				}
			}
			return true, ""
		})
		scancel()
	}
	log.waitAcked(t, ctx, 100)
	stopWriters()
	wait()
	if _, failed, sample := log.recovery(time.Time{}); failed > 0 {
		t.Errorf("%d writes failed during switchovers, e.g. %v", failed, sample)
	}
	checkAcked(t, ctx, dbs[topo.Primary], "test.sw", log.acked())

	for _, tc := range []struct {
		target string
		want   error
	}{{"nope", ErrUnknownBackend}, {"db1", ErrSwitchover}} {
		if _, err := m.Switchover(ctx, tc.target); !errors.Is(err, tc.want) {
			t.Errorf("Switchover(%s) = %v, want %v", tc.target, err, tc.want)
		}
	}
}
