package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// maxInlineQuery is the largest statement the session reads whole to
// classify. Larger ones (bulk inserts) stream to the primary unread.
const maxInlineQuery = 1 << 20

// pinConnectionID pins a session that asked for CONNECTION_ID(): from then
// on that id names its backend thread, so KILL of it reaches the right one.
const pinConnectionID uint16 = 1 << 15

// pinServerState pins a session whose backend reported a session state
// change that nothing the proxy can replay accounts for: a user variable
// set in a CALL or a multi-statement, a temporary table made by a
// statement too large to classify, the client's own change of the session
// tracking settings.
const pinServerState uint16 = 1 << 14

// pinSessionStatus pins a session that ran FLUSH STATUS: its session
// status counters then count only on that connection.
const pinSessionStatus uint16 = 1 << 13

// describesState tells whether the statement's class accounts for the
// session state it changes, so that the server's bare "state changed"
// needs no pin of its own.
func (e *effect) describesState() bool { return e.stateKnown }

// target is what a command needs from the backend it runs on.
type target struct {
	class        router.Class
	hintPrimary  bool
	hintReplica  bool
	consistency  string
	maxStaleness time.Duration
	needsLast    bool // needs the previous statement's connection (LAST_INSERT_ID()…)
	read         bool // the statement only reads: a held replica connection may run it
	cursor       bool // an execute that asks for a cursor: it stays beside the session's other cursors
	onHeld       bool // a fetch or reset of what the held connection holds for the statement
}

// effect is what a statement does to the session when it succeeds.
type effect struct {
	stateKnown bool // the class accounts for the session state it changes
	text       string
	setsVars   bool
	varNames   []string
	useDB      string
	pin        uint16
	unpin      uint16
	tx         classify.TxOp
	write      bool
	readsLast  bool // reads the previous statement's diagnostics (SHOW WARNINGS, LAST_INSERT_ID()…)
}

// targetFor maps a classified statement to its routing needs.
func (s *Session) targetFor(st classify.Statement) target {
	t := target{
		consistency:  s.consistency,
		hintPrimary:  st.Hint.Route == classify.HintPrimary,
		hintReplica:  st.Hint.Route == classify.HintReplica,
		maxStaleness: st.Hint.MaxStaleness,
		needsLast:    st.UsesSessionFunc,
	}
	if st.Hint.Consistency != "" {
		t.consistency = st.Hint.Consistency
	}
	switch st.Kind {
	case classify.Read:
		t.class, t.read = router.ClassRead, true
		if st.UsesSessionFunc {
			t.class = router.ClassWrite // the previous statement's connection, or the primary
		}
	case classify.Transaction:
		t.class = router.ClassTransaction
		if st.Tx == classify.TxBeginReadOnly {
			t.class = router.ClassReadOnlyTx
		}
	case classify.Session:
		t.class = router.ClassSession
	default:
		t.class = router.ClassWrite
	}
	return t
}

// plan classifies a statement text once and derives both where it runs
// and what it does to the session. COM_QUERY and COM_STMT_PREPARE share it.
// A statement that asks for CONNECTION_ID() runs on the primary and pins the
// session: the id must name the primary thread that KILL of it reaches.
func (s *Session) plan(text string) (classify.Statement, target, effect) {
	st := s.srv.classifier.Classify(text)
	s.noteHint(st.Hint)
	t := s.targetFor(st)
	e := effectOf(st, text)
	if containsFold(text, "CONNECTION_ID") {
		e.pin |= pinConnectionID
	}
	if bytes.EqualFold(firstWord([]byte(text)), []byte("FLUSH")) && containsFold(text, "STATUS") {
		e.pin |= pinSessionStatus
	}
	if e.pin != 0 || setsReadOnly(st) {
		t.read = false
		// State that pins lives on the primary, where the session's writes
		// can follow it; and the client's own transaction_read_only must
		// never reach a replica connection, whose READ ONLY guards it.
		t.class = router.ClassWrite
	}
	return st, t, e
}

