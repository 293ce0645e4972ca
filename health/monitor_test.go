package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
)

const mariaVersion = "10.11.6-MariaDB-0+deb12u1"

func testConfig(timeout time.Duration, addrs ...string) config.Config {
	c := config.Default()
	c.Users = []config.User{{Name: "app"}}
	c.Monitor = config.Monitor{User: "root"}
	c.Health.Interval = 20 * time.Millisecond
	c.Health.Timeout = timeout
	for i, a := range addrs {
		c.Backends = append(c.Backends, config.Backend{
			Name: "db" + string(rune('1'+i)), Address: a, Region: "eu-west", Zone: "eu-west-1a",
		})
	}
	return c
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func replicaOf(source string) []row {
	host, port, _ := net.SplitHostPort(source)
	return []row{with(mariaReplicaRow, "Master_Host", host, "Master_Port", port)}
}

func TestMonitorSnapshotBeforeProbe(t *testing.T) {
	leakCheck(t)
	m := mustMonitor(t, testConfig(time.Second, "127.0.0.1:1", "127.0.0.1:2"), nil)
	snap := m.Snapshot()
	if snap == nil || len(snap.Servers) != 2 || snap.Epoch != 0 || !snap.ProbedAt.IsZero() {
		t.Fatalf("initial snapshot = %+v", snap)
	}
	for _, s := range snap.Servers {
		if s.Role != RoleUnknown || s.Up || s.Lag != -1 || s.Region != "eu-west" {
			t.Errorf("initial server = %+v", s)
		}
	}
	if _, ok := snap.Primary(); ok {
		t.Error("primary before any probe")
	}
	select {
	case <-m.Ready():
		t.Error("Ready closed before any probe")
	default:
	}
}

func TestMonitorDiscoversRoles(t *testing.T) {
	leakCheck(t)
	primary := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-42"})
	r1 := newFakeDB(t, mariaVersion, fakeState{readOnly: true, gtid: "0-1-40", status: replicaOf(primary.addr())})
	r2 := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-41", status: replicaOf(primary.addr())})
	mysqlReplica := newFakeDB(t, "8.0.36", fakeState{readOnly: true, gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
		status: []row{with(mysqlReplicaRow, "Source_Host", "127.0.0.1", "Source_Port", "1")}})
	dead := deadAddr(t)

	m := mustMonitor(t, testConfig(2*time.Second, primary.addr(), r1.addr(), r2.addr(), mysqlReplica.addr(), dead), nil)
	defer m.Close()
	m.ProbeOnce(t.Context())

	select {
	case <-m.Ready():
	default:
		t.Fatal("Ready not closed after a round")
	}
	snap := m.Snapshot()
	if snap.Epoch != 1 || snap.ProbedAt.IsZero() {
		t.Errorf("epoch %d probedAt %v", snap.Epoch, snap.ProbedAt)
	}
	p, ok := snap.Primary()
	if !ok || p.Name != "db1" || p.GTIDCurrent != "0-1-42" || p.Flavor != FlavorMariaDB || p.Version != mariaVersion ||
		p.ReadOnly || p.Replicating || p.Lag != -1 || p.RTT <= 0 || p.LastError != "" {
		t.Errorf("primary = %+v, %v", p, ok)
	}
	for _, name := range []string{"db2", "db3"} {
		s, _ := snap.Server(name)
		if s.Role != RoleReplica || !s.Up || s.SourceAddress != primary.addr() || s.Lag != 3*time.Second ||
			!s.IOThreadRunning || !s.SQLThreadRunning || s.Flavor != FlavorMariaDB {
			t.Errorf("%s = %+v", name, s)
		}
	}
	my, _ := snap.Server("db4")
	if my.Role != RoleReplica || my.Flavor != FlavorMySQL || my.SourceAddress != "127.0.0.1:1" || my.Lag != 0 ||
		my.GTIDCurrent != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5" {
		t.Errorf("mysql replica = %+v", my)
	}
	d, _ := snap.Server("db5")
	if d.Up || d.Role != RoleUnknown || !strings.Contains(d.LastError, "refused") || d.FailedProbes != 1 {
		t.Errorf("dead backend = %+v", d)
	}

	// The same connections serve the next round.
	m.ProbeOnce(t.Context())
	if n := primary.acceptCount(); n != 1 {
		t.Errorf("primary accepted %d connections over two rounds, want 1 (kept open)", n)
	}
	if s, _ := m.Snapshot().Server("db5"); s.FailedProbes != 2 {
		t.Errorf("FailedProbes = %d after two failed rounds", s.FailedProbes)
	}
	if m.Snapshot().Epoch != 1 {
		t.Errorf("epoch moved without a primary change: %d", m.Snapshot().Epoch)
	}
}

