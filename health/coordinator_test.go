package health

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health/cluster"
	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// ackedAt makes m read pos as the newest position its proxy acknowledged.
func ackedAt(t testing.TB, m *Monitor, pos string) {
	t.Helper()
	p, err := gtid.Parse(pos)
	if err != nil {
		t.Fatal(err)
	}
	m.AckedFrom(func() gtid.Position { return p })
}

func TestFencedByNewerEpoch(t *testing.T) {
	leakCheck(t)
	// db1 came back writable after db2 was promoted in epoch 2; db3
	// follows db2 and has its copy of the epoch.
	oldPrimary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-10", epoch: []row{{"epoch": "1", "primary_name": "db1"}}})
	newPrimary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-2-20", epoch: []row{{"epoch": "2", "primary_name": "db2"}}})
	r := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-2-20", status: replicaOf(newPrimary.addr()),
		epoch: []row{{"epoch": "2", "primary_name": "db2"}}})
	m := mustMonitor(t, testConfig(2*time.Second, oldPrimary.addr(), newPrimary.addr(), r.addr()), nil)
	defer m.Close()
	m.ProbeOnce(t.Context())
	snap := m.Snapshot()
	p, ok := snap.Primary()
	if !ok || p.Name != "db2" {
		t.Fatalf("Primary() = %v %v, want db2; servers %+v", p.Name, ok, snap.Servers)
	}
	if snap.RecordedEpoch != 2 || snap.RecordedPrimary != "db2" || snap.Epoch < 2 {
		t.Errorf("epochs: recorded %d %q, snapshot %d", snap.RecordedEpoch, snap.RecordedPrimary, snap.Epoch)
	}
	old, _ := snap.Server("db1")
	if !old.Fenced || old.Role != RoleUnknown || old.RecordedEpoch != 1 || !strings.Contains(old.LastError, "fenced") {
		t.Errorf("old primary = %+v", old)
	}

	// The epoch is never forgotten: with db2 and db3 gone, db1 stays fenced.
	newPrimary.close()
	r.close()
	m.ProbeOnce(t.Context())
	if p, ok := m.Snapshot().Primary(); ok {
		t.Errorf("after the new primary died, Primary() = %s: a stale primary got writes back", p.Name)
	}
}

func TestUpdatedClosesOnPublish(t *testing.T) {
	leakCheck(t)
	db := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	m := mustMonitor(t, testConfig(time.Second, db.addr()), nil)
	defer m.Close()
	ch := m.Updated()
	select {
	case <-ch:
		t.Fatal("closed before any publish")
	default:
	}
	m.ProbeOnce(t.Context())
	select {
	case <-ch:
	default:
		t.Fatal("not closed by a publish")
	}
	if m.Updated() == ch {
		t.Error("the new snapshot reuses the closed channel")
	}
	// A cancelled round publishes nothing.
	ch = m.Updated()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m.ProbeOnce(ctx)
	select {
	case <-ch:
		t.Error("closed by a cancelled round")
	default:
	}
}

