package proxy

// Pipelined reads: a SQL-aware proxy's answer to many clients each sending
// one short read at a time. Instead of lending each read a backend
// connection of its own (one server thread woken per read, a write and a
// read system call each way), the short reads of many sessions to one
// replica are written back to back on a few shared connections, and their
// answers read back in order (MySQL's protocol answers commands in the
// order they came). Measured on MariaDB 10.11 (bench/cmd/pipetest, 2
// cores): 256 connections sending one point select at a time got 24k
// answers a second at 62 µs of server CPU each; 8 connections with 32
// selects in flight each got 59k at 30 µs.
//
// Only what a shared connection cannot change or leak goes there
// (mayPipeline): a plain read outside any transaction or pin, by a session
// whose state is a fresh login's with its default database, that the
// router sends to a replica with no wait, of a statement shape known to be
// quick. The connection carries the replica's READ ONLY guard like every
// replica connection. An answer is handed to the client only when it is a
// plain result set (wire.AnswerScan): an error, warnings, a state change
// or a big result is dropped, and the read runs again on a connection of
// its own, where the client can see its diagnostics (SHOW WARNINGS) — a
// read has no side effects. A connection that fails fails its reads, which
// run again the same way; one whose head read waits for its own answer
// past the stall limit (a read slower than its shape promised, holding up
// those behind it) is closed by the sweeper, and that shape is demoted.
// There is no reader goroutine: the session at the head of the line reads
// its own answer and hands the turn on (pipeConn).

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// maxPipelinedAnswer bounds the answer a pipelined read buffers for its
// client; a bigger one runs again on a connection of its own, which
// streams it.
const maxPipelinedAnswer = 64 << 10

// maxPipelineDepth bounds the reads in flight on one pipelined connection.
const maxPipelineDepth = 256

// maxKnownShapes bounds the statement shapes remembered as quick or slow.
const maxKnownShapes = 10000

// quickRuns is how many quick runs in a row on connections of their own
// make a statement shape pipelined; stallPenalty how many more it takes
// after it stalled a pipelined connection.
const (
	quickRuns    = 3
	stallPenalty = 100
)

// stallFactor: a pipelined read still unanswered this many times the
// slow bound after it came to the head of its line ends its connection
// (pipes.check). loadFactor: under load, a read counts as slow only past
// this many times the average read (slowBound).
const (
	stallFactor = 5
	loadFactor  = 4
)

// errPipeStateChanged ends a pipelined connection whose session state a
// statement changed.
var errPipeStateChanged = errors.New("a pipelined read changed the connection's session state")

// errPipeClosed fails the reads of a pipelined connection that was closed.
var errPipeClosed = errors.New("pipelined connection closed")

// errPipeStalled fails the reads of a pipelined connection whose oldest
// read waited past the stall limit.
var errPipeStalled = errors.New("pipelined connection stalled")

// pipeRead is one read sent on a pipelined connection. Each session has
// one, reused from read to read.
type pipeRead struct {
	prepare bool   // a COM_STMT_PREPARE: its answer is the statement's id
	stmtID  uint32 // the id it was prepared under
	answer  []byte // the answer's frames as sent, when plain
	status  uint16 // its final status flags
	plain   bool   // a plain result set; for a prepare, success
	err     error  // set by fail for a read waiting its turn
	digest  string // the statement's shape, for the sweeper
	sent    time.Time
	turn    chan struct{} // its turn to read, or fail's word (err)
}

// pipeConn is one backend connection shared by the reads of many
// sessions. There is no reader of its own: the session whose read is at
// the head of the line reads its answer itself, then hands the turn to the
// next in line (take). A lone read is thus sent and answered like one on a
// connection of its own, with no other goroutine woken; under load each
// turn's read often finds its answer already buffered by the one before.
type pipeConn struct {
	conn    *backend.Conn
	depth   atomic.Int32 // reads in flight
	dead    atomic.Bool
	onClose func()
	scratch []byte // the reader's, for answers it only scans

	mu       sync.Mutex
	inFlight []*pipeRead // sent, unanswered, in order
	reading  *pipeRead   // the head, whose session reads (or was told to)
	headAt   time.Time   // when the head became the head: its statement's time starts there
	out      []byte      // frames waiting for the flusher
	spare    []byte
	flushing bool
	err      error
	lastSent time.Time // when the last read was sent, for the idle timeout
	// stmts are the statements prepared on the connection, by their
	// text (the connection's default database is the group's).
	stmts map[string]uint32
}

