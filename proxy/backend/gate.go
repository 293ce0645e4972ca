package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueTimeout means a command waited the whole pool.wait_timeout in a
// backend's queue without its turn coming: nothing was sent to the server.
var ErrQueueTimeout = errors.New("backend busy")

// Gate limits how many commands run on one backend at once, over every
// pool of that backend (users and dialects). A connection a session holds
// between its commands (a transaction, a pin) leaves the gate while its
// client is idle (Conn.LeaveGate): what costs a server is the statements
// it runs, not the connections open to it. A server answers more queries
// per second at a few dozen at once than at hundreds, so the commands
// beyond the limit wait in a queue, first come, first served, for at most
// the wait timeout, instead of all running at once.
//
// A command of a session that already holds a connection (to any backend)
// never waits: it takes its slot beside the queue (Enter with beside set).
// Otherwise a transaction whose locks block the statements holding the
// slots would wait for itself, or two such sessions for each other. Such
// slots still count: the limit may be exceeded by them, never by queued
// commands.
//
// All methods are safe for concurrent use.
type Gate struct {
	mu      sync.Mutex
	limit   int       // 0: no limit
	running int       // slots lent now (beside ones included)
	queue   waitQueue // oldest first
	waits   uint64    // borrows that queued
	timeout uint64    // borrows that gave up in the queue
	// busy is running plus the queue's length, changed under mu and read
	// without it: the router compares it between replicas for every read.
	busy atomic.Int64

	free sync.Pool // of *gateWaiter

	// OnWait, if set, is told how long each queued borrow waited and
	// whether it got its turn; called without mu held.
	OnWait func(waited time.Duration, granted bool)
}

// gateWaiter is one queued borrow. granted is set, under the gate's mu,
// when a slot is handed to it. Waiters are reused (Gate.free) and linked
// into the queue through themselves: at hundreds of clients per backend
// most commands queue, and a channel, a timer and a list element per
// command would be most of the queue's cost.
type gateWaiter struct {
	turn       chan struct{} // receives once, when granted
	timer      *time.Timer
	granted    bool
	prev, next *gateWaiter // in the queue, under the gate's mu
}

// waitQueue is a FIFO of waiters linked through them, so that queuing
// allocates nothing and a waiter that gives up leaves from the middle.
type waitQueue struct {
	head, tail *gateWaiter
	n          int
}

func (q *waitQueue) Len() int { return q.n }

func (q *waitQueue) pushBack(w *gateWaiter) {
	w.prev, w.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

func (q *waitQueue) remove(w *gateWaiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}

func (q *waitQueue) popFront() *gateWaiter {
	w := q.head
	q.remove(w)
	return w
}

func newGateWaiter() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &gateWaiter{turn: make(chan struct{}, 1), timer: t}
}

// NewGate makes a gate letting limit borrows in at once (0: no limit).
func NewGate(limit int) *Gate {
	g := &Gate{limit: limit}
	g.free.New = newGateWaiter
	return g
}

// SetLimit changes the limit (a reload); a higher one lets queued borrows
// in at once.
func (g *Gate) SetLimit(limit int) {
	g.mu.Lock()
	g.limit = limit
	g.admitLocked()
	g.mu.Unlock()
}

// Enter takes a slot, waiting in the queue until deadline when the limit
// is reached (beside: the caller holds a slot already and never waits).
func (g *Gate) Enter(ctx context.Context, deadline time.Time, beside bool) error {
	g.mu.Lock()
	if beside || g.limit == 0 || (g.running < g.limit && g.queue.Len() == 0) {
		g.running++
		g.busy.Add(1)
		g.mu.Unlock()
		return nil
	}
	w := g.free.Get().(*gateWaiter)
	w.granted = false
	g.queue.pushBack(w)
	g.busy.Add(1)
	g.waits++
	g.mu.Unlock()

	start := time.Now()
	w.timer.Reset(time.Until(deadline))
	var err error
	select {
	case <-w.turn:
	case <-w.timer.C:
		err = fmt.Errorf("%w: %d statements were running there for the whole pool.wait_timeout this command queued", ErrQueueTimeout, g.Limit())
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		g.mu.Lock()
		if w.granted {
			err = nil // Leave handed it a slot as the wait ended: keep it
			<-w.turn  // sent with granted, under mu
		} else {
			g.queue.remove(w)
			g.busy.Add(-1)
			g.timeout++
		}
		g.mu.Unlock()
	}
	w.timer.Stop() // since Go 1.23 no stale tick survives Stop: Reset is safe
	g.free.Put(w)
	if g.OnWait != nil {
		g.OnWait(time.Since(start), err == nil)
	}
	return err
}

// Leave gives a slot back: to the oldest queued borrow when there is one
// and the limit allows.
func (g *Gate) Leave() {
	g.mu.Lock()
	g.running--
	g.busy.Add(-1)
	g.admitLocked()
	g.mu.Unlock()
}

// admitLocked hands free slots to the oldest queued borrows. g.mu is held.
func (g *Gate) admitLocked() {
	for g.queue.Len() > 0 && (g.limit == 0 || g.running < g.limit) {
		w := g.queue.popFront()
		w.granted = true
		g.running++
		w.turn <- struct{}{}
	}
}

// Limit is the limit in force (0: none).
func (g *Gate) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

// Load is the borrows in the backend now plus those queued for it: what
// the router compares between replicas. It takes no lock.
func (g *Gate) Load() int { return int(g.busy.Load()) }

// GateStats is a gate's state for metrics.
type GateStats struct {
	Limit, Running, Queued int
	Waits, Timeouts        uint64
}

// Stats reports the gate's state.
func (g *Gate) Stats() GateStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GateStats{Limit: g.limit, Running: g.running, Queued: g.queue.Len(), Waits: g.waits, Timeouts: g.timeout}
}