func TestMonitorSplitBrain(t *testing.T) {
	leakCheck(t)
	a := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-5"})
	b := newFakeDB(t, mariaVersion, fakeState{gtid: "0-2-5"})
	m := mustMonitor(t, testConfig(10*time.Second, a.addr(), b.addr()), nil) // generous: CI machines stall
	defer m.Close()
	m.ProbeOnce(t.Context())
	snap := m.Snapshot()
	if p, ok := snap.Primary(); ok {
		t.Fatalf("picked %s as primary among two writable servers", p.Name)
	}
	for _, s := range snap.Servers {
		if !s.Up || s.Role != RoleUnknown || !strings.Contains(s.LastError, "refusing to pick a primary") {
			t.Errorf("%s = %+v", s.Name, s)
		}
	}

	// Fencing one resolves it, and the epoch moves.
	b.set(func(s *fakeState) { s.readOnly = true })
	m.ProbeOnce(t.Context())
	if p, ok := m.Snapshot().Primary(); !ok || p.Name != "db1" || m.Snapshot().Epoch != 1 {
		t.Errorf("after fencing db2: primary %v %v epoch %d", p.Name, ok, m.Snapshot().Epoch)
	}
}

func TestMonitorReconnects(t *testing.T) {
	leakCheck(t)
	db := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	m := mustMonitor(t, testConfig(2*time.Second, db.addr()), nil)
	defer m.Close()
	m.ProbeOnce(t.Context())

	// A restart kills the kept connection; the server is back at once, so
	// the probe must retry on a fresh connection rather than report it down.
	db.dropConns()
	m.ProbeOnce(t.Context())
	if s, _ := m.Snapshot().Server("db1"); !s.Up || s.Role != RolePrimary {
		t.Errorf("after a dropped connection: %+v", s)
	}
	if n := db.acceptCount(); n != 2 {
		t.Errorf("accepted %d connections, want 2", n)
	}
}

func TestMonitorTimeoutBoundsRound(t *testing.T) {
	leakCheck(t)
	// A listener that accepts and never speaks: the handshake must time out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A server that stops answering queries after connecting.
	hung := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})

	const timeout = 200 * time.Millisecond
	m := mustMonitor(t, testConfig(timeout, silent.Addr().String(), hung.addr()), nil)
	defer m.Close()
	m.ProbeOnce(t.Context())
	hung.set(func(s *fakeState) { s.hang = true })

	start := time.Now()
	m.ProbeOnce(t.Context())
	if el := time.Since(start); el > 5*timeout {
		t.Errorf("round took %v with a %v timeout", el, timeout)
	}
	for _, s := range m.Snapshot().Servers {
		if s.Up || !strings.Contains(s.LastError, "deadline exceeded") && !strings.Contains(s.LastError, "timeout") {
			t.Errorf("%s = up %v, error %q; want down on timeout", s.Name, s.Up, s.LastError)
		}
	}
}

func TestMonitorCancelledRoundIsNotPublished(t *testing.T) {
	leakCheck(t)
	db := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	m := mustMonitor(t, testConfig(time.Second, db.addr()), nil)
	defer m.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	before := m.Snapshot()
	m.ProbeOnce(ctx)
	if m.Snapshot() != before {
		t.Error("a cancelled round published a snapshot")
	}
	select {
	case <-m.Ready():
		t.Error("Ready closed by a cancelled round")
	default:
	}
}

func TestMonitorRun(t *testing.T) {
	leakCheck(t)
	db := newFakeDB(t, mariaVersion, fakeState{gtid: "0-1-1"})
	m := mustMonitor(t, testConfig(time.Second, db.addr()), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	select {
	case <-m.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	if err := m.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	// Rounds keep coming: a change is seen without calling ProbeOnce.
	db.set(func(s *fakeState) { s.gtid = "0-1-99" })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := m.Snapshot().Server("db1"); s.GTIDCurrent == "0-1-99" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GTID change not seen within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// mustMonitor is NewMonitor for a config whose TLS files load.
func mustMonitor(t testing.TB, cfg config.Config, logger *slog.Logger) *Monitor {
	t.Helper()
	m, err := NewMonitor(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRecentRTTs: the distance is the least of the last rttWindow round
// trips, so one slow probe (a busy server) does not move a server away,
// and a lasting change shows once the window has passed.
func TestRecentRTTs(t *testing.T) {
	var r recentRTTs
	ms := time.Millisecond
	if got := r.add(2 * ms); got != 2*ms {
		t.Fatalf("first probe: %v, want 2ms", got)
	}
	if got := r.add(ms / 5); got != ms/5 {
		t.Fatalf("a faster probe: %v, want 200µs", got)
	}
	for i := range rttWindow - 1 {
		if got := r.add(3 * ms); got != ms/5 {
			t.Fatalf("slow probe %d after a fast one: %v, want 200µs", i+1, got)
		}
	}
	if got := r.add(3 * ms); got != 3*ms {
		t.Fatalf("after %d slow probes: %v, want 3ms", rttWindow, got)
	}
}

// TestSilentProbeFailure: a probe failure counts as silence (the server
// may hang) only when the server answered nothing.
func TestSilentProbeFailure(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"timed out before any answer", fmt.Errorf("%w (%w)", context.DeadlineExceeded, os.ErrDeadlineExceeded), true},
		{"login refused (1045)", &mysql.MyError{Code: 1045, State: "28000", Message: "Access denied"}, false},
		{"too many connections (1040), wrapped", fmt.Errorf("connect: %w", &mysql.MyError{Code: 1040}), false},
		{"a later query timed out", fmt.Errorf("%w (%w)", context.DeadlineExceeded, answeredError{os.ErrDeadlineExceeded}), false},
	} {
		if got := silent(c.err); got != c.want {
			t.Errorf("%s: silent = %v, want %v", c.name, got, c.want)
		}
	}
}
