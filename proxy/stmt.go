package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router/classify"
)

// Prepared statements (binary protocol) are the client's: the client sees
// ids the session hands out, and each backend connection that runs a
// statement prepares it lazily, once, under its own id (shared by every
// session that borrows the connection, keyed by the SQL text). A read-only
// statement therefore executes on whichever replica its read goes to.
// Parameter types, which a client sends only on the first execute, are
// kept so that a connection seeing the statement for the first time gets
// them too.

// maxExecutePacket bounds a COM_STMT_EXECUTE the session reads whole to
// rewrite its statement id; larger parameters go by SEND_LONG_DATA.
const maxExecutePacket = 64 << 20

// maxStmtsPerConn bounds the statements kept prepared on one backend
// connection; past it the connection's statements are closed.
const maxStmtsPerConn = 1024

// cursorLastRowSent is SERVER_STATUS_LAST_ROW_SENT.
const cursorLastRowSent = 0x0080

// cursorTypeMask selects the cursor type bits of COM_STMT_EXECUTE's flags
// (CURSOR_TYPE_READ_ONLY, FOR_UPDATE, SCROLLABLE); 0 is no cursor.
const cursorTypeMask = 0x07

// clientStmt is a statement the client prepared.
type clientStmt struct {
	sql      string
	digest   string // normalized text, for the digest table
	target   target
	effect   effect
	params   int
	types    []byte // 2 bytes per parameter, from the last execute that bound them
	cursor   bool   // a cursor is open on the held connection
	longData bool   // long data was sent to the held connection
	key      string // stmtKey on a connection in database keyDB (see keyOn)
	keyDB    string

	bulkTypes []byte // 2 bytes per parameter, from the last COM_STMT_BULK_EXECUTE that sent them
	// pipelinable: a plain read that changes nothing, which may run on a
	// pipelined connection (readpipe.go).
	pipelinable bool
}

// lastPreparedID is the statement id MariaDB clients send for "the
// statement prepared last on this connection": mariadb_stmt_execute_direct
// pipelines COM_STMT_PREPARE and COM_STMT_EXECUTE without waiting for the
// id in between.
const lastPreparedID = 0xFFFFFFFF

// stmt returns the client's statement id, resolving lastPreparedID.
func (s *Session) stmt(id uint32) *clientStmt {
	if id == lastPreparedID {
		id = s.lastPrepared
	}
	return s.stmts[id]
}

func errUnknownStmt(id uint32, cmd string) []byte {
	return wire.ErrPacket(mysql.ER_UNKNOWN_STMT_HANDLER, "HY000",
		fmt.Sprintf("Unknown prepared statement handler (%d) given to %s", id, cmd))
}

// The refusals of readBounded, formatted once: not for every statement.
var (
	prepareTooLarge = fmt.Sprintf("switchyard prepares statements of at most %d bytes; send larger ones as text queries", maxInlineQuery)
	executeTooLarge = fmt.Sprintf("COM_STMT_EXECUTE of more than %d bytes; send large parameters with mysql_stmt_send_long_data", maxExecutePacket)
)

// readBounded reads a command body of at most limit bytes into the
// session's scratch buffer. A larger one is read off and refused with 1153
// and tooLarge (which says what to send instead); body is nil then, and err
// is what the caller returns.
func (s *Session) readBounded(size int, seq byte, limit int, tooLarge string) (body []byte, err error) {
	if size > limit {
		last, err := s.client.DiscardBody(size, seq)
		if err != nil {
			return nil, err
		}
		return nil, s.reply(last+1, wire.ErrPacket(mysql.ER_NET_PACKET_TOO_LARGE, "08S01", tooLarge))
	}
	if body, err = s.client.ReadBody(s.buf, size, limit); err != nil {
		return nil, err
	}
	s.keepBuf(body)
	return body, nil
}

