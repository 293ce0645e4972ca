package proxy

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// keptAnswer bounds the answer buffers kept in answerPool and the execute
// buffer a session keeps: a point select's fit many times over.
const keptAnswer = 4 << 10

// answerPool lends pipelined reads their answer buffers for one command,
// so that idle sessions hold none (see buffers.go).
var answerPool = sync.Pool{New: func() any { return new([]byte) }}

// pipelineCase is what mayPipeline decides on: whether the statement is
// pipelinable, and the session around it.
type pipelineCase struct {
	statement bool // pipelinable: a plain read that changes nothing
	holds     hold
	pins      uint16
	held      bool   // the session holds a connection
	varsKey   uint64 // the session's replayed variables (0: none)
}

// mayPipeline tells whether a statement may run on a pipelined connection
// (readpipe.go), once its shape is known to be quick: a plain read that
// changes nothing (pipelinable), by a session that holds nothing and
// whose state is a fresh login's (its default database aside, which is
// part of the group's key). Pure, and table-tested: everything else keeps
// a connection of its own.
func mayPipeline(c pipelineCase) bool {
	return c.statement && !c.held && c.holds == 0 && c.pins == 0 && c.varsKey == 0
}

// pipelinable is mayPipeline's part that depends on the statement alone,
// kept with a prepared statement.
func pipelinable(st classify.Statement, t target, e effect) bool {
	return st.Kind == classify.Read && !st.Unknown && st.Pin == 0 && !st.UsesSessionFunc && !st.SetsSessionVars &&
		len(st.SessionVarNames) == 0 && st.Tx == classify.TxNone && st.UseDB == "" &&
		t.class == router.ClassRead && t.read && !t.hintPrimary && !t.needsLast &&
		e.pin == 0 && !e.write && !e.stateKnown && !e.readsLast
}

// pipelineCase describes a statement (pipelinable or not) and the session
// for mayPipeline.
func (s *Session) pipelineCase(statement bool) pipelineCase {
	return pipelineCase{statement: statement, holds: s.holds, pins: s.pins, held: s.held != nil, varsKey: s.state.varsKey}
}

// pipelineEligible tells whether the session's statement (statement:
// pipelinable) may run on a pipelined connection once its shape is known
// to be quick.
func (s *Session) pipelineEligible(statement bool) bool {
	return s.srv.pipes.enabled() && mayPipeline(s.pipelineCase(statement))
}

// learnShape tells the pipelines how long an eligible statement took on
// a connection of its own (count just ran): only a read a replica answered
// with no wait, and no error, says how quick its shape is.
func (s *Session) learnShape(digest string) {
	if s.routed == router.ReasonReplica && !s.resp.err {
		s.srv.pipes.learn(digest, s.counted.Sub(s.arrived))
	}
}

// pipelinedRead runs a read mayPipeline allowed on a pipelined connection
// to the replica the router picks. It reports false, with nothing sent to
// the client, when the read must run on a connection of its own instead:
// the router chose the primary or a replica that must wait first, no
// pipelined connection could be had, or the answer was not plain (the
// read runs again there, where the client sees all of it).
func (s *Session) pipelinedRead(ctx context.Context, t target, body []byte, seq byte, digest string) (bool, error) {
	d, need, pc := s.pipeFor(ctx, t)
	if pc == nil {
		return false, nil
	}
	return s.pipelinedAnswer(pc, d, need, body, seq, digest)
}

