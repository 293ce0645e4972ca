package proxy

// The lease: one owner for a command's backend connection, from routing to
// release. Every command handler reads its packet, plans (plan, targetFor),
// then calls acquire, which routes (router.Route), holds the statement
// while no primary can be used (failoverWait), borrows from the pool
// (borrow, take), gives the connection the session's state (syncState),
// or, on a replica that must first apply the GTID a read needs, writes the
// wait and the state ahead of the command's packet (afterBorrow,
// prelude.go); or
// decides, by useOfHeld, what the connection the session already holds
// means for this command. After the exchange, finish records what the
// server reported (recordState) and keeps or gives back the connection by
// heldAfter. EXPLAIN ROUTE asks the same functions. Nothing else borrows,
// drops or pins, but for the connections a pipeline borrows for good
// (openPipeConn, readpipe_session.go), which no lease owns: a session owns
// only its place in their line. useOfHeld and heldAfter (holds.go) are pure and
// table-tested; the invariant they keep: a statement that may write never
// runs on a replica connection.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/router"
)

// acquire returns the connection a command runs on: the held one, or one
// borrowed from the pool of the backend the router picks, carrying the
// session's state.
func (s *Session) acquire(ctx context.Context, t target) (*backend.Conn, error) {
	if s.held != nil {
		switch useOfHeld(s.holds, s.held.OnPrimary, t) {
		case heldRun:
			s.routed = router.ReasonPinned // before the check: a refusal is counted under it
			if s.holds&(holdTx|holdNoAutocommit) != 0 {
				s.routed = router.ReasonInTransaction
			}
			if err := s.checkHeldEpoch(); err != nil {
				return nil, err
			}
			s.held.JoinGate() // it left the gate after its last command (gateHeld)
			s.setCur(s.held)
			return s.held, nil
		case heldRelease:
			s.releaseHeld()
		case heldRefuse:
			return nil, errWriteOnReplica(s.holds)
		case heldBeside: // the router never sends a statement that may write to a replica
		}
	}
	redirect := s.redirect // a read whose wait timed out: the primary answers it
	s.redirect, s.prelude = false, prelude{}
	if redirect {
		t.class, t.hintReplica = router.ClassWrite, false
	}
	hold := failoverWait{srv: s.srv}
	defer hold.done()
	for {
		d, need, err := s.route(ctx, t, &hold)
		s.routed, s.onReplica = d.Reason, d.Backend.Role == health.RoleReplica // a refusal too is counted under its route
		if redirect {
			s.routed = router.ReasonNoReplica
		}
		if err != nil {
			return nil, err
		}
		conn, err := s.borrowFor(ctx, d)
		if err == nil {
			return s.afterBorrow(ctx, t, d, need, conn, &hold)
		}
		var be *backend.Error
		if !errors.As(err, &be) || be.Server != nil || errors.Is(err, backend.ErrPoolTimeout) || errors.Is(err, backend.ErrQueueTimeout) ||
			errors.Is(err, backend.ErrMisconfigured) {
			// The server refused, the pool is exhausted, the backend stayed
			// busy or the config does not fit: say so.
			return nil, err
		}
		// The backend cannot be reached; nothing was sent. Tell health at
		// once (it probes now instead of at the next interval).
		s.srv.reportFailure(d.Backend.Name)
		if s.onReplica {
			// A read does not fail for a replica: the primary can answer it.
			s.log.Warn("replica unavailable; read goes to the primary", "backend", d.Backend.Name, "err", err)
			t.class, t.hintReplica = router.ClassWrite, false
			continue
		}
		// The primary cannot be reached: hold the statement (bounded) until
		// health confirms it down and a failover gives a new one, or it
		// comes back.
		if !hold.wait(ctx) {
			return nil, err
		}
	}
}

// borrowFor borrows a connection for decision d. A replica that must first
// catch up (d.Wait) gets the session's state only once it has (see
// afterBorrow): until it applied what the read needs, the session's default
// database may not exist there yet (a database just dropped and created
// again), and syncing it would fail the read with 1049. MASTER_GTID_WAIT
// needs none of the session's state; it runs with the variables the pooled
// connection carries, and one that cuts it short (max_statement_time) only
// sends the read to the primary.
func (s *Session) borrowFor(ctx context.Context, d router.Decision) (*backend.Conn, error) {
	if d.Wait {
		return s.take(ctx, d.Backend, d.Epoch)
	}
	return s.borrow(ctx, d.Backend, d.Epoch)
}