// stmtPrepare serves COM_STMT_PREPARE.
func (s *Session) stmtPrepare(ctx context.Context, size int, seq byte) error {
	body, err := s.readBounded(size, seq, maxInlineQuery, prepareTooLarge)
	if body == nil {
		return err
	}
	sql := string(body[1:])
	s.lastPrepared = 0 // until this one succeeds
	st, t, e := s.plan(sql)
	t.pipeline = true
	conn, err := s.acquire(ctx, t)
	if err != nil {
		return s.replyErr(seq+1, err)
	}
	if err = s.sendPacket(conn, body, seq); errors.Is(err, errRetryRead) { // its replica did not catch up
		if conn, err = s.acquireForRetry(ctx, t); err != nil {
			return s.replyErr(seq+1, err)
		}
		err = s.sendPacket(conn, body, seq)
	}
	if err != nil {
		return s.lostBeforeRun(seq + 1)
	}
	s.resp.err = false
	first, err := conn.ReadSmall()
	if err != nil {
		err = s.backendLost(err, seq+1)
		s.finish(conn, nil)
		return s.done(err)
	}
	if len(first) < 9 || first[0] != wire.OKHeader {
		_, err := s.client.Write(first, seq+1)
		s.resp.err = true
		s.finish(conn, nil)
		return s.done(err)
	}
	backendID := binary.LittleEndian.Uint32(first[1:5])
	columns := int(binary.LittleEndian.Uint16(first[5:7]))
	params := int(binary.LittleEndian.Uint16(first[7:9]))
	s.nextStmt++
	id := s.nextStmt
	binary.LittleEndian.PutUint32(first[1:5], id)
	if _, err := s.client.Write(first, seq+1); err != nil {
		s.dropConn()
		s.afterLoss()
		return err
	}
	next := seq + 2
	for _, n := range [2]int{params, columns} {
		if n == 0 {
			continue
		}
		for range n + 1 { // definitions and their EOF
			if _, err := s.relayPacket(&next); err != nil {
				s.finish(conn, nil)
				return s.done(err)
			}
		}
	}
	rememberStmt(conn, sql, backendID, params)
	if s.stmts == nil {
		s.stmts = make(map[uint32]*clientStmt)
	}
	digest := st.Digest
	if digest == "" {
		digest = classify.Digest(sql)
	}
	s.stmts[id] = &clientStmt{sql: sql, digest: digest, target: t, effect: e, params: params, pipelinable: pipelinable(st, t, e)}
	s.lastPrepared = id
	s.finish(conn, nil)
	return s.done(nil)
}

func rememberStmt(conn *backend.Conn, sql string, id uint32, params int) *backend.Stmt {
	if conn.Stmts == nil {
		conn.Stmts = make(map[string]*backend.Stmt)
	}
	bs := &backend.Stmt{ID: id, Params: params}
	conn.Stmts[stmtKey(conn, sql)] = bs
	return bs
}

// stmtKey is what a statement prepared on conn is known by there: its text
// and the default database it was prepared in. The server binds a prepared
// statement's unqualified tables to the database current at PREPARE, so
// two sessions that share the connection share a statement only when they
// use the same database; else one would read and write the other's tables.
func stmtKey(conn *backend.Conn, sql string) string {
	return connDB(conn) + "\x00" + sql
}

// connDB is the default database applied to conn, as the proxy knows it.
func connDB(conn *backend.Conn) string {
	if ap, _ := conn.State.(*appliedState); ap != nil {
		return ap.db
	}
	return ""
}

// keyOn is stmtKey for the client's statement, kept between executes so
// that the hot path does not build it again while the database is the same.
func (cs *clientStmt) keyOn(conn *backend.Conn) string {
	if db := connDB(conn); cs.key == "" || db != cs.keyDB {
		cs.key, cs.keyDB = stmtKey(conn, cs.sql), db
	}
	return cs.key
}