func TestReload(t *testing.T) {
	leakCheck(t)
	a := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	b := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-1", status: replicaOf(a.addr())})
	cfg := testConfig(time.Second, a.addr())
	m := mustMonitor(t, cfg, nil)
	defer m.Close()
	m.ProbeOnce(t.Context())

	bad := cfg
	bad.Backends = nil
	if err := m.Reload(bad); err == nil {
		t.Fatal("reload of an invalid config succeeded")
	}
	m.roundMu.Lock()
	kept := m.backends[0]
	m.roundMu.Unlock()
	// A TLS file that does not load refuses the whole reload.
	noCA := testConfig(time.Second, a.addr(), b.addr())
	noCA.Health.Interval = 300 * time.Millisecond
	noCA.BackendTLS = config.BackendTLS{Mode: config.TLSVerifyCA, CA: filepath.Join(t.TempDir(), "gone.pem")}
	if err := m.Reload(noCA); err == nil || !strings.Contains(err.Error(), "backend_tls: ca:") {
		t.Fatalf("reload with a missing CA file: %v; want it refused, naming backend_tls", err)
	}
	m.roundMu.Lock()
	unchanged := len(m.backends) == 1 && m.backends[0] == kept && m.config().Health.Interval == cfg.Health.Interval &&
		m.tls.Load().For("db1").Mode == config.TLSPreferred
	m.roundMu.Unlock()
	if !unchanged {
		t.Fatal("a reload refused for its TLS file changed the running config")
	}
	// A changed TLS policy replaces the prober: its connection was made
	// under the old one.
	disabled := cfg
	disabled.BackendTLS = config.BackendTLS{Mode: config.TLSDisabled}
	if err := m.Reload(disabled); err != nil {
		t.Fatal(err)
	}
	m.roundMu.Lock()
	replaced := m.backends[0] != kept
	kept = m.backends[0]
	m.roundMu.Unlock()
	if !replaced {
		t.Error("the prober survived a change of its TLS policy")
	}
	next := testConfig(time.Second, a.addr(), b.addr())
	next.BackendTLS = disabled.BackendTLS
	next.Health.Interval = 300 * time.Millisecond
	if err := m.Reload(next); err != nil {
		t.Fatal(err)
	}
	m.roundMu.Lock()
	same := m.backends[0] == kept
	m.roundMu.Unlock()
	if !same {
		t.Error("the unchanged backend's prober (and its connection) was replaced")
	}
	m.ProbeOnce(t.Context())
	snap := m.Snapshot()
	if len(snap.Servers) != 2 {
		t.Fatalf("servers after reload: %+v", snap.Servers)
	}
	if s, _ := snap.Server("db2"); s.Role != RoleReplica {
		t.Errorf("new backend: %+v", s)
	}
	if m.config().Health.Interval != 300*time.Millisecond {
		t.Errorf("interval not applied")
	}
	// Removing a backend closes its prober and drops it from snapshots.
	if err := m.Reload(testConfig(time.Second, b.addr())); err != nil {
		t.Fatal(err)
	}
	m.ProbeOnce(t.Context())
	if snap := m.Snapshot(); len(snap.Servers) != 1 || snap.Servers[0].Address != b.addr() {
		t.Errorf("after removing: %+v", snap.Servers)
	}
}

