package failover

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Healthy: "healthy", Suspect: "suspect", Blocked: "blocked",
		Promoting: "promoting", Switching: "switching", State(42): "State(42)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
	}
	for _, s := range []State{Suspect, Promoting, Switching} {
		if !s.InProgress() {
			t.Errorf("%s not in progress", s)
		}
	}
	for _, s := range []State{Healthy, Blocked} {
		if s.InProgress() {
			t.Errorf("%s in progress", s)
		}
	}
}

// clock drives the machine hermetically.
type clock struct{ now time.Time }

func (c *clock) tick(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

// healthyObs has db1 up and primary.
func healthyObs(now time.Time, epoch uint64) Observation {
	o := obs(now, 1)
	o.Servers[0].Up, o.Servers[0].FailedProbes, o.Servers[0].DownSince = true, 0, time.Time{}
	o.HavePrimary, o.Epoch = true, epoch
	o.Members = []Member{upSeen("a")}
	return o
}

// failedObs has db1 down since downSince, seen by this proxy alone (a
// cluster of one).
func failedObs(now, downSince time.Time, epoch uint64) Observation {
	o := obs(now, 1, Member{Name: "a", DownSince: downSince, SeesReplica: true})
	o.Servers[0].DownSince, o.Epoch = downSince, epoch
	return o
}

func TestMachineFailover(t *testing.T) {
	c := &clock{now: t0}
	m := NewMachine(Config{Auto: true, ConfirmAfter: 1500 * time.Millisecond, Cooldown: time.Minute, Retry: time.Second})
	step := func(o Observation) Output { t.Helper(); return m.Handle(Observed{Obs: o}) }

	if out := step(healthyObs(c.now, 0)); out.State != Healthy || out.Changed || out.Promote != nil {
		t.Fatalf("healthy: %+v", out)
	}
	down := c.tick(500 * time.Millisecond)
	out := step(failedObs(c.now, down, 0))
	if out.State != Suspect || !out.Changed || !out.State.InProgress() || out.Promote != nil {
		t.Fatalf("first failed probe: %+v", out)
	}
	c.tick(time.Second)
	if out := step(failedObs(c.now, down, 0)); out.State != Suspect || out.Changed {
		t.Fatalf("not confirmed yet: %+v", out)
	}
	c.tick(600 * time.Millisecond)
	out = step(failedObs(c.now, down, 0))
	if out.State != Promoting || out.Promote == nil || out.Promote.Candidate.Name != "db2" {
		t.Fatalf("confirmed: %+v", out)
	}
	// Observations during the promotion change nothing.
	if out := step(failedObs(c.tick(100*time.Millisecond), down, 0)); out.State != Promoting || out.Promote != nil {
		t.Fatalf("while promoting: %+v", out)
	}
	if out := m.Handle(SwitchoverBegin{Now: c.now}); !errors.Is(out.Err, ErrBusy) || out.State != Promoting {
		t.Fatalf("switchover while promoting: %+v", out)
	}
	if out := m.Handle(PromotionDone{Now: c.tick(200 * time.Millisecond)}); out.State != Healthy {
		t.Fatalf("done: %+v", out)
	}
	// db2 is the primary now; it fails too, within the cooldown.
	o := healthyObs(c.tick(time.Second), 1)
	o.Primary = "db2"
	step(o)
	down2 := c.tick(time.Second)
	o = failedObs(c.tick(5*time.Second), down2, 1)
	o.Primary = "db2"
	o.Servers[0].Up = false
	o.Servers[1].Up, o.Servers[1].Replicating, o.Servers[1].FailedProbes, o.Servers[1].DownSince = false, false, 5, down2
	o.Servers[2].SourceAddress = o.Servers[1].Address
	out = step(o)
	if out.State != Blocked || out.State.InProgress() || !strings.Contains(out.Reason, "cooldown") {
		t.Fatalf("within cooldown: %+v", out)
	}
	// The manual override.
	m.Handle(CooldownReset{})
	o.Now = c.tick(time.Millisecond)
	if out := step(o); out.State != Promoting || out.Promote.Candidate.Name != "db3" || out.Promote.From.Name != "db2" {
		t.Fatalf("after cooldown reset: %+v", out)
	}
}

func TestMachineRetryAfterFailedAttempt(t *testing.T) {
	c := &clock{now: t0}
	m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second, Retry: 2 * time.Second})
	out := m.Handle(Observed{Obs: failedObs(c.tick(2*time.Second), t0, 0)})
	if out.State != Promoting {
		t.Fatalf("%+v", out)
	}
	out = m.Handle(PromotionDone{Now: c.now, Err: ErrGuard})
	if out.State != Blocked || out.State.InProgress() || !strings.Contains(out.Reason, "guard not acquired") {
		t.Fatalf("failed attempt: %+v", out)
	}
	if out := m.Handle(Observed{Obs: failedObs(c.tick(time.Second), t0, 0)}); out.State != Blocked || out.Promote != nil ||
		!strings.Contains(out.Reason, "next attempt at") {
		t.Fatalf("before retry: %+v", out)
	}
	if out := m.Handle(Observed{Obs: failedObs(c.tick(1100*time.Millisecond), t0, 0)}); out.State != Promoting {
		t.Fatalf("retry: %+v", out)
	}
}

