package health

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/health/failover"
)

// lockedBuffer is a log sink the monitor's goroutines may write to while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSwitchoverAllOrNothing: on real servers, a switchover that cannot be
// finished (no replication account, or one that cannot log in) is refused
// before anything changes, and the answer, the metric and the log say
// "refused"; with the account it promotes, and all three say "success".
// On today's main the first one promoted db2 and answered "failed".
func TestSwitchoverAllOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	topo := newTopology(t)
	addrs := topo.Addrs()
	dbs := map[string]*sql.DB{}
	for _, a := range addrs {
		dbs[a] = openServer(t, a)
	}
	cfg := testConfig(time.Second, addrs...)
	cfg.Health.Interval = 200 * time.Millisecond
	logs := &lockedBuffer{}
	m := mustMonitor(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()
	waitPrimaryNamed(t, ctx, m, "db1")

	count := func(o SwitchoverOutcome) float64 {
		return testutil.ToFloat64(m.metrics.switchovers.WithLabelValues(string(o)))
	}
	unchanged := func(step string) {
		t.Helper()
		if got := primaryAmong(t, ctx, dbs, addrs); got != topo.Primary {
			t.Fatalf("%s: the servers' primary is %s, want %s (unchanged)", step, got, topo.Primary)
		}
		for _, a := range addrs {
			if v := inspect(ctx, dbs[a]); v.epoch != 0 {
				t.Fatalf("%s: %s recorded epoch %d: a promotion happened", step, a, v.epoch)
			}
		}
	}

	for i, step := range []struct{ name, user, password, want string }{
		{"no replication_user", "", "", "set failover.replication_user"},
		{"wrong replication_password", "repl", "wrong", `failover.replication_user "repl" cannot log in to db2`},
	} {
		c := cfg
		c.Failover.ReplicationUser, c.Failover.ReplicationPassword = step.user, step.password
		if err := m.Reload(c); err != nil {
			t.Fatal(err)
		}
		res, err := m.Switchover(ctx, "db2")
		if !errors.Is(err, failover.ErrPrecondition) || !strings.Contains(err.Error(), step.want) {
			t.Fatalf("%s: Switchover = %v, want a precondition error containing %q", step.name, err, step.want)
		}
		if res.Outcome != OutcomeRefused || res.Outcome.Promoted() {
			t.Errorf("%s: outcome %q, want refused", step.name, res.Outcome)
		}
		if got := count(OutcomeRefused); got != float64(i+1) {
			t.Errorf("%s: switchovers_total{result=refused} = %v, want %d", step.name, got, i+1)
		}
		unchanged(step.name)
	}
	if got := count(OutcomeSuccess) + count(OutcomeFailed) + count(OutcomeFailedChanged); got != 0 {
		t.Errorf("refused switchovers counted as run: %v", got)
	}
	if l := logs.String(); strings.Contains(l, "switchover: holding writes") || strings.Contains(l, "switchover: done") {
		t.Errorf("a refused switchover held writes or logged done:\n%s", l)
	}

	// A target that cannot catch up in time: the switchover starts, gives
	// up, makes db1 writable again, and says "failure" with nothing
	// changed (409 at the admin API).
	c := cfg
	c.Failover.ReplicationUser, c.Failover.ReplicationPassword = "repl", "repl"
	c.Failover.MaxCatchupWait = time.Second
	if err := m.Reload(c); err != nil {
		t.Fatal(err)
	}
	mustExecOn(t, ctx, dbs[topo.Replica1], "STOP SLAVE SQL_THREAD")
	mustExecOn(t, ctx, dbs[topo.Primary], "CREATE TABLE IF NOT EXISTS test.sw_lag (id INT PRIMARY KEY)")
	res, err := m.Switchover(ctx, "db2")
	if !errors.Is(err, failover.ErrCatchup) || res.Outcome != OutcomeFailed || len(res.Changed) != 0 {
		t.Fatalf("Switchover to a target that cannot catch up = %+v, %v; want failure with nothing changed", res, err)
	}
	if got := count(OutcomeFailed); got != 1 {
		t.Errorf("switchovers_total{result=failure} = %v, want 1", got)
	}
	mustExecOn(t, ctx, dbs[topo.Replica1], "START SLAVE SQL_THREAD")
	unchanged("target behind")
	if v := inspect(ctx, dbs[topo.Primary]); v.readOnly {
		t.Error("db1 was left read-only")
	}

	c.Failover.MaxCatchupWait = cfg.Failover.MaxCatchupWait
	if err := m.Reload(c); err != nil {
		t.Fatal(err)
	}
	res, err = m.Switchover(ctx, "db2")
	if err != nil || res.Outcome != OutcomeSuccess || res.Epoch != 1 || len(res.Warnings) != 0 {
		t.Fatalf("Switchover with the account = %+v, %v; want success at epoch 1", res, err)
	}
	if got := count(OutcomeSuccess); got != 1 {
		t.Errorf("switchovers_total{result=success} = %v, want 1", got)
	}
	if got := primaryAmong(t, ctx, dbs, addrs); got != topo.Replica1 {
		t.Errorf("the servers' primary is %s, want db2 (%s), with db1 following it", got, topo.Replica1)
	}
	if l := logs.String(); !strings.Contains(l, `msg="switchover: done; releasing writes"`) || !strings.Contains(l, "outcome=success") {
		t.Errorf("the log does not say the switchover succeeded:\n%s", l)
	}
}

func mustExecOn(t *testing.T, ctx context.Context, db *sql.DB, stmt string) {
	t.Helper()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// waitPrimaryNamed waits for m's snapshot to name the primary.
func waitPrimaryNamed(t *testing.T, ctx context.Context, m *Monitor, name string) {
	t.Helper()
	poll(t, ctx, "primary "+name, func() (bool, string) {
		p, ok := m.Snapshot().Primary()
		return ok && p.Name == name, p.Name
	})
}