// pipelinedExecute is pipelinedRead for COM_STMT_EXECUTE (body, the
// client's packet): the statement is prepared on the pipelined connection
// once, and each execute goes with its parameter types (boundAt is where
// the new-params-bound flag is), which then need no state of their own.
func (s *Session) pipelinedExecute(ctx context.Context, cs *clientStmt, body []byte, seq byte, boundAt int) (bool, error) {
	if body[5]&cursorTypeMask != 0 || cs.longData || (cs.params > 0 && cs.types == nil) {
		return false, nil
	}
	d, need, pc := s.pipeFor(ctx, cs.target)
	if pc == nil {
		return false, nil
	}
	id, ok := s.pipeStmt(pc, cs)
	if !ok {
		s.srv.pipes.demote(cs.digest) // not to try the prepare again soon
		return false, nil
	}
	payload := append(s.pipeExec[:0], body...)
	binary.LittleEndian.PutUint32(payload[1:5], id)
	if cs.params > 0 && payload[boundAt] == 0 {
		payload = append(payload[:boundAt], 1)
		payload = append(payload, cs.types...)
		payload = append(payload, body[boundAt+1:]...)
	}
	if cap(payload) <= keptAnswer {
		s.pipeExec = payload[:0]
	}
	return s.pipelinedAnswer(pc, d, need, payload, seq, cs.digest)
}

// pipeFor routes a read and returns the pipelined connection it goes on,
// or nil: the router chose the primary or a replica that must wait first,
// or no pipelined connection could be had.
func (s *Session) pipeFor(ctx context.Context, t target) (router.Decision, gtid.Position, *pipeConn) {
	hold := failoverWait{srv: s.srv}
	d, need, err := s.route(ctx, t, &hold)
	hold.done()
	if err != nil || d.Wait || d.Reason != router.ReasonReplica || d.Backend.Role != health.RoleReplica {
		return d, need, nil
	}
	return d, need, s.pipeConnTo(ctx, d.Backend, d.Epoch)
}

// pipeStmt returns the id of the client's statement on pc, preparing it
// there first (a round trip, once per connection). Two sessions that
// prepared it at once keep the first id; the second is closed.
func (s *Session) pipeStmt(pc *pipeConn, cs *clientStmt) (uint32, bool) {
	pc.mu.Lock()
	id, ok := pc.stmts[cs.sql]
	full := len(pc.stmts) >= maxStmtsPerConn
	pc.mu.Unlock()
	if ok {
		return id, true
	}
	if full {
		return 0, false
	}
	r := s.pipeReadFor("", time.Now())
	r.prepare = true
	defer func() {
		r.prepare = false
		r.giveBack()
	}()
	if err := pc.do(r, append([]byte{mysql.COM_STMT_PREPARE}, cs.sql...), 0); err != nil || !r.plain {
		return 0, false
	}
	pc.mu.Lock()
	id, ok = pc.stmts[cs.sql]
	if !ok {
		if pc.stmts == nil {
			pc.stmts = make(map[string]uint32)
		}
		pc.stmts[cs.sql] = r.stmtID
	}
	pc.mu.Unlock()
	if ok {
		close := wire.StmtClose(r.stmtID)
		_, _ = pc.send(nil, close[:], 0) // no answer: nothing to wait for
		return id, true
	}
	return r.stmtID, true
}

// pipeReadFor readies the session's pipelined read.
func (s *Session) pipeReadFor(digest string, sent time.Time) *pipeRead {
	r := &s.pipeRead
	if r.turn == nil {
		r.turn = make(chan struct{}, 1)
	}
	r.digest, r.sent = digest, sent
	if r.answer == nil {
		r.answer = *answerPool.Get().(*[]byte)
	}
	return r
}

// giveBack returns the read's answer buffer to answerPool (a big one is
// let go).
func (r *pipeRead) giveBack() {
	if cap(r.answer) <= keptAnswer {
		b := r.answer[:0]
		answerPool.Put(&b)
	}
	r.answer = nil
}

// pipelinedAnswer sends a read's packet on pc, waits for its answer and,
// when it is plain, hands it to the client.
func (s *Session) pipelinedAnswer(pc *pipeConn, d router.Decision, need gtid.Position, payload []byte, seq byte, digest string) (bool, error) {
	r := s.pipeReadFor(digest, s.arrived)
	s.setInPipe(true)
	err := pc.do(r, payload, seq)
	killed := s.setInPipe(false)
	s.routed, s.onReplica = d.Reason, true // counted so when answered or interrupted here
	m := s.srv.metrics
	switch {
	case err != nil:
		r.giveBack()
		m.pipelined[pipeFailed].Inc()
		return killed, s.interrupted(killed, seq)
	case !r.plain:
		r.giveBack()
		m.pipelined[pipeRerun].Inc()
		s.srv.pipes.demote(digest) // not to run twice again soon
		return killed, s.interrupted(killed, seq)
	}
	m.pipelined[pipeAnswered].Inc()
	if !need.IsEmpty() {
		m.consistentReads[readKnown].Inc()
	}
	s.resp.status, s.resp.err, s.resp.rowsLast, s.resp.connKilled = r.status, false, true, false
	s.resp.track.reset()
	s.relayed += len(r.answer)
	_, err = s.client.W.Write(r.answer)
	r.giveBack()
	if err != nil {
		return true, err
	}
	return true, s.done(nil)
}