func TestMachineBlocked(t *testing.T) {
	later := t0.Add(3 * time.Second)
	t.Run("auto off", func(t *testing.T) {
		m := NewMachine(Config{Auto: false, ConfirmAfter: time.Second})
		out := m.Handle(Observed{Obs: failedObs(later, t0, 0)})
		if out.State != Blocked || !strings.Contains(out.Reason, "automatic failover is off") {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("no quorum, then the others come back", func(t *testing.T) {
		m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second})
		o := failedObs(later, t0, 0)
		o.ClusterSize = 3
		if out := m.Handle(Observed{Obs: o}); out.State != Blocked || !strings.Contains(out.Reason, "no quorum") {
			t.Fatalf("%+v", out)
		}
		o.Members = append(o.Members, down("b"))
		if out := m.Handle(Observed{Obs: o}); out.State != Promoting {
			t.Fatalf("quorum back: %+v", out)
		}
	})
	t.Run("primary back", func(t *testing.T) {
		m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second})
		o := failedObs(later, t0, 0)
		o.Servers[1].IOThreadRunning = true
		if out := m.Handle(Observed{Obs: o}); out.State != Blocked {
			t.Fatalf("%+v", out)
		}
		if out := m.Handle(Observed{Obs: healthyObs(later, 0)}); out.State != Healthy || !out.Changed {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("read-only primary is not a failure", func(t *testing.T) {
		m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second})
		o := healthyObs(later, 0)
		o.HavePrimary = false
		o.Servers[0].ReadOnly = true
		if out := m.Handle(Observed{Obs: o}); out.State != Healthy {
			t.Fatalf("%+v", out)
		}
	})
}

func TestMachineCooldownAfterAnotherProxysFailover(t *testing.T) {
	c := &clock{now: t0}
	m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second, Cooldown: time.Minute})
	o := failedObs(c.tick(time.Second), t0, 3)
	o.ClusterSize, o.Members = 3, append(o.Members, down("0-coordinator"))
	if out := m.Handle(Observed{Obs: o}); out.State != Suspect || !strings.Contains(out.Reason, "coordinator") {
		t.Fatalf("%+v", out)
	}
	// The coordinator promoted db2: epoch 4 names it and it is up.
	h := healthyObs(c.tick(time.Second), 4)
	h.Primary = "db2"
	if out := m.Handle(Observed{Obs: h}); out.State != Healthy {
		t.Fatalf("%+v", out)
	}
	if m.lastFailover != c.now {
		t.Errorf("cooldown not started by another proxy's failover")
	}
}

func TestMachineSwitchover(t *testing.T) {
	m := NewMachine(Config{Auto: true, ConfirmAfter: time.Second})
	if out := m.Handle(SwitchoverBegin{Now: t0}); out.State != Switching || out.Err != nil || !out.State.InProgress() {
		t.Fatalf("%+v", out)
	}
	if out := m.Handle(SwitchoverBegin{Now: t0}); !errors.Is(out.Err, ErrBusy) {
		t.Fatalf("second switchover: %+v", out)
	}
	if out := m.Handle(Observed{Obs: failedObs(t0.Add(time.Minute), t0, 0)}); out.State != Switching || out.Promote != nil {
		t.Fatalf("observed while switching: %+v", out)
	}
	if out := m.Handle(SwitchoverDone{Now: t0}); out.State != Healthy {
		t.Fatalf("%+v", out)
	}
}

func TestMachineImpossibleEventsPanic(t *testing.T) {
	for name, ev := range map[string]Event{"promotion done": PromotionDone{}, "switchover done": SwitchoverDone{}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "BUG: ") {
					t.Errorf("recover = %v, want a BUG panic", r)
				}
			}()
			NewMachine(Config{}).Handle(ev)
		})
	}
}
