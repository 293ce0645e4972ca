package proxy

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// TestOverdue walks statements through the watcher's ticks: nothing before
// the limit, one kill at it, nothing while the kill may still work, the
// connection aborted once killGrace after the kill (and only once); the
// next statement starts over.
func TestOverdue(t *testing.T) {
	const limit = 2 * time.Second
	srv := &Server{metrics: newMetrics()}
	s := &Session{srv: srv, log: slog.New(slog.DiscardHandler)}
	if _, ok := s.overdue(time.Now().Add(time.Hour), limit); ok {
		t.Fatal("a session running nothing is overdue")
	}
	a, b := net.Pipe()
	defer b.Close()
	conn := &backend.Conn{Conn: wire.NewConn(a, 16, 16)}
	s.setCur(conn)
	t0 := s.curSince
	aborts := func() float64 { return testutil.ToFloat64(srv.metrics.timedOut.WithLabelValues("close")) }
	steps := []struct {
		at        time.Duration
		wantKill  bool
		wantAbort float64
	}{
		{time.Second, false, 0},
		{limit, true, 0},
		{limit + time.Second, false, 0},
		{limit + killGrace - time.Second, false, 0},
		{limit + killGrace, false, 1},
		{limit + killGrace + time.Second, false, 1},
	}
	for _, st := range steps {
		o, ok := s.overdue(t0.Add(st.at), limit)
		if ok != st.wantKill || aborts() != st.wantAbort {
			t.Fatalf("at %v: kill %v, aborts %v; want %v, %v", st.at, ok, aborts(), st.wantKill, st.wantAbort)
		}
		if ok && (o.conn != conn || o.sess != s || o.ran != st.at) {
			t.Fatalf("at %v: got %+v", st.at, o)
		}
	}
	if _, err := a.Write([]byte{0}); err == nil {
		t.Fatal("the aborted connection's socket is still open")
	}
	// The next statement on another connection gets its own kill.
	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()
	s.setCur(&backend.Conn{Conn: wire.NewConn(c, 16, 16)})
	if _, ok := s.overdue(s.curSince.Add(limit), limit); !ok {
		t.Fatal("the next statement past the limit is not killed")
	}
	s.setCur(nil)
	if _, ok := s.overdue(t0.Add(time.Hour), limit); ok {
		t.Fatal("a finished statement is overdue")
	}
}