// do sends r's command (payload, with the client's sequence id), waits for
// its turn and reads its answer into r. An error means r has no answer:
// the connection failed (its reads all run again elsewhere).
func (pc *pipeConn) do(r *pipeRead, payload []byte, seq byte) error {
	r.err = nil
	head, err := pc.send(r, payload, seq)
	if err != nil {
		return err
	}
	if !head {
		<-r.turn
		if r.err != nil {
			return r.err
		}
	}
	return pc.take(r)
}

// send queues r's command (nil r: one with no answer, COM_STMT_CLOSE) and
// writes it, with whatever other sessions queued meanwhile: the first
// sender writes for all of them (one system call for many reads) while the
// others return at once. head: r is first in line, its session reads
// next. An error means nothing was queued.
func (pc *pipeConn) send(r *pipeRead, payload []byte, seq byte) (head bool, err error) {
	pc.mu.Lock()
	if pc.err != nil {
		pc.mu.Unlock()
		return false, pc.err
	}
	if r != nil {
		pc.inFlight = append(pc.inFlight, r)
		pc.lastSent = r.sent
		pc.depth.Add(1)
		if head = len(pc.inFlight) == 1; head {
			pc.reading, pc.headAt = r, r.sent
		}
	}
	n := len(payload)
	pc.out = append(pc.out, byte(n), byte(n>>8), byte(n>>16), seq)
	pc.out = append(pc.out, payload...)
	if pc.flushing {
		pc.mu.Unlock()
		return head, nil
	}
	pc.flushing = true
	for len(pc.out) > 0 {
		buf := pc.out
		pc.out = pc.spare[:0]
		pc.mu.Unlock()
		_, err = pc.conn.Sock.Write(buf)
		pc.mu.Lock()
		pc.spare = buf[:0]
		if err != nil {
			pc.out = pc.out[:0]
			break
		}
	}
	pc.flushing = false
	pc.mu.Unlock()
	if err != nil {
		pc.fail(err) // r, queued, hears of it from fail or from its read
	}
	return head, nil
}

// take reads the answer of r, the head, and hands the turn to the next
// in line. A failed read fails the connection.
func (pc *pipeConn) take(r *pipeRead) error {
	changed, err := pc.readAnswer(r)
	if err != nil {
		pc.fail(err)
		return err
	}
	pc.mu.Lock()
	if pc.err != nil { // failed meanwhile (the sweeper): the answer was read whole all the same
		pc.mu.Unlock()
		return nil
	}
	pc.inFlight[0] = nil // the session's read is not kept past its answer
	pc.inFlight = pc.inFlight[1:]
	pc.depth.Add(-1)
	var next *pipeRead
	if len(pc.inFlight) > 0 {
		next = pc.inFlight[0]
		pc.headAt = time.Now()
	}
	pc.reading = next
	pc.mu.Unlock()
	if next != nil {
		next.turn <- struct{}{}
	}
	if changed {
		// The statement changed the connection's session state (its
		// read runs again on a connection of its own): the others must
		// not run with it.
		pc.fail(errPipeStateChanged)
	}
	return nil
}

// fail ends the connection, once: no read is sent there again, every read
// waiting its turn is told (the one reading finds the socket closed), and
// the connection is closed. Any goroutine may call it.
func (pc *pipeConn) fail(err error) {
	pc.mu.Lock()
	if pc.err != nil {
		pc.mu.Unlock()
		return
	}
	pc.err = err
	pc.dead.Store(true)
	waiting, reading := pc.inFlight, pc.reading
	pc.inFlight, pc.reading = nil, nil
	pc.depth.Store(0)
	pc.mu.Unlock()
	for _, w := range waiting {
		if w != reading {
			w.err = err
			w.turn <- struct{}{}
		}
	}
	pc.conn.Abort() // the socket itself: a TLS close could wait on a writer
	pc.conn.Release()
	if pc.onClose != nil {
		pc.onClose()
	}
}

