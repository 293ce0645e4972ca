package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/config/tlsconf"
)

// ErrPoolTimeout means every connection of a pool stayed busy for the
// whole wait.
var ErrPoolTimeout = errors.New("backend connection pool exhausted")

// Key identifies a pool: connections in one pool are interchangeable once
// the session state is synced, because they share the server, the user, the
// protocol dialect (capability flags and handshake collation) and the TLS
// policy.
type Key struct {
	Name, Address string
	User          string
	Caps          uint32
	ExtCaps       uint32 // MariaDB's extended flags (ExtBehavioral)
	Collation     uint8
	// Generation counts the reloads that changed a backend's TLS policy
	// or the pool settings, so that such a reload makes new pools rather
	// than reusing connections opened under the old policy or keeping the
	// old size and timeouts.
	Generation uint64
}

// PoolConfig bounds a pool.
type PoolConfig struct {
	Max         int           // connections open at most (in use + idle)
	WaitTimeout time.Duration // how long Get waits for a free slot
	IdleTimeout time.Duration // idle connections older than this are closed
	DialTimeout time.Duration
	// OnWait, if set, is told how long each borrow that had to wait waited.
	OnWait func(time.Duration)
	// Gate, if set, is the backend's limit over all its pools (one per
	// user and dialect): every borrow enters it before taking a slot of
	// its own pool and leaves it when the connection comes back.
	Gate *Gate
}

// Pool holds idle connections to one backend for one user and dialect.
// Get and Put are safe for concurrent use.
type Pool struct {
	key   Key
	cred  atomic.Pointer[Credential] // replaced when the user's password changes on reload
	tls   tlsconf.Policy
	cfg   PoolConfig
	slots chan struct{} // a token per connection in use

	mu   sync.Mutex
	idle []*Conn // most recently used last

	inUse   atomic.Int64
	waits   atomic.Uint64
	dials   atomic.Uint64
	closing atomic.Bool
}

// NewPool makes an empty pool whose connections log in with cred and
// encrypt as tls says.
func NewPool(key Key, cred Credential, tls tlsconf.Policy, cfg PoolConfig) *Pool {
	p := &Pool{key: key, tls: tls, cfg: cfg, slots: make(chan struct{}, cfg.Max)}
	p.cred.Store(&cred)
	return p
}

// SetCredential makes new connections log in with cred (a password changed
// on reload); connections already open stay as the server let them in.
func (p *Pool) SetCredential(cred Credential) {
	p.cred.Store(&cred)
}

// Get returns a live connection, reusing an idle one when it can. It waits
// at most cfg.WaitTimeout, in the backend's gate and for a slot of the pool.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	return p.GetWhere(ctx, nil, false)
}

// GetWhere is Get that reuses only an idle connection accept takes (nil
// takes any), and opens a new one when none is: state a session cannot
// undo on a connection (a default database, for a session without one)
// is avoided rather than reset. beside says the caller holds a connection
// already: it passes the backend's queue (Gate) so that it never waits
// for a slot it holds itself.
func (p *Pool) GetWhere(ctx context.Context, accept func(*Conn) bool, beside bool) (*Conn, error) {
	if p.closing.Load() {
		return nil, ErrPoolClosed
	}
	deadline := time.Now().Add(p.cfg.WaitTimeout)
	if g := p.cfg.Gate; g != nil {
		if err := g.Enter(ctx, deadline, beside); err != nil {
			if errors.Is(err, ErrQueueTimeout) {
				err = &Error{Name: p.key.Name, Address: p.key.Address, Err: err}
			}
			return nil, err
		}
	}
	if err := p.takeSlot(ctx, deadline); err != nil {
		if g := p.cfg.Gate; g != nil {
			g.Leave()
		}
		return nil, err
	}
	p.inUse.Add(1)
	for {
		c := p.popIdle(accept)
		if c == nil {
			break
		}
		if c.alive() {
			c.inGate = p.cfg.Gate != nil
			return c, nil
		}
		c.Close()
	}
	c, err := Dial(ctx, Options{
		Name: p.key.Name, Address: p.key.Address,
		User: p.key.User, Credential: *p.cred.Load(), TLS: p.tls,
		Capabilities: p.key.Caps, ExtCapabilities: p.key.ExtCaps, Collation: p.key.Collation,
		Timeout: p.cfg.DialTimeout,
	})
	if err != nil {
		p.release(true)
		return nil, err
	}
	p.dials.Add(1)
	c.pool = p
	c.inGate = p.cfg.Gate != nil
	return c, nil
}