// setInPipe marks the session's current command as a pipelined read (or
// no longer), for KILL QUERY (runningForKill); it reports whether a KILL
// QUERY came while it was one.
func (s *Session) setInPipe(on bool) (killed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	killed = s.pipeKilled
	s.inPipe, s.pipeKilled = on, false
	return killed
}

// interrupted answers a pipelined read that a KILL QUERY interrupted and
// that would otherwise run again on a connection of its own: as the
// server answers a statement it killed. Nothing, when it was not killed.
func (s *Session) interrupted(killed bool, seq byte) error {
	if !killed {
		return nil
	}
	s.resp.err = true
	return s.reply(seq+1, wire.ErrPacket(mysql.ER_QUERY_INTERRUPTED, "70100", "Query execution was interrupted"))
}

// pipeConnTo returns a pipelined connection to server for the session's
// user, dialect and database, opening one when the group has room, or nil.
func (s *Session) pipeConnTo(ctx context.Context, server health.Server, epoch uint64) *pipeConn {
	cur := s.srv.pools.cur.Load()
	key := keyFor(server.Name, server.Address, s.user, s.caps, s.extCaps, s.collation, cur)
	pool := s.poolCache.get(key)
	if pool == nil {
		var err error
		if pool, err = s.srv.pools.pool(key, s.user, cur); err != nil {
			return nil
		}
		s.poolCache.put(key, pool)
	}
	g := s.pipeGroup(key, pool)
	if g == nil {
		return nil
	}
	pc, slot := g.pick()
	if slot < 0 || !g.dialing[slot].CompareAndSwap(false, true) {
		return pc
	}
	defer g.dialing[slot].Store(false)
	conn, err := s.openPipeConn(ctx, server, epoch)
	if err != nil {
		g.failedAt.Store(time.Now().UnixNano())
		s.log.Debug("no pipelined connection", "backend", server.Name, "err", err)
		return pc
	}
	return s.srv.pipes.start(g, slot, conn)
}

// pipeGroup returns the group of pipelined connections of pool for the
// session's database: the one it used last, like poolCache, without
// hashing the group's key for every read.
func (s *Session) pipeGroup(key backend.Key, pool *backend.Pool) *pipeGroup {
	c := &s.pipeCache
	if c.g != nil && c.g.pool == pool && c.db == s.state.db {
		return c.g
	}
	g := s.srv.pipes.group(pipeKey{pool: key, db: s.state.db}, pool)
	c.g, c.db = g, s.state.db
	return g
}

// openPipeConn borrows a connection for a pipeline for good and gives it
// the state every read on it shares: a fresh login's with the session's
// default database, session tracking, and the replica's READ ONLY guard.
// It runs no command of the session's, so it is not the session's current
// one, and it leaves the backend's gate, which counts commands running on
// connections of their own.
func (s *Session) openPipeConn(ctx context.Context, server health.Server, epoch uint64) (*backend.Conn, error) {
	// Beside the backend's queue: the connection leaves the gate at once,
	// and a read must not wait behind other commands for it.
	conn, err := s.pooled(ctx, server, epoch, true)
	if err != nil {
		return nil, err
	}
	_ = conn.Conn.SetDeadline(time.Now().Add(s.srv.settings().cfg.Limits.ConnectTimeout))
	err = s.syncState(conn)
	_ = conn.Conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Broken = true
		conn.Release()
		return nil, err
	}
	conn.LeaveGate()
	return conn, nil
}