// setsReadOnly tells whether a statement sets the session's
// transaction_read_only (SET SESSION TRANSACTION READ ONLY / READ WRITE,
// SET tx_read_only = …).
func setsReadOnly(st classify.Statement) bool {
	for _, n := range st.SessionVarNames {
		if n == "transaction_read_only" || n == "tx_read_only" {
			return true
		}
	}
	return false
}

func effectOf(st classify.Statement, text string) effect {
	e := effect{
		stateKnown: !st.Unknown && st.Pin|st.Unpin|st.Drop != 0 || st.SetsSessionVars || len(st.SessionVarNames) > 0 || st.UseDB != "" || st.Tx != classify.TxNone,
		setsVars:   st.SetsSessionVars,
		varNames:   st.SessionVarNames,
		useDB:      st.UseDB,
		pin:        uint16(st.Pin),
		unpin:      uint16(st.Unpin),
		tx:         st.Tx,
		write:      st.Kind == classify.Write,
		readsLast:  st.UsesSessionFunc,
	}
	if st.SetsSessionVars {
		e.text = text
	}
	return e
}

// containsFold reports whether s contains the upper-case ASCII word w in
// any case. It runs on every statement, so it tests one byte before
// comparing the rest.
func containsFold(s, w string) bool {
	first := w[0]
	for i := 0; i+len(w) <= len(s); i++ {
		if c := s[i]; (c == first || c == first|0x20) && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// firstWord returns the statement's leading keyword (after whitespace), so
// the proxy's own statements (KILL, EXPLAIN ROUTE) are recognized without
// running their regular expressions on every statement.
func firstWord(sql []byte) []byte {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r') {
		i++
	}
	j := i
	for j < len(sql) && (sql[j]|0x20 >= 'a' && sql[j]|0x20 <= 'z') {
		j++
	}
	return sql[i:j]
}

// query serves COM_QUERY.
func (s *Session) query(ctx context.Context, size int, seq byte) error {
	if size > maxInlineQuery || size == wire.MaxPayload {
		// Too large to classify cheaply: a bulk statement, which goes to
		// the primary as it streams in.
		conn, err := s.acquire(ctx, target{class: router.ClassWrite, consistency: s.consistency})
		if err != nil {
			return s.refuseCommand(size, seq, err)
		}
		if err := s.forwardPacket(conn, size, seq); err != nil {
			return err
		}
		err = s.relayResults()
		s.finish(conn, &effect{write: true})
		return err
	}
	body, err := s.client.ReadBody(s.buf, size, maxInlineQuery)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	sql := body[1:]
	switch w := firstWord(sql); {
	case bytes.EqualFold(w, []byte("KILL")):
		if handled, err := s.maybeKill(ctx, sql, seq); handled || err != nil {
			return err
		}
	case bytes.EqualFold(w, []byte("EXPLAIN")):
		if handled, err := s.maybeExplain(ctx, sql, seq); handled || err != nil {
			return err
		}
	}
	text := string(sql)
	st, t, e := s.plan(text)
	conn, err := s.acquire(ctx, t)
	if err != nil {
		return s.refuse(seq+1, err, st.Digest, text)
	}
	for retried := false; ; retried = true {
		if err = s.exchange(conn, body, seq, !retried && s.mayRunAgain(conn)); !errors.Is(err, errRetryRead) {
			break
		}
		if conn, err = s.acquireForRetry(ctx, t); err != nil {
			return s.refuse(seq+1, err, st.Digest, text)
		}
	}
	s.trackWrites(conn, &e)
	s.finish(conn, &e)
	s.count(st.Digest, text)
	return err
}

// exchange sends a command's packet on conn and relays the answer. When
// the connection fails, the client is told, or, for a read that may run
// again (retryRead for the length of the exchange, see mayRetryRead),
// nothing was said and the caller sends it again on errRetryRead.
func (s *Session) exchange(conn *backend.Conn, payload []byte, seq byte, retryRead bool) error {
	s.retryRead = retryRead
	err := s.sendPacket(conn, payload, seq)
	switch {
	case err == nil:
		err = s.relayResults()
	case s.mayRetryRead(err):
		err = s.dropForRetry(err)
	default:
		err = s.lostBeforeRun(seq + 1)
	}
	s.retryRead = false
	return err
}

// acquireForRetry acquires the connection a read runs again on, away from
// the server it failed on, and gives it the read's first start time.
func (s *Session) acquireForRetry(ctx context.Context, t target) (*backend.Conn, error) {
	conn, err := s.acquire(ctx, t)
	s.avoid = ""
	if err == nil {
		s.mu.Lock()
		s.curSince = s.retrySince
		s.mu.Unlock()
	}
	return conn, err
}

// errRetryRead: the read's connection failed before any of its answer
// reached the client, which was told nothing; the caller sends it again.
var errRetryRead = errors.New("read to be sent again")

// mayRunAgain tells whether the command about to run on conn is a read
// that could run again elsewhere: one the router routed as a read (a
// statement a replica may run: no side effects), not on a connection the
// session holds (a transaction or pinned state). On a replica it runs
// again on another replica or the primary; on the primary, once the
// primary is back or another was promoted (acquire holds it till then).
func (s *Session) mayRunAgain(conn *backend.Conn) bool {
	if conn == s.held {
		return false
	}
	switch s.routed {
	case router.ReasonReplica, router.ReasonReplicaWait, router.ReasonNoReplica,
		router.ReasonNoSplit, router.ReasonConsistency, router.ReasonHintPrimary:
		return true
	}
	return false
}

// mayRetryRead tells whether the read whose connection just failed with
// err runs again: one may (retryRead), nothing of its answer reached the
// client, and nobody ended it on purpose: not KILL of the session
// (killed), nor KILL QUERY or limits.query_timeout (killedAt, set before
// any abort of theirs). The watchers that end statements on a server that
// stopped answering are not such a purpose. A server that crashed or hung
// is what this is for, as MaxScale's retry_failed_reads.
func (s *Session) mayRetryRead(err error) bool {
	if !s.retryRead || s.relayed != 0 || errors.Is(err, wire.ErrMidPacket) || s.killed.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killedAt.IsZero()
}

// dropForRetry drops the failed connection of a read that runs again, has
// health probe its server now, and keeps the read away from that server
// (s.avoid): health may not have seen it fail yet. The read keeps the
// time it started, so that limits.query_timeout counts both runs.
func (s *Session) dropForRetry(err error) error {
	s.mu.Lock()
	conn, since := s.cur, s.curSince
	s.mu.Unlock()
	if conn != nil {
		s.log.Warn("a server failed before answering a read; sending the read again", "backend", conn.Name, "err", err)
		s.srv.reportFailure(conn.Name)
		s.srv.pools.closeIdleTo(conn.Name)
		s.avoid = conn.Name // for the replica choice; a primary is waited for instead
	}
	s.retrySince = since
	s.srv.metrics.readsRetried.Inc()
	s.dropConn()
	s.afterLoss()
	return errRetryRead
}

// count records a statement in the metrics and the digest table, under
// digest, or when that is empty the digest of sql.
func (s *Session) count(digest, sql string) {
	secs := time.Since(s.arrived).Seconds()
	s.srv.metrics.countStatement(s.routed, s.onReplica, s.resp.err, secs)
	if digest != "" {
		s.digestBuf = append(s.digestBuf[:0], digest...)
	} else {
		s.digestBuf = classify.AppendDigest(s.digestBuf[:0], sql)
	}
	s.srv.digests.record(s.digestBuf, s.resp.err, secs)
	if cap(s.digestBuf) > 4<<10 {
		s.digestBuf = nil
	}
}

// refuse tells the client why its statement cannot run and counts it,
// under its digest, as a statement that failed: an error the proxy made
// (1429, 1158) is an error the client received, and must show in /digests
// and switchyard_statements_total{result="error"} like a server's.
func (s *Session) refuse(seq byte, err error, digest, sql string) error {
	s.resp.err = true
	s.count(digest, sql)
	return s.replyErr(seq, err)
}

// keepBuf keeps a scratch buffer for the next command unless it grew big.
func (s *Session) keepBuf(b []byte) {
	if cap(b) <= 64<<10 {
		s.buf = b[:0]
	} else {
		s.buf = nil
	}
}

// lostBeforeRun reports a backend connection that failed before the
// statement reached the server: nothing ran, the client may retry.
func (s *Session) lostBeforeRun(seq byte) error {
	conn := s.cur
	s.resp.err = true
	s.dropConn()
	s.afterLoss()
	name := ""
	if conn != nil {
		name = conn.Name + " (" + conn.Address + ")"
	}
	return s.reply(seq, wire.ErrPacket(mysql.ER_NET_ERROR_ON_WRITE, "08S01",
		"switchyard lost its connection to backend "+name+" before the statement ran; nothing was executed, retry it"))
}

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
			s.setCur(s.held)
			return s.held, nil
		case heldRelease:
			s.releaseHeld()
		case heldRefuse:
			return nil, errWriteOnReplica(s.holds)
		case heldBeside: // the router never sends a statement that may write to a replica
		}
	}
	hold := failoverWait{srv: s.srv}
	defer hold.done()
	for {
		d, need, err := s.route(ctx, t, &hold)
		s.routed, s.onReplica = d.Reason, d.Backend.Role == health.RoleReplica // a refusal too is counted under its route
		if err != nil {
			return nil, err
		}
		conn, err := s.borrowFor(ctx, d)
		if err == nil {
			return s.afterBorrow(ctx, t, d, need, conn, &hold)
		}
		var be *backend.Error
		if !errors.As(err, &be) || be.Server != nil || errors.Is(err, backend.ErrPoolTimeout) || errors.Is(err, backend.ErrMisconfigured) {
			return nil, err // the server refused, the pool is exhausted or the config does not fit: say so
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

// afterBorrow has a replica wait for the GTID a read needs, then gives the
// connection the session's state, or moves the read to the primary when
// the replica does not get there in time or cannot take the state.
func (s *Session) afterBorrow(ctx context.Context, t target, d router.Decision, need router.GTIDPos, conn *backend.Conn, hold *failoverWait) (*backend.Conn, error) {
	if !d.Wait {
		return conn, nil // borrow stamped it and made it the current command
	}
	if s.waitGTID(conn, need) {
		s.srv.progress.noteApplied(d.Backend.Name, need)
		if s.syncAfterWait(conn) {
			return conn, nil
		}
	} else {
		s.setCur(nil) // before the release: the connection is no longer this session's
		conn.Release()
	}
	t.class, t.hintReplica = router.ClassWrite, false
	d, _, err := s.route(ctx, t, hold)
	if err != nil {
		return nil, err
	}
	if conn, err = s.borrow(ctx, d.Backend, d.Epoch); err != nil {
		return nil, err
	}
	s.routed, s.onReplica = router.ReasonNoReplica, false
	return conn, nil
}

// syncAfterWait gives a replica connection that caught up the session's
// state. A failure (the connection broke, or the server refused the state)
// is not the read's: it goes to the primary instead.
func (s *Session) syncAfterWait(conn *backend.Conn) bool {
	err := s.syncState(conn)
	if err != nil {
		s.log.Debug("a replica that caught up could not take the session state; the read goes to the primary", "backend", conn.Name, "err", err)
		s.setCur(nil)
		conn.Release() // syncState marked it broken: its state is unknown
	}
	return err == nil
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
	var accept func(*backend.Conn) bool
	if s.state.db == "" {
		// No statement takes a connection's default database away: a
		// session without one never reuses a connection that has one.
		accept = withoutDB
	}
	conn, err := s.srv.pools.get(ctx, server, s.user, s.caps, s.extCaps, s.collation, accept)
	if err != nil {
		return nil, err
	}
	// The state sync is a round trip to the server: like a statement, it
	// is the session's current command, which KILL, the query watcher and
	// the down-server watcher can end.
	conn.Epoch = epoch
	conn.OnPrimary = server.Role != health.RoleReplica
	if conn.State == nil {
		conn.State = &appliedState{mysql: server.Flavor == health.FlavorMySQL}
	}
	s.setCur(conn)
	if topo := s.srv.topo.Snapshot(); topo.Epoch != epoch {
		// A promotion came after the routing decision, and the watcher
		// may have handled it already: if this is the former primary,
		// end it now (the sync or the send then fails: nothing ran).
		s.abortIfOnFormerPrimary(topo)
	}
	return conn, nil
}

// route asks the router, holding the statement (bounded, by hold) while
// no primary is known: a failover may be about to give one.
func (s *Session) route(ctx context.Context, t target, hold *failoverWait) (router.Decision, router.GTIDPos, error) {
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
func (s *Session) need(consistency string) router.GTIDPos {
	switch consistency {
	case config.ConsistencySession:
		return s.lastWrite
	case config.ConsistencyGlobal:
		return s.srv.progress.newest()
	}
	return nil
}

func (s *Session) request(t target, need router.GTIDPos) router.Request {
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

// waitGTID has a replica wait, bounded, until it applied need.
func (s *Session) waitGTID(conn *backend.Conn, need router.GTIDPos) bool {
	secs := strconv.FormatFloat(s.srv.settings().policy.GTIDWait.Seconds(), 'f', 3, 64)
	v, err := conn.QueryValue("SELECT MASTER_GTID_WAIT('" + need.String() + "', " + secs + ")")
	if err != nil {
		conn.Broken = true
		return false
	}
	return v == "0"
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
		return
	}
	s.held = nil
	conn.Release()
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
	if t.changed && (e == nil || !e.describesState()) || t.untracked {
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
	if t.gtid != "" {
		pos := router.ParseGTIDPos(t.gtid)
		s.lastWrite = s.lastWrite.Merge(pos)
		s.srv.acknowledged(t.gtid, pos)
	}
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

// initDB serves COM_INIT_DB.
func (s *Session) initDB(ctx context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	db := string(body[1:])
	conn, err := s.acquire(ctx, target{class: router.ClassSession, consistency: s.consistency})
	if err != nil {
		return s.replyErr(seq+1, err)
	}
	if err := s.sendPacket(conn, body, seq); err != nil {
		return s.lostBeforeRun(seq + 1)
	}
	err = s.relayOne()
	s.finish(conn, &effect{useDB: db})
	return err
}

// setOption serves COM_SET_OPTION: multi-statements on or off is session
// state, replayed wherever the session's statements run.
func (s *Session) setOption(ctx context.Context, size int, seq byte) error {
	if s.held != nil {
		return s.onPrimary(ctx, size, seq, s.relayOne)
	}
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	if len(body) != 3 || body[1] > 1 || body[2] != 0 {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_UNKNOWN_COM_ERROR, "08S01", "COM_SET_OPTION takes option 0 (multi-statements on) or 1 (off)"))
	}
	s.state.multiStmtOff = body[1] == 1
	s.state.rehash()
	return s.reply(seq+1, []byte{wire.EOFHeader, 0, 0, byte(s.resp.status), byte(s.resp.status >> 8)})
}

// resetConnection serves COM_RESET_CONNECTION: the session's state goes
// back to a fresh login's (the database stays, as on the server).
func (s *Session) resetConnection(ctx context.Context, size int, seq byte) error {
	if s.held != nil {
		conn, err := s.acquire(ctx, target{class: router.ClassSession})
		if err != nil { // the held connection's primary was replaced: it is gone
			return s.refuseCommand(size, seq, err)
		}
		if err := s.forwardPacket(conn, size, seq); err != nil {
			return err
		}
		err = s.relayOne()
		if !conn.Broken {
			clear(conn.Stmts)
			conn.State = nil // the server forgot everything; sync starts over
		}
		s.holds, s.pins = 0, 0
		s.finish(conn, nil)
		s.resetLocal()
		return err
	}
	if _, err := s.client.DiscardBody(size, seq); err != nil {
		return err
	}
	s.resetLocal()
	return s.reply(seq+1, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
}

func (s *Session) resetLocal() {
	s.state.reset()
	s.stmts = nil
	s.resp.status = mysql.SERVER_STATUS_AUTOCOMMIT
}