// takeSlot takes one of the pool's Max slots, waiting until deadline.
func (p *Pool) takeSlot(ctx context.Context, deadline time.Time) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	p.waits.Add(1)
	start := time.Now()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	if p.cfg.OnWait != nil {
		defer func() { p.cfg.OnWait(time.Since(start)) }()
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		return &Error{Name: p.key.Name, Address: p.key.Address,
			Err: fmt.Errorf("%w: %d connections busy for %v", ErrPoolTimeout, p.cfg.Max, p.cfg.WaitTimeout)}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) popIdle(accept func(*Conn) bool) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		c := p.idle[i]
		if accept != nil && !accept(c) {
			continue
		}
		n := len(p.idle)
		copy(p.idle[i:], p.idle[i+1:])
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

// Put returns a connection. A connection that saw an error or an
// unfinished response (Broken) is closed, never reused.
func (p *Pool) Put(c *Conn) {
	// Read and cleared before the connection is idle: from then on another
	// borrow may take it and set its own.
	inGate := c.inGate
	c.inGate = false
	keep := !c.Broken && !c.aborted.Load()
	if keep {
		c.lastUsed = time.Now()
		p.mu.Lock()
		// Under mu, so that a Close cannot empty the idle list between
		// this check and the append.
		if keep = !p.closing.Load(); keep {
			p.idle = append(p.idle, c)
		}
		p.mu.Unlock()
	}
	if !keep {
		c.Close()
	}
	p.release(inGate)
}

// release gives back a slot of the pool, and the backend's gate slot when
// the borrow still holds it (inGate).
func (p *Pool) release(inGate bool) {
	p.inUse.Add(-1)
	<-p.slots
	if g := p.cfg.Gate; g != nil && inGate {
		g.Leave()
	}
}

// LeaveGate gives the backend's gate slot back while the caller keeps the
// connection between two commands: a session idle in a transaction or a
// pin runs nothing there, so it must not keep others queued while its
// client thinks. JoinGate takes a slot again, beside the queue (it never
// waits), before the next command runs there. Only the connection's owner
// calls them.
func (c *Conn) LeaveGate() {
	if c.inGate && c.pool != nil && c.pool.cfg.Gate != nil {
		c.pool.cfg.Gate.Leave()
	}
	c.inGate = false
}

// JoinGate: see LeaveGate.
func (c *Conn) JoinGate() {
	if c.inGate || c.pool == nil || c.pool.cfg.Gate == nil {
		return
	}
	_ = c.pool.cfg.Gate.Enter(context.Background(), time.Time{}, true) // beside: never waits
	c.inGate = true
}

// Lent reports how many of the pool's connections are lent now, of the
// most it may open.
func (p *Pool) Lent() (n, max int) { return len(p.slots), cap(p.slots) }

// InUse is the number of connections borrowed now.
func (p *Pool) InUse() int { return int(p.inUse.Load()) }

// Stats reports counters for metrics.
func (p *Pool) Stats() (inUse, idle int, waits, dials uint64) {
	p.mu.Lock()
	idle = len(p.idle)
	p.mu.Unlock()
	return p.InUse(), idle, p.waits.Load(), p.dials.Load()
}

// CloseIdle closes idle connections unused for longer than the idle
// timeout (all of them when all is set).
func (p *Pool) CloseIdle(all bool) {
	cutoff := time.Now().Add(-p.cfg.IdleTimeout)
	p.mu.Lock()
	keep := p.idle[:0]
	var stale []*Conn
	for _, c := range p.idle {
		if all || c.lastUsed.Before(cutoff) {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// Close closes idle connections and makes Put close the rest; Get then
// fails with ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closing.Store(true)
	p.mu.Unlock()
	p.CloseIdle(true)
}

// ErrPoolClosed is Get on a pool a reload retired: the caller borrows from
// the pool of the current generation instead.
var ErrPoolClosed = errors.New("pool closed by a reload")

// Closed reports whether Close was called.
func (p *Pool) Closed() bool { return p.closing.Load() }

// alive tells, without blocking, whether an idle connection is still open:
// a server that closed it (wait_timeout, restart) has sent EOF or an error,
// which a non-blocking peek sees. Connections used within the last 100ms
// are trusted to save the system call.
func (c *Conn) alive() bool {
	if c.aborted.Load() {
		return false
	}
	if c.R.Buffered() > 0 {
		return false // unsolicited bytes: the server sent an error and closed
	}
	if time.Since(c.lastUsed) < 100*time.Millisecond {
		return true
	}
	nc := c.Conn.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn() // any bytes, even a TLS alert, mean the server is done
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n == 0 && err == nil: // orderly shutdown by the server
			alive = false
		case n > 0: // unsolicited data
			alive = false
		case err != nil && !errors.Is(err, syscall.EAGAIN):
			alive = false
		}
		return true
	})
	return alive && err == nil // an error: the socket is closed
}