// ensurePrepared returns the statement's id on conn, preparing it there
// first if needed. A server error is returned as is, for the client.
func (s *Session) ensurePrepared(conn *backend.Conn, cs *clientStmt) (*backend.Stmt, error) {
	if bs := conn.Stmts[cs.keyOn(conn)]; bs != nil {
		return bs, nil
	}
	if len(conn.Stmts) >= maxStmtsPerConn {
		for _, bs := range conn.Stmts {
			close := wire.StmtClose(bs.ID)
			if _, err := conn.Write(close[:], 0); err != nil {
				conn.Broken = true
				return nil, err
			}
		}
		clear(conn.Stmts)
	}
	if err := s.sendPacket(conn, append([]byte{mysql.COM_STMT_PREPARE}, cs.sql...), 0); err != nil {
		return nil, err
	}
	first, err := conn.ReadSmall()
	if err != nil {
		conn.Broken = true
		return nil, err
	}
	if len(first) < 9 || first[0] != wire.OKHeader {
		return nil, &backend.Error{Name: conn.Name, Address: conn.Address, Server: parseErr(first), Err: errors.New("prepare failed")}
	}
	id := binary.LittleEndian.Uint32(first[1:5])
	columns := int(binary.LittleEndian.Uint16(first[5:7]))
	params := int(binary.LittleEndian.Uint16(first[7:9]))
	for _, n := range [2]int{params, columns} {
		if n == 0 {
			continue
		}
		for range n + 1 {
			if _, err := conn.ReadSmall(); err != nil {
				conn.Broken = true
				return nil, err
			}
		}
	}
	return rememberStmt(conn, cs.sql, id, params), nil
}

// stmtExecute serves COM_STMT_EXECUTE.
func (s *Session) stmtExecute(ctx context.Context, size int, seq byte) error {
	body, err := s.readBounded(size, seq, maxExecutePacket, executeTooLarge)
	if body == nil {
		return err
	}
	if len(body) < 10 {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "malformed COM_STMT_EXECUTE packet"))
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	cs := s.stmt(id)
	if cs == nil {
		return s.reply(seq+1, errUnknownStmt(id, "mysqld_stmt_execute"))
	}
	// Layout: cmd, id(4), flags(1), iterations(4), then for parameters: NULL
	// bitmap, new-params-bound flag, types (2 per parameter), values.
	boundAt := 10 + (cs.params+7)/8
	bound := false
	if cs.params > 0 && boundAt < len(body) && body[boundAt] == 1 && boundAt+1+2*cs.params <= len(body) {
		bound = true
		cs.types = append(cs.types[:0], body[boundAt+1:boundAt+1+2*cs.params]...)
	}
	eligible := s.pipelineEligible(cs.pipelinable) && boundAt < len(body)
	if eligible && s.srv.pipes.isQuick(cs.digest) {
		if answered, err := s.pipelinedExecute(ctx, cs, body, seq, boundAt); answered {
			s.count(cs.digest, cs.sql)
			return err
		}
	}
	t := cs.target
	t.cursor = body[5]&cursorTypeMask != 0
	t.pipeline = true
	conn, err := s.acquire(ctx, t)
	if err != nil {
		return s.refuse(seq+1, err, cs.digest, cs.sql)
	}
	for retried := false; ; retried = true {
		var bs *backend.Stmt
		bs, err = s.ensurePrepared(conn, cs)
		if errors.Is(err, errRetryRead) { // the prepare carried the wait; its replica did not catch up
			if conn, err = s.acquireForRetry(ctx, t); err != nil {
				return s.refuse(seq+1, err, cs.digest, cs.sql)
			}
			continue
		}
		if err != nil {
			s.finishFailed(conn)
			return s.refuse(seq+1, err, cs.digest, cs.sql)
		}
		payload := body // with the types added below, a copy: body is the client's packet for a read sent again
		binary.LittleEndian.PutUint32(body[1:5], bs.ID)
		if cs.params > 0 && !bound && !bs.TypesBound {
			if cs.types == nil || boundAt >= len(body) {
				s.finish(conn, nil)
				return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "COM_STMT_EXECUTE without parameter types for a statement never executed with them"))
			}
			// This connection never saw the types: send them.
			payload = make([]byte, 0, len(body)+len(cs.types))
			payload = append(payload, body[:boundAt]...)
			payload = append(payload, 1)
			payload = append(payload, cs.types...)
			payload = append(payload, body[boundAt+1:]...)
		}
		bs.TypesBound = bs.TypesBound || cs.params == 0 || bound || cs.types != nil
		s.cursorAsked = body[5]&cursorTypeMask != 0
		s.writing = cs.effect.write
		err = s.exchange(conn, payload, seq, !retried && s.mayRunAgain(conn))
		s.cursorAsked = false
		if !errors.Is(err, errRetryRead) {
			break
		}
		if conn, err = s.acquireForRetry(ctx, t); err != nil {
			return s.refuse(seq+1, err, cs.digest, cs.sql)
		}
	}
	if cs.longData {
		cs.longData = false
		s.holds &^= holdLongData
	}
	if !conn.Broken && s.resp.cursor {
		cs.cursor = true // finish holds the connection for the fetches (heldAfter)
	}
	s.keepGTIDTracking(conn, &cs.effect)
	s.finish(conn, &cs.effect)
	s.count(cs.digest, cs.sql)
	if eligible {
		s.learnShape(cs.digest)
	}
	return err
}