// readAnswer reads r's answer, frame by frame, into r.answer (up to
// maxPipelinedAnswer; past that it is only scanned) and records what it
// was. changed: the statement changed the connection's session state.
func (pc *pipeConn) readAnswer(r *pipeRead) (changed bool, err error) {
	var query wire.AnswerScan
	var prepare wire.PrepareScan
	r.answer = r.answer[:0]
	keep := true
	for {
		p, err := pc.frame(r, &keep)
		if err != nil {
			return false, err
		}
		if r.prepare {
			if !prepare.Next(p) {
				continue
			}
			if prepare.Malformed {
				return false, wire.ErrMalformed
			}
			r.plain, r.stmtID = prepare.OK, prepare.StmtID
			return false, nil
		}
		if !query.Next(p) {
			continue
		}
		if query.Malformed {
			return false, wire.ErrMalformed
		}
		r.status, r.plain = query.Status, keep && query.Plain()
		return query.Changed, nil
	}
}

// frame reads the answer's next frame: appended to r.answer while the
// answer fits (keep), else only its leading bytes, for the scan.
func (pc *pipeConn) frame(r *pipeRead, keep *bool) (wire.Packet, error) {
	size, seq, err := pc.conn.ReadHeader()
	if err != nil {
		return wire.Packet{}, err
	}
	if *keep && len(r.answer)+4+size <= maxPipelinedAnswer {
		r.answer = append(r.answer, byte(size), byte(size>>8), byte(size>>16), seq)
		start := len(r.answer)
		r.answer = slices.Grow(r.answer, size)[:start+size]
		_, err := io.ReadFull(pc.conn.R, r.answer[start:])
		return wire.Packet{Size: size, Head: r.answer[start:min(start+64, len(r.answer))]}, err
	}
	*keep = false
	if pc.scratch, err = pc.conn.ReadBody(pc.scratch, min(size, 64), 64); err != nil {
		return wire.Packet{}, err
	}
	_, err = pc.conn.R.Discard(size - len(pc.scratch))
	return wire.Packet{Size: size, Head: pc.scratch}, err
}

// head is when the read at the head of the line became the head (the
// reads before it were answered: from then on it waits for its own
// statement), and its shape; zero when none is in flight. last is when
// the last read was sent.
func (pc *pipeConn) head() (since time.Time, digest string, last time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.inFlight) == 0 {
		return time.Time{}, "", pc.lastSent
	}
	return pc.headAt, pc.inFlight[0].digest, pc.lastSent
}

// pipeKey names a group of pipelined connections: the pool they come from
// and the default database they carry.
type pipeKey struct {
	pool backend.Key
	db   string
}

// pipeGroup is the pipelined connections of one key.
type pipeGroup struct {
	pool    *backend.Pool
	slots   []atomic.Pointer[pipeConn]
	dialing []atomic.Bool
	next    atomic.Uint32
	// failedAt is when opening a connection last failed (unix ns): no
	// other is tried for dialBackoff.
	failedAt atomic.Int64
}

// dialBackoff is how long a group waits after a connection failed to open
// before it tries another; reads meanwhile run on connections of their own.
const dialBackoff = time.Second

// mayDial tells whether the group may open a connection now: the last try
// did not just fail, and under half of the pool's connections are lent (a
// read never waits for its pipeline's connection, and pipelines never
// take what the commands on connections of their own need).
func (g *pipeGroup) mayDial() bool {
	if f := g.failedAt.Load(); f != 0 && time.Since(time.Unix(0, f)) < dialBackoff {
		return false
	}
	lent, most := g.pool.Lent()
	return lent < most/2
}