// afterBorrow readies a replica that must first apply the GTID a read
// needs: it writes the wait and the session's state ahead of the command's
// packet (prelude.go), or, for a command that does not send its packet
// right away (!t.pipeline), has the replica wait now, a round trip of its
// own; and moves the read to the primary when the replica does not get
// there in time or cannot take the state.
func (s *Session) afterBorrow(ctx context.Context, t target, d router.Decision, need gtid.Position, conn *backend.Conn, hold *failoverWait) (*backend.Conn, error) {
	if !d.Wait {
		if !need.IsEmpty() && s.onReplica {
			s.srv.metrics.consistentReads[readKnown].Inc()
		}
		return conn, nil // borrow stamped it and made it the current command
	}
	err := s.writePrelude(conn, need)
	if err == nil && t.pipeline {
		return conn, nil
	}
	if err == nil {
		err = s.waitAlone(conn)
	}
	if err == nil {
		return conn, nil
	}
	if errors.Is(err, errNotCaughtUp) {
		s.srv.metrics.consistentReads[readRedirected].Inc()
	}
	s.setCur(nil) // before the release: the connection is no longer this session's
	conn.Release()
	t.class, t.hintReplica = router.ClassWrite, false
	d, _, err = s.route(ctx, t, hold)
	if err != nil {
		return nil, err
	}
	if conn, err = s.borrow(ctx, d.Backend, d.Epoch); err != nil {
		return nil, err
	}
	s.routed, s.onReplica = router.ReasonNoReplica, false
	return conn, nil
}

// checkHeldEpoch refuses to go on with a connection to a primary that is no
// longer the primary (a failover or switchover happened since it was
// borrowed): the transaction or state on it is gone or must not be written
// to. The client gets an error and its session starts over.
func (s *Session) checkHeldEpoch() error {
	conn := s.held
	if !conn.OnPrimary {
		return nil
	}
	topo := s.srv.topo.Snapshot()
	if topo.Epoch == conn.Epoch {
		return nil
	}
	if p, ok := topo.Primary(); ok && p.Name == conn.Name {
		conn.Epoch = topo.Epoch // the same primary, seen again
		return nil
	}
	s.setCur(conn)
	s.dropConn()
	s.afterLoss()
	return errPrimaryChanged
}

// borrow takes a pooled connection to server, chosen in the topology of
// epoch, and gives it the session's state.
func (s *Session) borrow(ctx context.Context, server health.Server, epoch uint64) (*backend.Conn, error) {
	conn, err := s.take(ctx, server, epoch)
	if err != nil {
		return nil, err
	}
	if err := s.syncState(conn); err != nil {
		s.setCur(nil)
		conn.Release()
		return nil, err
	}
	return conn, nil
}

// take takes a pooled connection to server, chosen in the topology of
// epoch, as the session's current command, without syncing its state.
func (s *Session) take(ctx context.Context, server health.Server, epoch uint64) (*backend.Conn, error) {
	// A session holding a connection (a cursor, a transaction) borrows
	// beside the backend's queue: queued behind others that may wait for
	// the slot it holds, it could wait for itself.
	conn, err := s.pooled(ctx, server, epoch, s.held != nil)
	if err != nil {
		return nil, err
	}
	// The state sync is a round trip to the server: like a statement, it
	// is the session's current command, which KILL, the query watcher and
	// the down-server watcher can end.
	s.setCur(conn)
	if topo := s.srv.topo.Snapshot(); topo.Epoch != epoch {
		// A promotion came after the routing decision, and the watcher
		// may have handled it already: if this is the former primary,
		// end it now (the sync or the send then fails: nothing ran).
		s.abortIfOnFormerPrimary(topo)
	}
	return conn, nil
}