func TestMetricsLint(t *testing.T) {
	leakCheck(t)
	a := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	b := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-1", status: replicaOf(a.addr())})
	m := mustMonitor(t, testConfig(time.Second, a.addr(), b.addr()), nil)
	defer m.Close()
	m.ProbeOnce(t.Context())
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := m.Register(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, c := range []prometheus.Collector{m.metrics.failovers, m.metrics.duration, m.metrics.missing, snapshotCollector{m}} {
		if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
			t.Errorf("CollectAndLint: %v %v", problems, err)
		}
	}
	want := `
# HELP switchyard_backend_up Whether the last probe of the backend succeeded (1) or not (0).
# TYPE switchyard_backend_up gauge
switchyard_backend_up{backend="db1"} 1
switchyard_backend_up{backend="db2"} 1
# HELP switchyard_backend_role The backend's discovered role: 1 for its current role, 0 for the others.
# TYPE switchyard_backend_role gauge
switchyard_backend_role{backend="db1",role="primary"} 1
switchyard_backend_role{backend="db1",role="replica"} 0
switchyard_backend_role{backend="db1",role="unknown"} 0
switchyard_backend_role{backend="db2",role="primary"} 0
switchyard_backend_role{backend="db2",role="replica"} 1
switchyard_backend_role{backend="db2",role="unknown"} 0
# HELP switchyard_backend_replication_lag_seconds Replication lag of a replica (Seconds_Behind_Master), when known.
# TYPE switchyard_backend_replication_lag_seconds gauge
switchyard_backend_replication_lag_seconds{backend="db2"} 3
# HELP switchyard_cluster_members Proxies of the cluster whose views are fresh, this one included.
# TYPE switchyard_cluster_members gauge
switchyard_cluster_members 1
# HELP switchyard_cluster_members_agreeing Proxies of the cluster whose fresh view names the same primary, epoch and backend states as this proxy's, this one included.
# TYPE switchyard_cluster_members_agreeing gauge
switchyard_cluster_members_agreeing 1
# HELP switchyard_failovers_total Failovers this proxy coordinated (automatic and manual), by result.
# TYPE switchyard_failovers_total counter
switchyard_failovers_total{result="failure"} 0
switchyard_failovers_total{result="success"} 0
# HELP switchyard_acknowledged_writes_missing_total Acknowledged transactions that a newly promoted primary lacked.
# TYPE switchyard_acknowledged_writes_missing_total counter
switchyard_acknowledged_writes_missing_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"switchyard_backend_up", "switchyard_backend_role", "switchyard_backend_replication_lag_seconds",
		"switchyard_cluster_members", "switchyard_cluster_members_agreeing", "switchyard_failovers_total", "switchyard_acknowledged_writes_missing_total"); err != nil {
		t.Error(err)
	}
}

func TestSwitchoverNeedsRun(t *testing.T) {
	m := mustMonitor(t, testConfig(time.Second, "127.0.0.1:1"), nil)
	if _, err := m.Switchover(t.Context(), "db1"); err != ErrNotRunning {
		t.Errorf("Switchover without Run = %v", err)
	}
}

func TestConfigDefaultsFilled(t *testing.T) {
	c := testConfig(time.Second, "127.0.0.1:1")
	c.Failover = config.Failover{}
	m := mustMonitor(t, c, nil)
	if m.config().Failover != config.Default().Failover {
		t.Errorf("hand-built config without failover: %+v", m.config().Failover)
	}
}

// TestRunWithCluster runs two monitors that gossip on loopback over fake
// servers: each counts the other as a member, hears its acknowledged GTIDs,
// and Run stops everything it started (the leak check) when cancelled.
func TestRunWithCluster(t *testing.T) {
	leakCheck(t)
	primary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-42"})
	replica := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-42", status: replicaOf(primary.addr())})
	binds := []string{deadAddr(t), deadAddr(t)}
	var mons []*Monitor
	for i, name := range []string{"a", "b"} {
		cfg := testConfig(time.Second, primary.addr(), replica.addr())
		cfg.Health.Interval = 100 * time.Millisecond
		cfg.Cluster = &config.Cluster{Name: name, Bind: binds[i], Join: binds, ExpectedSize: 2,
			Key: "AAECAwQFBgcICQoLDA0ODw=="}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		mons = append(mons, mustMonitor(t, cfg, nil))
	}
	var wg sync.WaitGroup
	var stops []context.CancelFunc
	for _, m := range mons {
		ctx, cancel := context.WithCancel(t.Context())
		stops = append(stops, cancel)
		wg.Go(func() {
			if err := m.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	ackedAt(t, mons[0], "0-1-41")
	deadline := time.Now().Add(15 * time.Second)
	for {
		a, b := mons[0].Snapshot(), mons[1].Snapshot()
		cl := mons[1].cl.Load()
		var acked string
		if cl != nil {
			for _, v := range cl.Peers(time.Minute) {
				acked = v.Acked
			}
		}
		if a.ClusterMembers == 2 && b.ClusterMembers == 2 && acked == "0-1-41" {
			if p, ok := b.Primary(); !ok || p.Name != "db1" || b.FailoverInProgress || !strings.HasPrefix(b.Failover, "healthy") {
				t.Errorf("b: primary %v %v, failover %q", p.Name, ok, b.Failover)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %d/%d, acked heard %q", a.ClusterMembers, b.ClusterMembers, acked)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// b lists itself first, then a with a's view: the same primary and
	// roles, so it agrees.
	waitMembers(t, mons[1], "a's view agrees", func(ms []Member) bool {
		return len(ms) == 2 && ms[1].Agrees && ms[1].Primary == "db1"
	})
	ms := mons[1].Members()
	if self := ms[0]; !self.Self || self.Name != "b" || self.Address != binds[1] || !self.Agrees || self.Primary != "db1" {
		t.Errorf("b's own entry: %+v", self)
	}
	a := ms[1]
	want := []MemberServer{{Name: "db1", Up: true, Role: RolePrimary, GTID: "0-1-42"}, {Name: "db2", Up: true, Role: RoleReplica, GTID: "0-1-42"}}
	if a.Name != "a" || a.Self || !a.Alive || !a.Fresh || a.Address != binds[0] || a.UpdatedAt.IsZero() ||
		!strings.HasPrefix(a.Failover, "healthy") || !slices.Equal(a.Servers, want) || len(a.Disagreements) != 0 {
		t.Errorf("a as b sees it: %+v", a)
	}

	// a stops: it leaves gossip at once, and its last view goes stale.
	stops[0]()
	waitMembers(t, mons[1], "a gone and stale", func(ms []Member) bool {
		return len(ms) == 2 && !ms[1].Alive && !ms[1].Fresh && !ms[1].Agrees
	})
	if d := mons[1].Members()[1].Disagreements; len(d) == 0 || !strings.HasPrefix(d[0], "no view for") {
		t.Errorf("stale member's disagreements: %q", d)
	}
}

// waitMembers polls m.Members until cond holds, or 10s.
func waitMembers(t *testing.T, m *Monitor, what string, cond func([]Member) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(m.Members()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen; members: %+v", what, m.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSnapshot waits on Updated until cond holds for a snapshot, or 10s.
func waitSnapshot(t *testing.T, m *Monitor, what string, cond func(*Topology) bool) *Topology {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		ch := m.Updated()
		if s := m.Snapshot(); cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-timer.C:
			s := m.Snapshot()
			t.Fatalf("%s: not seen; last: in progress %v, failover %q", what, s.FailoverInProgress, s.Failover)
		}
	}
}

// TestRunFailoverStates follows FailoverInProgress through a failure of the
// primary, over fake servers that cannot be promoted: held while suspect,
// then released when the attempt fails (reported, retried later).
func TestRunFailoverStates(t *testing.T) {
	leakCheck(t)
	primary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-42"})
	replica := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-42", status: replicaOf(primary.addr())})
	cfg := testConfig(time.Second, primary.addr(), replica.addr())
	cfg.Health.Interval = 100 * time.Millisecond
	cfg.Failover.ConfirmAfter = 300 * time.Millisecond
	m := mustMonitor(t, cfg, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitSnapshot(t, m, "primary", func(s *Topology) bool { _, ok := s.Primary(); return ok })

	primary.close()
	// The replica's I/O thread loses its source too.
	replica.set(func(s *fakeState) {
		s.status = []row{with(replicaOf(primary.addr())[0], "Slave_IO_Running", "Connecting")}
	})
	waitSnapshot(t, m, "writes held while the primary is suspect", func(s *Topology) bool {
		_, ok := s.Primary()
		return !ok && s.FailoverInProgress && strings.HasPrefix(s.Failover, "suspect")
	})
	s := waitSnapshot(t, m, "the failed attempt reported, writes released", func(s *Topology) bool {
		return !s.FailoverInProgress && strings.Contains(s.Failover, "failover attempt failed")
	})
	if !strings.Contains(s.Failover, "guard not acquired") {
		t.Errorf("failover = %q", s.Failover)
	}
	if got := testutil.ToFloat64(m.metrics.failovers.WithLabelValues("failure")); got < 1 {
		t.Errorf("failovers_total{failure} = %v", got)
	}
}

// TestRunNoQuorum: a proxy of a three-proxy cluster alone never acts, and
// does not hold writes for a failover that cannot come.
func TestRunNoQuorum(t *testing.T) {
	leakCheck(t)
	primary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-42"})
	replica := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-42", status: replicaOf(primary.addr())})
	cfg := testConfig(time.Second, primary.addr(), replica.addr())
	cfg.Health.Interval = 100 * time.Millisecond
	cfg.Failover.ConfirmAfter = 200 * time.Millisecond
	cfg.Cluster = &config.Cluster{Name: "lone", Bind: deadAddr(t), Join: []string{deadAddr(t)}, ExpectedSize: 3}
	m := mustMonitor(t, cfg, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitSnapshot(t, m, "primary", func(s *Topology) bool { _, ok := s.Primary(); return ok })
	primary.close()
	s := waitSnapshot(t, m, "blocked on quorum", func(s *Topology) bool {
		return strings.HasPrefix(s.Failover, "blocked: no quorum")
	})
	if s.FailoverInProgress || s.ClusterMembers != 1 {
		t.Errorf("in progress %v, members %d", s.FailoverInProgress, s.ClusterMembers)
	}
	if got := testutil.ToFloat64(m.metrics.failovers.WithLabelValues("failure")) +
		testutil.ToFloat64(m.metrics.failovers.WithLabelValues("success")); got != 0 {
		t.Errorf("a proxy without quorum attempted %v failovers", got)
	}
}

func TestAckedPositionMergesPeers(t *testing.T) {
	m := mustMonitor(t, testConfig(time.Second, "127.0.0.1:1"), nil)
	ackedAt(t, m, "0-1-40,1-1-3")
	peers := []cluster.View{{Acked: "0-2-45"}, {Acked: "0-1-41,garbage"}, {Acked: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}}
	if got := m.ackedPosition(failover.MariaDB, peers).String(); got != "0-2-45,1-1-3" {
		t.Errorf("acked = %q", got)
	}
}

func TestReportFailureWakesRun(t *testing.T) {
	m := mustMonitor(t, testConfig(time.Second, "127.0.0.1:3306"), nil)
	m.ReportFailure("nope")
	select {
	case <-m.kick:
		t.Fatal("an unknown backend woke Run")
	default:
	}
	m.ReportFailure("db1")
	select {
	case <-m.kick:
	default:
		t.Fatal("ReportFailure did not wake Run")
	}
	m.ReportFailure("127.0.0.1:3306") // within reportGap: ignored, never blocks
	select {
	case <-m.kick:
		t.Fatal("reports were not rate-limited")
	default:
	}
}