// pick returns the connection a read goes on: an idle one, else a free
// slot to open one in (slot >= 0, the caller dials), else the one with the
// fewest reads in flight, else nothing (every one full: the read goes on
// a connection of its own).
func (g *pipeGroup) pick() (pc *pipeConn, slot int) {
	n := len(g.slots)
	start := int(g.next.Add(1) % uint32(n))
	slot = -1
	best, bestDepth := (*pipeConn)(nil), int32(maxPipelineDepth)
	for i := range n {
		j := (start + i) % n
		c := g.slots[j].Load()
		if c == nil || c.dead.Load() {
			if slot < 0 && !g.dialing[j].Load() {
				slot = j
			}
			continue
		}
		d := c.depth.Load()
		if d == 0 {
			return c, -1
		}
		if d < bestDepth {
			best, bestDepth = c, d
		}
	}
	if slot >= 0 && (best == nil || bestDepth > 1) && g.mayDial() {
		return nil, slot
	}
	return best, -1
}

// pipes is every group of pipelined connections, and what the proxy
// learned of statement shapes: quick ones are pipelined, slow ones never.
type pipes struct {
	mu     sync.Mutex
	groups atomic.Pointer[map[pipeKey]*pipeGroup] // replaced under mu, never changed
	conns  atomic.Int32                           // pool.pipeline_connections
	quick  atomic.Int64                           // pool.pipeline_quick, in nanoseconds
	// avgRead is a moving average of how long reads take, in nanoseconds
	// (noteRead), sampled.
	avgRead atomic.Int64
	idle    atomic.Int64 // pool.idle_timeout, in nanoseconds

	closed   atomic.Bool // closeAll ran: no group is made again
	shapes   sync.Map    // digest → *atomic.Int32: quick runs in a row (learn)
	nShapes  atomic.Int32
	open     atomic.Int32 // connections open
	onStall  func()
	stopOnce sync.Once
}

func newPipes() *pipes {
	p := &pipes{}
	p.groups.Store(&map[pipeKey]*pipeGroup{})
	return p
}

// configure applies pool.pipeline_connections, pool.pipeline_quick and
// pool.idle_timeout; groups made before keep their size.
func (p *pipes) configure(conns int, quick, idle time.Duration) {
	p.conns.Store(int32(conns))
	p.quick.Store(int64(quick))
	p.idle.Store(int64(idle))
}

// enabled reports whether reads are pipelined at all.
func (p *pipes) enabled() bool { return p.conns.Load() > 0 }

// isQuick reports whether the statement shape digest ran quickly its
// last quickRuns times on connections of its own, and so may be pipelined.
func (p *pipes) isQuick(digest string) bool {
	v, ok := p.shapes.Load(digest)
	return ok && v.(*atomic.Int32).Load() >= quickRuns
}

// learn records how long a read of shape digest took on a connection of
// its own (with no wait for a replica to catch up): a quick run counts
// toward pipelining it, a slow one (slowBound) starts the count over.
func (p *pipes) learn(digest string, took time.Duration) {
	v, ok := p.shapes.Load(digest)
	if !ok {
		if p.nShapes.Load() >= maxKnownShapes {
			return
		}
		if v, ok = p.shapes.LoadOrStore(digest, new(atomic.Int32)); !ok {
			p.nShapes.Add(1)
		}
	}
	runs := v.(*atomic.Int32)
	switch {
	case took >= p.slowBound():
		if runs.Load() > 0 {
			runs.Store(0)
		}
	case runs.Load() < quickRuns:
		runs.Add(1)
	}
}

// noteRead records how long a read took, client to client, in the
// moving average slowBound scales by: under load every read waits longer
// for a CPU, and a quick statement must not look slow for it.
func (p *pipes) noteRead(took time.Duration) {
	old := p.avgRead.Load()
	p.avgRead.Store(old + (int64(took)-old)/16) // lost updates only slow the average down
}

// slowBound is how long a read may take and still count as quick:
// pool.pipeline_quick, or under load loadFactor times the average read.
func (p *pipes) slowBound() time.Duration {
	return max(time.Duration(p.quick.Load()), loadFactor*time.Duration(p.avgRead.Load()))
}