// onHeld is the target of a command that belongs to the connection where
// the statement's cursor or long data is (COM_STMT_FETCH, COM_STMT_RESET):
// the held one, wherever it is.
func (cs *clientStmt) onHeld() target {
	t := cs.target
	t.onHeld = true
	return t
}

// finishFailed gives back a connection a command could not use.
func (s *Session) finishFailed(conn *backend.Conn) {
	if conn.Broken {
		s.dropConn()
		s.afterLoss()
		return
	}
	s.finish(conn, nil)
}

// stmtSendLongData serves COM_STMT_SEND_LONG_DATA, which has no response:
// the data goes to the connection that will execute the statement, which
// the session then holds until that execute.
func (s *Session) stmtSendLongData(ctx context.Context, size int, seq byte) error {
	if size < 7 {
		_, err := s.client.DiscardBody(size, seq)
		return err
	}
	head, err := s.client.R.Peek(5)
	if err != nil {
		return err
	}
	id := binary.LittleEndian.Uint32(head[1:5])
	cs := s.stmt(id)
	if cs == nil {
		_, err := s.client.DiscardBody(size, seq) // the execute reports the unknown id
		return err
	}
	conn, err := s.acquire(ctx, cs.target)
	if err != nil {
		_, derr := s.client.DiscardBody(size, seq)
		return derr
	}
	bs, err := s.ensurePrepared(conn, cs)
	if err != nil {
		s.finishFailed(conn)
		_, derr := s.client.DiscardBody(size, seq)
		return derr
	}
	var patched [5]byte
	patched[0] = mysql.COM_STMT_SEND_LONG_DATA
	binary.LittleEndian.PutUint32(patched[1:], bs.ID)
	_, _ = s.client.R.Discard(5)
	err = conn.WriteHeader(size, seq)
	if err == nil {
		_, err = conn.W.Write(patched[:])
	}
	if err == nil {
		err = s.client.ForwardRest(conn.Conn, size, 5)
	}
	if err == nil {
		err = conn.Flush()
	}
	if err != nil {
		s.dropConn()
		s.afterLoss()
		return err
	}
	cs.longData = true
	s.holds |= holdLongData
	s.finish(conn, nil)
	return nil
}

