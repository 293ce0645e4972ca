package proxy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

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
	// pipeline: the command's packet goes out by sendPacket right after
	// acquire, so a replica's wait can go out with it (prelude.go).
	pipeline bool
	read     bool // the statement only reads: a held replica connection may run it
	cursor   bool // an execute that asks for a cursor: it stays beside the session's other cursors
	onHeld   bool // a fetch or reset of what the held connection holds for the statement
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
	eligible := s.pipelineEligible(pipelinable(st, t, e))
	if eligible && s.srv.pipes.isQuick(st.Digest) {
		if answered, err := s.pipelinedRead(ctx, t, body, seq, st.Digest); answered {
			s.count(st.Digest, text)
			return err
		}
	}
	t.pipeline = true
	conn, err := s.acquire(ctx, t)
	if err != nil {
		return s.refuse(seq+1, err, st.Digest, text)
	}
	s.writing = e.write
	for retried := false; ; retried = true {
		if err = s.exchange(conn, body, seq, !retried && s.mayRunAgain(conn)); !errors.Is(err, errRetryRead) {
			break
		}
		if conn, err = s.acquireForRetry(ctx, t); err != nil {
			return s.refuse(seq+1, err, st.Digest, text)
		}
	}
	s.keepGTIDTracking(conn, &e)
	s.finish(conn, &e)
	s.count(st.Digest, text)
	if eligible {
		s.learnShape(st.Digest)
	}
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
	case errors.Is(err, errRetryRead): // its replica did not catch up: to the primary
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
	case router.ReasonReplica, router.ReasonReplicaWait, router.ReasonNoReplica, router.ReasonPrimaryRoom,
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
		s.srv.pipes.closeTo(conn.Name)
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
	s.counted = time.Now() // the command loop's end of the command, read once
	took := s.counted.Sub(s.arrived)
	secs := took.Seconds()
	if s.onReplica && !s.resp.err {
		s.replicaReads++
		if s.replicaReads%8 == 0 { // a sample is enough for the average
			s.srv.pipes.noteRead(took)
		}
	}
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
	s.finish(conn, &effect{useDB: db, stateKnown: true})
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