// demote records that a read of shape digest held up a pipelined
// connection, or had an answer a pipeline cannot hand over (an error,
// warnings, a big result) and ran twice: it must run quickly stallPenalty
// more times on connections of its own before it is pipelined again.
func (p *pipes) demote(digest string) {
	if v, ok := p.shapes.Load(digest); ok {
		v.(*atomic.Int32).Store(quickRuns - stallPenalty)
	}
}

// group returns the group of key, made on first use from pool; nil once
// the server closed.
func (p *pipes) group(key pipeKey, pool *backend.Pool) *pipeGroup {
	if p.closed.Load() {
		return nil
	}
	if g := (*p.groups.Load())[key]; g != nil && g.pool == pool {
		return g
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.groups.Load()
	if p.closed.Load() {
		return nil
	}
	if g := old[key]; g != nil && g.pool == pool {
		return g
	}
	n := int(p.conns.Load())
	g := &pipeGroup{pool: pool, slots: make([]atomic.Pointer[pipeConn], n), dialing: make([]atomic.Bool, n)}
	m := maps.Clone(old)
	if prev := m[key]; prev != nil {
		prev.close() // its pool was retired
	}
	m[key] = g
	p.groups.Store(&m)
	return g
}

// start puts a new connection in the group's slot; nil once the server
// closed.
func (p *pipes) start(g *pipeGroup, slot int, conn *backend.Conn) *pipeConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() { // under mu: closeAll closes every one it can see
		conn.Broken = true
		conn.Release()
		return nil
	}
	pc := &pipeConn{conn: conn, onClose: func() { p.open.Add(-1) }, lastSent: time.Now()}
	p.open.Add(1)
	g.slots[slot].Store(pc)
	return pc
}

// close ends every connection of the group.
func (g *pipeGroup) close() {
	for i := range g.slots {
		if c := g.slots[i].Load(); c != nil {
			c.fail(errPipeClosed)
		}
	}
}

// closeTo ends the pipelined connections to backend name (it failed: its
// other connections may be as dead).
func (p *pipes) closeTo(name string) {
	for key, g := range *p.groups.Load() {
		if key.pool.Name == name {
			g.close()
		}
	}
}

// sweep checks the pipelined connections every 10ms (check) until ctx
// ends; then it closes them all.
func (p *pipes) sweep(ctx context.Context) {
	defer p.closeAll()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.check(now)
		}
	}
}

// check ends connections whose oldest read waits past the stall limit
// (demoting its shape) or that sent nothing for pool.idle_timeout, and the
// groups whose pool a reload retired.
func (p *pipes) check(now time.Time) {
	stall := stallFactor * p.slowBound()
	idle := time.Duration(p.idle.Load())
	for key, g := range *p.groups.Load() {
		if g.pool.Closed() {
			p.retire(key, g)
			continue
		}
		for i := range g.slots {
			pc := g.slots[i].Load()
			if pc == nil || pc.dead.Load() {
				continue
			}
			since, digest, last := pc.head()
			switch {
			case !since.IsZero() && now.Sub(since) > stall:
				p.demote(digest)
				pc.fail(errPipeStalled)
				if p.onStall != nil {
					p.onStall()
				}
			case since.IsZero() && now.Sub(last) > idle:
				pc.fail(errPipeClosed)
			}
		}
	}
}

// retire closes a group whose pool a reload retired and forgets it.
func (p *pipes) retire(key pipeKey, g *pipeGroup) {
	g.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.groups.Load()
	if old[key] != g {
		return
	}
	m := maps.Clone(old)
	delete(m, key)
	p.groups.Store(&m)
}

// closeAll ends every pipelined connection; none opens after it.
func (p *pipes) closeAll() {
	p.mu.Lock()
	p.closed.Store(true)
	groups := *p.groups.Load()
	p.groups.Store(&map[pipeKey]*pipeGroup{})
	p.mu.Unlock()
	for _, g := range groups {
		g.close()
	}
}
