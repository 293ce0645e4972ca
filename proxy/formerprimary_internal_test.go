package proxy

import (
	"io"
	"log/slog"
	"net"
	"testing"

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
			srv := &Server{metrics: newMetrics()}
			s := &Session{srv: srv, log: slog.New(slog.DiscardHandler)}
			a, b := net.Pipe()
			defer b.Close()
			go func() { _, _ = io.Copy(io.Discard, b) }() // a write to an open pipe returns
			conn := &backend.Conn{Conn: wire.NewConn(a, 16, 16), Name: tc.server, OnPrimary: tc.onPrimary, Epoch: tc.epoch}
			s.setCur(conn)
			for range 2 { // a second snapshot of the same epoch changes nothing
				s.abortIfOnFormerPrimary(topo)
			}
			aborts := testutil.ToFloat64(srv.metrics.formerPrimaryAborts)
			_, werr := a.Write([]byte{0})
			closed := werr != nil
			if want := map[bool]float64{true: 1, false: 0}[tc.wantAbort]; aborts != want || closed != tc.wantAbort {
				t.Fatalf("aborts %v, socket closed %v; want %v, %v", aborts, closed, want, tc.wantAbort)
			}
		})
	}
	// Nothing running: nothing to end.
	s := &Session{srv: &Server{metrics: newMetrics()}, log: slog.New(slog.DiscardHandler)}
	s.abortIfOnFormerPrimary(topo)
}