// pooled borrows a connection to server, chosen in the topology of
// epoch, for the session's user and dialect, and stamps it with the
// epoch, the server's role and flavor; its state is not synced. beside:
// past the backend's queue (backend.Pool.GetWhere).
func (s *Session) pooled(ctx context.Context, server health.Server, epoch uint64, beside bool) (*backend.Conn, error) {
	var accept func(*backend.Conn) bool
	if s.state.db == "" {
		// No statement takes a connection's default database away: a
		// session without one never reuses a connection that has one.
		accept = withoutDB
	}
	conn, err := s.srv.pools.get(ctx, &s.poolCache, server, s.user, s.caps, s.extCaps, s.collation, accept, beside)
	if err != nil {
		return nil, err
	}
	conn.Epoch = epoch
	conn.OnPrimary = server.Role != health.RoleReplica
	if conn.State == nil {
		conn.State = &appliedState{flavor: server.Flavor}
	}
	return conn, nil
}

// route asks the router, holding the statement (bounded, by hold) while
// no primary is known: a failover may be about to give one.
func (s *Session) route(ctx context.Context, t target, hold *failoverWait) (router.Decision, gtid.Position, error) {
	need := s.need(t.consistency)
	req := s.request(t, need)
	for {
		topo := s.srv.topo.Snapshot()
		d, err := router.Route(req, topo, s.srv.settings().policy, s.srv.load)
		if !errors.Is(err, router.ErrNoPrimary) {
			return d, need, err
		}
		if !hold.wait(ctx) {
			return d, need, noPrimary(topo)
		}
	}
}

// need is the GTID position a read must see under the consistency level.
func (s *Session) need(consistency string) gtid.Position {
	switch consistency {
	case config.ConsistencySession:
		return s.lastWrite
	case config.ConsistencyGlobal:
		return s.srv.progress.newest()
	}
	return gtid.Position{}
}

func (s *Session) request(t target, need gtid.Position) router.Request {
	return router.Request{
		Class:        t.class,
		HintPrimary:  t.hintPrimary,
		HintReplica:  t.hintReplica,
		Consistency:  t.consistency,
		Need:         need,
		MaxStaleness: t.maxStaleness,
		Avoid:        s.avoid,
	}
}

// noPrimary explains a missing primary with what each server looks like,
// so the client's error names the server that could not be reached.
func noPrimary(topo *health.Topology) error {
	var b strings.Builder
	if topo != nil {
		for i, srv := range topo.Servers {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s (%s) ", srv.Name, srv.Address)
			switch {
			case !srv.Up && srv.LastError != "":
				b.WriteString("unreachable: " + srv.LastError)
			case !srv.Up:
				b.WriteString("unreachable")
			default:
				b.WriteString(string(srv.Role))
			}
		}
	}
	return fmt.Errorf("%w: %s", router.ErrNoPrimary, b.String())
}

// releaseHeld gives the held connection back to the pool.
func (s *Session) releaseHeld() {
	conn := s.held
	s.held, s.holds = nil, 0
	conn.Release()
}

// finish records what a statement did to the session, from the effect of
// its class and from what the server reported, and keeps the connection or
// gives it back (heldAfter).
func (s *Session) finish(conn *backend.Conn, e *effect) {
	s.setCur(nil)
	s.writing = false
	if s.prelude.conn == conn {
		// The command ended before its packet went out: the wait and
		// the state are still in conn's buffer, unsent.
		s.prelude = prelude{}
		conn.Broken = true
	}
	r := &s.resp
	if conn.Broken { // dropped by a failed relay: afterLoss has run
		r.track.reset()
		return
	}
	s.recordState(conn, e)
	warnings := r.track.warnings
	r.track.reset() // what it reported is recorded: it belongs to no later command
	f := finished{
		before:   s.holds,
		status:   r.status,
		failed:   r.err,
		warnings: warnings,
		pinned:   s.pins != 0,
		known:    e != nil,
	}
	if e != nil {
		f.tx, f.write, f.readsLast = e.tx, e.write, e.readsLast
	}
	f.cursor, s.resp.cursor = s.resp.cursor, false // this command's, once
	if conn != s.held && s.held != nil {
		s.finishBeside(conn, f)
		return
	}
	s.holds = heldAfter(f)
	if s.holds != 0 {
		s.held = conn
		s.gateHeld()
		return
	}
	s.held = nil
	conn.Release()
}

// gateHeld gives back the backend's gate slot (pool.max_active_per_backend)
// of the connection the session holds between its commands: the gate
// counts statements running on a backend, not connections held. A client
// idle in a transaction, a pin or a soft hold runs nothing there, so it
// must not keep other sessions queued; its next command joins the gate
// again beside the queue (acquire), never behind it: a transaction that
// waited for a slot while its locks block the statements holding the slots
// would wait for itself.
func (s *Session) gateHeld() {
	if s.held != nil {
		s.held.LeaveGate()
	}
}

