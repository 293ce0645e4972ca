package proxy

import (
	"testing"
	"time"
)

func TestSlowdown(t *testing.T) {
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {2, 0}, {3, 100 * time.Millisecond}, {4, 200 * time.Millisecond}, {100, authSlowdownMax},
	} {
		if got := slowdown(c.failures); got != c.want {
			t.Errorf("slowdown(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

func TestGuardAdmit(t *testing.T) {
	now := time.Now()
	fail := func(g *guard, host, user string, n int) {
		for range n {
			g.failed(host, user, now, 10, time.Minute)
		}
	}
	t.Run("no failures: no wait, no slot", func(t *testing.T) {
		g := &guard{}
		if v, d, f := g.admit("a", now, time.Minute); v != admitted || d != 0 || f != nil {
			t.Fatalf("admit = %v, %v, %v", v, d, f)
		}
	})
	t.Run("waits bounded per host", func(t *testing.T) {
		g := &guard{}
		fail(g, "a", "u", 5)
		var held []*hostFailures
		for range maxDelayedPerHost {
			v, d, f := g.admit("a", now, time.Minute)
			if v != admitted || d != slowdown(5) {
				t.Fatalf("admit = %v, %v", v, d)
			}
			held = append(held, f)
		}
		if v, _, _ := g.admit("a", now, time.Minute); v != admitBusy {
			t.Fatalf("admit past the per-host bound = %v, want busy", v)
		}
		if v, d, _ := g.admit("b", now, time.Minute); v != admitted || d != 0 {
			t.Fatalf("another host: %v, %v", v, d)
		}
		g.doneWaiting(held[0])
		if v, _, _ := g.admit("a", now, time.Minute); v != admitted {
			t.Fatalf("admit after a wait ended = %v", v)
		}
	})
	t.Run("blocked at max", func(t *testing.T) {
		g := &guard{}
		fail(g, "a", "u", 10)
		if v, _, _ := g.admit("a", now, time.Minute); v != admitBlocked {
			t.Fatalf("admit = %v, want blocked", v)
		}
		g.succeeded("a", "u")
		if !g.blocked("a", now) {
			t.Fatal("a success unblocked a blocked host")
		}
	})
	t.Run("success resets only its own user's failures", func(t *testing.T) {
		g := &guard{}
		fail(g, "a", "u", 5)
		g.succeeded("a", "v")
		if _, d, _ := g.admit("a", now, time.Minute); d == 0 {
			t.Fatal("a success as v reset failures of u")
		}
		g.succeeded("a", "u")
		if _, d, _ := g.admit("a", now, time.Minute); d != 0 {
			t.Fatal("a success as u did not reset u's failures")
		}
	})
	t.Run("old failures are forgotten", func(t *testing.T) {
		g := &guard{}
		fail(g, "a", "u", 5)
		if _, d, _ := g.admit("a", now.Add(2*time.Minute), time.Minute); d != 0 {
			t.Fatalf("failures older than the window still slow the host by %v", d)
		}
	})
	t.Run("many users: never reset", func(t *testing.T) {
		g := &guard{}
		for i := range maxFailedUsers + 1 {
			g.failed("a", string(rune('a'+i)), now, 1000, time.Minute)
		}
		g.succeeded("a", "a")
		if _, d, _ := g.admit("a", now, time.Minute); d == 0 {
			t.Fatal("failures of many users were reset by one user's success")
		}
	})
}