// stmtFetch serves COM_STMT_FETCH on the connection holding the cursor.
func (s *Session) stmtFetch(ctx context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	if len(body) < 9 {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "malformed COM_STMT_FETCH packet"))
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	cs := s.stmt(id)
	if cs == nil {
		return s.reply(seq+1, errUnknownStmt(id, "mysqld_stmt_fetch"))
	}
	if !cs.cursor || s.held == nil {
		return s.reply(seq+1, wire.ErrPacket(1421, "HY000", fmt.Sprintf("The statement (%d) has no open cursor.", id)))
	}
	conn, err := s.acquire(ctx, cs.onHeld())
	if err != nil { // the held connection's primary was replaced: it is gone
		return s.replyErr(seq+1, err)
	}
	bs := conn.Stmts[cs.keyOn(conn)]
	if bs == nil {
		s.finish(conn, nil)
		return s.reply(seq+1, wire.ErrPacket(1421, "HY000", fmt.Sprintf("The statement (%d) has no open cursor.", id)))
	}
	binary.LittleEndian.PutUint32(body[1:5], bs.ID)
	if err := s.sendPacket(conn, body, seq); err != nil {
		return s.lostBeforeRun(seq + 1)
	}
	err = s.relayRows()
	if s.resp.err || s.resp.status&cursorLastRowSent != 0 {
		s.closeCursor(cs)
	}
	s.finish(conn, nil)
	return err
}

// closeCursor forgets a statement's cursor and, when it was the last one,
// the hold it put on the connection.
func (s *Session) closeCursor(cs *clientStmt) {
	cs.cursor = false
	for _, other := range s.stmts {
		if other.cursor {
			return
		}
	}
	s.holds &^= holdCursor
}

// stmtReset serves COM_STMT_RESET: it closes a cursor and drops long data.
func (s *Session) stmtReset(ctx context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	if len(body) < 5 {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "malformed COM_STMT_RESET packet"))
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	cs := s.stmt(id)
	if cs == nil {
		return s.reply(seq+1, errUnknownStmt(id, "mysqld_stmt_reset"))
	}
	if (!cs.cursor && !cs.longData) || s.held == nil {
		return s.reply(seq+1, wire.OKPacket(s.txStatus()))
	}
	conn, err := s.acquire(ctx, cs.onHeld())
	if err != nil { // the held connection's primary was replaced: it is gone
		return s.replyErr(seq+1, err)
	}
	bs := conn.Stmts[cs.keyOn(conn)]
	if bs == nil {
		s.finish(conn, nil)
		return s.reply(seq+1, wire.OKPacket(s.txStatus()))
	}
	binary.LittleEndian.PutUint32(body[1:5], bs.ID)
	if err := s.sendPacket(conn, body, seq); err != nil {
		return s.lostBeforeRun(seq + 1)
	}
	err = s.relayOne()
	s.closeCursor(cs)
	cs.longData = false
	s.holds &^= holdLongData
	s.finish(conn, nil)
	return err
}

// stmtClose serves COM_STMT_CLOSE, which has no response. The backend
// statements stay prepared for other sessions; an open cursor is closed.
func (s *Session) stmtClose(_ context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	if len(body) < 5 {
		return nil
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	if id == lastPreparedID {
		id = s.lastPrepared
	}
	cs := s.stmts[id]
	if cs == nil {
		return nil
	}
	delete(s.stmts, id)
	if (cs.cursor || cs.longData) && s.held != nil {
		if bs := s.held.Stmts[cs.keyOn(s.held)]; bs != nil {
			var reset [5]byte
			reset[0] = mysql.COM_STMT_RESET
			binary.LittleEndian.PutUint32(reset[1:], bs.ID)
			conn := s.held
			s.setCur(conn)
			if s.sendPacket(conn, reset[:], 0) == nil {
				if _, err := conn.ReadSmall(); err != nil {
					conn.Broken = true
				}
			}
			if conn.Broken {
				s.dropConn()
				s.afterLoss()
				return nil
			}
			s.setCur(nil)
		}
		s.closeCursor(cs)
		if cs.longData {
			s.holds &^= holdLongData
		}
		if s.holds == 0 {
			s.releaseHeld()
		}
	}
	return nil
}
