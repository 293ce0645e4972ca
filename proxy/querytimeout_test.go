package proxy

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/proxy/backend"
)

// TestOverdue walks one statement through the watcher's ticks: nothing
// before the limit, one kill at it, nothing while the kill may still work,
// then closing after killGrace; the next statement starts over.
func TestOverdue(t *testing.T) {
	const limit = 2 * time.Second
	t0 := time.Unix(1000, 0)
	s := &Session{}
	if _, ok := s.overdue(t0.Add(time.Hour), limit); ok {
		t.Fatal("a session running nothing is overdue")
	}
	conn := &backend.Conn{}
	s.arrived = t0
	s.setCur(conn)
	steps := []struct {
		at        time.Duration
		want      bool
		wantClose bool
	}{
		{time.Second, false, false},
		{limit, true, false},
		{limit + time.Second, false, false},
		{limit + killGrace - time.Second, false, false},
		{limit + killGrace, true, true},
		{limit + killGrace + time.Second, true, true},
	}
	for _, st := range steps {
		o, ok := s.overdue(t0.Add(st.at), limit)
		if ok != st.want || o.close != st.wantClose {
			t.Fatalf("at %v: overdue %v close %v, want %v %v", st.at, ok, o.close, st.want, st.wantClose)
		}
		if ok && (o.conn != conn || o.sess != s || o.ran != st.at) {
			t.Fatalf("at %v: got %+v", st.at, o)
		}
	}
	// The next statement on the same connection gets its own kill.
	s.arrived = t0.Add(time.Minute)
	s.setCur(conn)
	if o, ok := s.overdue(s.arrived.Add(limit), limit); !ok || o.close {
		t.Fatalf("the next statement past the limit: overdue %v close %v, want a kill", ok, o.close)
	}
	s.setCur(nil)
	if _, ok := s.overdue(t0.Add(time.Hour), limit); ok {
		t.Fatal("a finished statement is overdue")
	}
}
