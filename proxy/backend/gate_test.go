package backend

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// enterAsync starts a borrow in a goroutine and reports on done when it
// has its slot (nil) or gave up (the error).
func enterAsync(g *Gate, deadline time.Time, beside bool, id int, done chan<- result) {
	go func() {
		err := g.Enter(context.Background(), deadline, beside)
		done <- result{id, err}
	}()
}

type result struct {
	id  int
	err error
}

// TestGateIsFIFO queues borrows one after the other behind a full gate and
// checks that each freed slot goes to the oldest: no borrow is overtaken,
// so none starves, and a new borrow queues behind the waiting ones even
// when a slot is free at the instant it arrives.
func TestGateIsFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(2)
		deadline := time.Now().Add(time.Hour)
		for range 2 {
			if err := g.Enter(t.Context(), deadline, false); err != nil {
				t.Fatal(err)
			}
		}
		const n = 20
		done := make(chan result, n+1)
		for i := range n {
			enterAsync(g, deadline, false, i, done)
			synctest.Wait() // queued before the next one starts
		}
		if st := g.Stats(); st.Queued != n || st.Running != 2 || st.Waits != n {
			t.Fatalf("stats %+v, want %d queued, 2 running, %d waits", st, n, n)
		}
		var order []int
		for range n {
			g.Leave()
			synctest.Wait()
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("borrow %d: %v", r.id, r.err)
				}
				order = append(order, r.id)
			default:
				t.Fatalf("a slot was freed and no queued borrow got it (order so far %v)", order)
			}
		}
		for i, id := range order {
			if id != i {
				t.Fatalf("turns went in order %v, want 0..%d", order, n-1)
			}
		}
		if st := g.Stats(); st.Running != 2 || st.Queued != 0 || g.Load() != 2 {
			t.Fatalf("after the queue drained: %+v load %d", st, g.Load())
		}
	})
}

// TestGateTimeout: a queued borrow gives up at its deadline with
// ErrQueueTimeout, leaves the queue, and is counted; the borrows behind it
// keep their place.
func TestGateTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1)
		if err := g.Enter(t.Context(), time.Now().Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 2)
		enterAsync(g, time.Now().Add(2*time.Second), false, 0, done)
		synctest.Wait()
		enterAsync(g, time.Now().Add(time.Hour), false, 1, done)
		synctest.Wait()
		time.Sleep(2 * time.Second) // the fake clock: the first deadline passes
		synctest.Wait()
		r := <-done
		if r.id != 0 || !errors.Is(r.err, ErrQueueTimeout) {
			t.Fatalf("got %d %v, want borrow 0 to time out", r.id, r.err)
		}
		if st := g.Stats(); st.Timeouts != 1 || st.Queued != 1 || g.Load() != 2 {
			t.Fatalf("stats %+v load %d, want 1 timeout, 1 queued, load 2", st, g.Load())
		}
		g.Leave()
		synctest.Wait()
		if r := <-done; r.id != 1 || r.err != nil {
			t.Fatalf("got %d %v, want borrow 1 to get the slot", r.id, r.err)
		}
	})
}

// TestGateTimeoutInTheMiddle: a borrow between two others gives up; the
// queue closes over it, and the turns still go oldest first.
func TestGateTimeoutInTheMiddle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1)
		if err := g.Enter(t.Context(), time.Now().Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 3)
		for i, wait := range []time.Duration{time.Hour, 2 * time.Second, time.Hour} {
			enterAsync(g, time.Now().Add(wait), false, i, done)
			synctest.Wait()
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if r := <-done; r.id != 1 || !errors.Is(r.err, ErrQueueTimeout) {
			t.Fatalf("got %d %v, want the middle borrow to time out", r.id, r.err)
		}
		for _, want := range []int{0, 2} {
			g.Leave()
			synctest.Wait()
			if r := <-done; r.id != want || r.err != nil {
				t.Fatalf("got %d %v, want borrow %d to get the slot", r.id, r.err, want)
			}
		}
		if st := g.Stats(); st.Queued != 0 || st.Running != 1 || st.Timeouts != 1 {
			t.Fatalf("stats %+v, want none queued, 1 running, 1 timeout", st)
		}
	})
}

// TestGateBesideNeverWaits: a borrow by a session that already holds a
// slot passes the queue (it could otherwise wait for itself) and still
// counts; the queued borrows get turns only once the running ones are
// under the limit again.
func TestGateBesideNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1)
		deadline := time.Now().Add(time.Hour)
		if err := g.Enter(t.Context(), deadline, false); err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 1)
		enterAsync(g, deadline, false, 0, done)
		synctest.Wait()
		if err := g.Enter(t.Context(), deadline, true); err != nil { // beside: at once
			t.Fatal(err)
		}
		if st := g.Stats(); st.Running != 2 || st.Queued != 1 {
			t.Fatalf("stats %+v, want 2 running (one beside), 1 queued", st)
		}
		g.Leave() // the beside borrow: still 1 running, at the limit
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("borrow %d got a turn while the limit was reached", r.id)
		default:
		}
		g.Leave()
		synctest.Wait()
		if r := <-done; r.err != nil {
			t.Fatal(r.err)
		}
	})
}

// TestGateSetLimit: raising the limit lets queued borrows in at once; 0
// means no limit.
func TestGateSetLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1)
		deadline := time.Now().Add(time.Hour)
		if err := g.Enter(t.Context(), deadline, false); err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 3)
		for i := range 3 {
			enterAsync(g, deadline, false, i, done)
		}
		synctest.Wait()
		g.SetLimit(3)
		synctest.Wait()
		if st := g.Stats(); st.Running != 3 || st.Queued != 1 {
			t.Fatalf("stats %+v, want 3 running 1 queued", st)
		}
		g.SetLimit(0)
		synctest.Wait()
		for range 3 {
			if r := <-done; r.err != nil {
				t.Fatal(r.err)
			}
		}
	})
}

// TestGateCanceled: a borrow whose context ends leaves the queue.
func TestGateCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1)
		if err := g.Enter(t.Context(), time.Now().Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var err error
		wg.Go(func() { err = g.Enter(ctx, time.Now().Add(time.Hour), false) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if !errors.Is(err, context.Canceled) || g.Stats().Queued != 0 || g.Load() != 1 {
			t.Fatalf("err %v stats %+v", err, g.Stats())
		}
	})
}
