package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// TestAbortIfOnFormerPrimary checks which running statements a promotion
// ends: only one on a primary connection of an older epoch to a server
// that is no longer the primary, and only once.
func TestAbortIfOnFormerPrimary(t *testing.T) {
	// Epoch 2: db1 is the primary, db0 (the former one) is down, db2 is a
	// replica, db3 was the primary before a switchover and is up.
	topo := &health.Topology{Epoch: 2, Servers: []health.Server{
		{Name: "db0", Role: health.RoleUnknown, Up: false},
		{Name: "db1", Role: health.RolePrimary, Up: true},
		{Name: "db2", Role: health.RoleReplica, Up: true},
		{Name: "db3", Role: health.RoleReplica, Up: true},
	}}
	if p, ok := topo.Primary(); !ok || p.Name != "db1" {
		t.Fatalf("test topology: primary %v %v", p.Name, ok)
	}
	cases := []struct {
		name      string
		onPrimary bool
		epoch     uint64
		server    string
		wantAbort bool
	}{
		{"replica connection", false, 1, "db2", false},
		{"primary connection of this epoch", true, 2, "db1", false},
		{"same primary seen again at a newer epoch", true, 1, "db1", false},
		{"former primary, up after a switchover", true, 1, "db3", false},
		{"former primary, down", true, 1, "db0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, aborted := sessionRunningOn(t, tc.server, tc.onPrimary, tc.epoch)
			for range 2 { // a second snapshot of the same epoch changes nothing
				s.abortIfOnFormerPrimary(topo)
			}
			aborts := testutil.ToFloat64(s.srv.metrics.formerPrimaryAborts)
			closed := aborted()
			if want := map[bool]float64{true: 1, false: 0}[tc.wantAbort]; aborts != want || closed != tc.wantAbort {
				t.Fatalf("aborts %v, socket closed %v; want %v, %v", aborts, closed, want, tc.wantAbort)
			}
		})
	}
	// Nothing running: nothing to end.
	s := &Session{srv: &Server{metrics: newMetrics()}, log: slog.New(slog.DiscardHandler)}
	s.abortIfOnFormerPrimary(topo)
}

// TestAbortIfOnGoneReplica checks which running statements on replicas are
// ended: only on a replica down for two probes and confirm_after, once,
// and not as a kill is (so that a read may run again).
func TestAbortIfOnGoneReplica(t *testing.T) {
	now := time.Now()
	confirm := 1500 * time.Millisecond
	topo := &health.Topology{Epoch: 1, Servers: []health.Server{
		{Name: "db1", Role: health.RolePrimary, Up: true},
		{Name: "up", Role: health.RoleReplica, Up: true},
		{Name: "one-miss", Up: false, Silent: true, FailedProbes: 1, DownSince: now.Add(-5 * time.Second)},
		{Name: "recent", Up: false, Silent: true, FailedProbes: 3, DownSince: now.Add(-time.Second)},
		{Name: "refuses-monitor", Up: false, Silent: false, FailedProbes: 3, DownSince: now.Add(-5 * time.Second)},
		{Name: "gone", Up: false, Silent: true, FailedProbes: 3, DownSince: now.Add(-2 * time.Second)},
	}}
	cases := []struct {
		name      string
		server    string
		onPrimary bool
		wantAbort bool
	}{
		{"replica up", "up", false, false},
		{"one failed probe (a busy replica)", "one-miss", false, false},
		{"down for less than confirm_after", "recent", false, false},
		{"answering, but refusing the monitor", "refuses-monitor", false, false},
		{"down for confirm_after", "gone", false, true},
		{"a primary connection to a down server (the former-primary rule's)", "gone", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, aborted := sessionRunningOn(t, tc.server, tc.onPrimary, 1)
			for range 2 { // the next snapshot does not abort it again
				s.abortIfOnGoneReplica(topo, confirm, now)
			}
			aborts := testutil.ToFloat64(s.srv.metrics.downReplicaAborts)
			closed := aborted()
			s.retryRead = true // the watcher's abort leaves a read free to run again
			if want := map[bool]float64{true: 1, false: 0}[tc.wantAbort]; aborts != want || closed != tc.wantAbort || !s.mayRetryRead(nil) {
				t.Fatalf("aborts %v, socket closed %v, a read may run again %v; want %v, %v, true", aborts, closed, s.mayRetryRead(nil), want, tc.wantAbort)
			}
		})
	}
	if anyDownLongEnough(topo, confirm, now.Add(-time.Second)) {
		t.Error("anyDownLongEnough: true a second earlier, when no server was down for confirm_after")
	}
}

// sessionRunningOn returns a session whose current command runs on a
// connection to server, and a func that tells whether that connection was
// aborted (closed under it).
func sessionRunningOn(t *testing.T, server string, onPrimary bool, epoch uint64) (*Session, func() bool) {
	s := &Session{srv: &Server{metrics: newMetrics()}, log: slog.New(slog.DiscardHandler)}
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	go func() { _, _ = io.Copy(io.Discard, b) }() // a write to an open pipe returns
	s.setCur(&backend.Conn{Conn: wire.NewConn(a, 16, 16), Name: server, OnPrimary: onPrimary, Epoch: epoch})
	return s, func() bool {
		_, err := a.Write([]byte{0})
		return err != nil
	}
}

// TestMayRetryRead: a read whose connection failed runs again only if
// nothing of its answer reached the client and nobody ended it on purpose.
func TestMayRetryRead(t *testing.T) {
	lost := errors.New("connection reset by peer")
	cases := []struct {
		name string
		set  func(s *Session)
		err  error
		want bool
	}{
		{"the replica failed", func(s *Session) {}, lost, true},
		{"ended by a down-server watcher", func(s *Session) { s.aborted = true }, lost, true},
		{"not a read that may run again", func(s *Session) { s.retryRead = false }, lost, false},
		{"part of the answer was sent", func(s *Session) { s.relayed = 5 }, lost, false},
		{"lost in the middle of a packet", func(s *Session) {}, wire.ErrMidPacket, false},
		{"KILL QUERY or limits.query_timeout", func(s *Session) { s.killedAt = time.Now() }, lost, false},
		{"killed, then its replica went down", func(s *Session) { s.killedAt, s.aborted = time.Now(), true }, lost, false},
		{"aborted after query_timeout's grace", func(s *Session) { s.killedAt, s.aborted = time.Now().Add(-killGrace), true }, lost, false},
		{"the session was killed", func(s *Session) { s.killed.Store(true) }, lost, false},
	}
	for _, tc := range cases {
		s := &Session{retryRead: true}
		tc.set(s)
		if got := s.mayRetryRead(tc.err); got != tc.want {
			t.Errorf("%s: mayRetryRead = %v, want %v", tc.name, got, tc.want)
		}
	}
}