// finishBeside ends a command that ran on a primary connection beside the
// replica connection the session holds for a cursor (useOfHeld): if the
// command left state on its connection, that one is kept and the replica's
// is let go (its cursor with it); otherwise the session goes on holding
// the replica's.
func (s *Session) finishBeside(conn *backend.Conn, f finished) {
	f.before = 0
	h := heldAfter(f)
	if h&(stateHolds|holdCursor|holdLongData) == 0 && s.holds&^softHolds != 0 {
		s.holds &^= softHolds
		conn.Release()
		return
	}
	old := s.held
	old.Broken = true // an open cursor or long data: not for another client
	old.Release()
	for _, cs := range s.stmts {
		cs.cursor, cs.longData = false, false
	}
	s.held, s.holds = nil, h
	if h != 0 {
		s.held = conn
		s.gateHeld()
		return
	}
	conn.Release()
}

// recordState records what the statement did to the session's state: what
// the server's session tracking reported (the source of truth), and the
// pins its class implies for the state tracking does not report (GET_LOCK,
// SELECT ... INTO @v, a SET NAMES ... COLLATE the server reports only in
// part).
func (s *Session) recordState(conn *backend.Conn, e *effect) {
	r := &s.resp
	t := &r.track
	ap, _ := conn.State.(*appliedState)
	pin := uint16(0)
	if e != nil && !r.err {
		if e.setsVars {
			// The text replays exactly what the client wrote (tracking
			// leaves collation_connection out of SET NAMES ... COLLATE).
			s.state.addSet(e.text, e.varNames)
		}
		pin = e.pin
		s.pins &^= e.unpin
	}
	if e == nil || !e.setsVars || r.err {
		// Variables changed inside a multi-statement, a CALL, a statement
		// too large to classify, or a statement that failed after it set
		// some: the server's report is all there is.
		for _, v := range t.vars {
			s.state.addSet(v.text, v.names)
		}
	}
	// Only a statement can change what no entry describes: commands
	// without one (e == nil: a prepare, a fetch, COM_RESET_CONNECTION)
	// report at most what they reset.
	if t.changed && e != nil && !e.describesState() || t.untracked {
		pin |= pinServerState
	}
	if ap != nil {
		ap.varsKey = s.state.varsKey
	}
	switch {
	case t.schemaSet:
		s.state.db = t.schema
	case e != nil && !r.err && e.useDB != "":
		s.state.db = e.useDB
	}
	if ap != nil {
		ap.db = s.state.db
	}
	if added := pin &^ s.pins; added != 0 {
		s.srv.metrics.countPins(added)
	}
	s.pins |= pin
	if s.ackWrite() {
		s.lastWrite = s.lastWrite.Merge(t.pos)
	}
}

// ackWrite records the GTID the response reported as acknowledged, once:
// done calls it before the answer reaches the client, since from then on
// another connection's read (consistency global) must see the write; a
// GTID learned after the answer (learnGTIDAfterRows) is acknowledged when
// the statement is recorded. It reports whether the response carried one.
func (s *Session) ackWrite() bool {
	t := &s.resp.track
	if t.gtid == "" {
		return false
	}
	if t.pos.IsEmpty() {
		pos, err := gtid.Parse(t.gtid)
		if err != nil {
			return false
		}
		// Filled: a session's single MySQL GTIDs would otherwise grow its
		// set by a span per gap; it asks no more of a replica.
		t.pos = pos.Filled()
		s.srv.progress.ack(t.pos)
	}
	return true
}

// afterLoss updates the session after its connection was dropped. A
// transaction on it is gone (the client was told); state only that backend
// knew (temporary tables, locks, user variables, cursors) is gone too, and
// since the client cannot know, the session ends after this command.
func (s *Session) afterLoss() {
	if s.held != nil {
		// The lost connection ran a statement beside the one the session
		// holds (useOfHeld: a replica's cursor), which keeps its state.
		return
	}
	if s.holds&(holdPin|holdCursor|holdLongData|holdNoAutocommit) != 0 {
		s.killed.Store(true)
	}
	s.holds, s.pins, s.held = 0, 0, nil
}
