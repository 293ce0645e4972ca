package proxy

import (
	"encoding/binary"
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// A read that must see a write (consistency session or global) runs on a
// replica known to have applied it, or that replica first waits for it.
// Known: the router takes a replica as fresh when its probe or what the
// proxy learned since (progress.applied: every wait's answer) covers the
// read's need; then nothing waits. Otherwise the wait does not cost a
// round trip of its own: acquire writes the wait statement, then the
// session's state, unflushed, ahead of the command's packet (the prelude),
// and sendPacket sends all three in one write, then reads their answers in
// order. The wait goes first, before the state: until the replica applied
// what the read needs, the session's default database may not exist there
// (dropped and created again), and syncing it would fail with 1049. When
// the wait timed out, or the state was refused, the read ran anyway (a
// read has no side effects): its answer is read and dropped, none of it
// reaches the client, and the read goes to the primary (errRetryRead with
// s.redirect).
//
// A command whose packet does not go through sendPacket right after
// acquire (target.pipeline unset: long data, KILL) waits on its
// own, a round trip that is counted (how="separate") so that it shows.

// prelude is what acquire wrote, unsent, on conn ahead of the command's
// packet.
type prelude struct {
	conn    *backend.Conn // nil: none pending
	need    gtid.Position
	dialect gtid.Dialect
	states  int  // answers of the state statements after the wait's
	synced  bool // state statements were written (readState must run)
}

// errNotCaughtUp: the replica did not apply the read's need in time (or
// refused the session's state); the read goes to the primary.
var errNotCaughtUp = errors.New("replica did not catch up in time")

// writePrelude writes, unflushed, the wait for need and the session's
// state on conn, a replica connection just taken from its pool.
func (s *Session) writePrelude(conn *backend.Conn, need gtid.Position) error {
	d := gtid.DialectOf(applied(conn).flavor)
	s.waitBuf = append(append(s.waitBuf[:0], mysql.COM_QUERY), d.WaitSQL(need.String(), s.srv.settings().policy.GTIDWait)...)
	_, err := conn.Write(s.waitBuf, 0)
	p := prelude{conn: conn, need: need, dialect: d}
	if err == nil && !s.inSync(conn) {
		p.synced = true
		p.states, err = s.writeState(conn)
	}
	if err != nil {
		conn.Broken = true
		return err
	}
	s.prelude = p
	return nil
}

// settlePrelude reads the answers of the prelude sent on conn: the wait's,
// then the state's. It returns nil when the replica caught up and took the
// state, errNotCaughtUp when it did not (conn stays usable unless its state
// is unknown: then Broken), or the failure that broke conn. Either way it
// learns how far the replica got.
func (s *Session) settlePrelude(conn *backend.Conn) error {
	p := s.prelude
	s.prelude = prelude{}
	reached, at, err := readWaitAnswer(conn, p.dialect)
	if err != nil {
		conn.Broken = true
		return err
	}
	if pos, perr := gtid.Parse(at); perr == nil {
		s.srv.progress.noteApplied(conn.Name, pos)
	}
	if reached {
		s.srv.progress.noteApplied(conn.Name, p.need) // a successful wait proves it
	}
	if p.synced {
		if err := s.readState(conn, p.states); err != nil {
			var be *backend.Error
			if !errors.As(err, &be) {
				return err // conn failed
			}
			s.log.Debug("a replica that caught up could not take the session state; the read goes to the primary", "backend", conn.Name, "err", err)
			reached = false
		}
	}
	if !reached {
		return errNotCaughtUp
	}
	return nil
}

// waitAlone sends the prelude on its own and reads its answers: the round
// trip a command that cannot carry it pays (counted: how="separate").
func (s *Session) waitAlone(conn *backend.Conn) error {
	s.srv.metrics.consistentReads[readSeparate].Inc()
	if err := conn.Flush(); err != nil {
		s.prelude = prelude{}
		conn.Broken = true
		return err
	}
	return s.settlePrelude(conn)
}

// afterPrelude settles the prelude that went out with a command's packet
// (cmd) on conn. When the replica did not catch up, the command's answer
// is read and dropped, conn goes back to its pool and the command is to be
// sent again, to the primary: errRetryRead, with s.redirect set.
func (s *Session) afterPrelude(conn *backend.Conn, cmd byte) error {
	err := s.settlePrelude(conn)
	if !errors.Is(err, errNotCaughtUp) {
		if err == nil {
			s.srv.metrics.consistentReads[readPipelined].Inc()
		}
		return err
	}
	if !conn.Broken && discardAnswer(conn, cmd) != nil {
		conn.Broken = true
	}
	s.srv.metrics.consistentReads[readRedirected].Inc()
	s.redirect = true
	s.mu.Lock()
	s.retrySince = s.curSince // limits.query_timeout counts both runs
	s.mu.Unlock()
	s.setCur(nil)
	conn.Release()
	return errRetryRead
}

// readWaitAnswer reads the answer to gtid.Dialect.WaitSQL: whether the
// wait reached its position, and the position the server had applied when
// it returned. A wait that failed (an ERR: bad input, max_statement_time)
// did not reach it; only a broken answer is an error.
func readWaitAnswer(conn *backend.Conn, d gtid.Dialect) (reached bool, at string, err error) {
	p, err := conn.ReadSmall()
	if err != nil {
		return false, "", err
	}
	if len(p) == 0 || p[0] == wire.OKHeader {
		return false, "", errors.New("the GTID wait returned no result set")
	}
	if p[0] == wire.ERRHeader {
		return false, "", nil
	}
	columns, _ := wire.LenEncInt(p)
	for range columns + 1 { // column definitions and their EOF
		if _, err := conn.ReadSmall(); err != nil {
			return false, "", err
		}
	}
	for first := true; ; first = false {
		p, err := conn.ReadSmall()
		switch {
		case err != nil:
			return false, "", err
		case len(p) > 0 && p[0] == wire.ERRHeader:
			return false, "", nil
		case len(p) > 0 && p[0] == wire.EOFHeader && len(p) < 9:
			return reached, at, nil
		case first:
			r, null, rest := lenEncValue(p)
			reached = d.Reached(r, null)
			if g, null, _ := lenEncValue(rest); !null {
				at = g
			}
		}
	}
}

// lenEncValue reads one text-protocol column value: NULL (0xFB) or a
// length-encoded string.
func lenEncValue(b []byte) (v string, null bool, rest []byte) {
	if len(b) == 0 || b[0] == 0xFB {
		return "", true, b[min(len(b), 1):]
	}
	s, rest, ok := wire.LenEncBytes(b)
	if !ok {
		return "", true, nil
	}
	return string(s), false, rest
}

// discardAnswer reads and drops the answer to a command conn ran (cmd:
// COM_QUERY, COM_STMT_EXECUTE or COM_STMT_PREPARE; a statement it
// prepared is closed again). An answer it cannot end by reading (a LOCAL
// INFILE request, a cursor left open) is an error: the caller breaks conn.
func discardAnswer(conn *backend.Conn, cmd byte) error {
	var buf [64]byte
	p, err := skipPacket(conn, buf[:])
	if err != nil {
		return err
	}
	if cmd == mysql.COM_STMT_PREPARE {
		if p.First() != wire.OKHeader || len(p.Head) < 9 {
			return nil
		}
		for _, n := range [2]uint16{binary.LittleEndian.Uint16(p.Head[7:9]), binary.LittleEndian.Uint16(p.Head[5:7])} {
			if err := skipPackets(conn, int(n), n > 0); err != nil {
				return err
			}
		}
		closeStmt := wire.StmtClose(binary.LittleEndian.Uint32(p.Head[1:5]))
		if _, err := conn.Write(closeStmt[:], 0); err != nil {
			return err
		}
		return conn.Flush() // no answer comes
	}
	for {
		var status uint16
		switch {
		case p.IsProgress(): // a report, then the answer
			status = wire.StatusMoreResults
		case p.First() == wire.ERRHeader:
			return nil
		case p.First() == wire.OKHeader:
			status = wire.ParseOK(p.Head, false).Status
		case p.First() == wire.LocalInfileReq:
			return errors.New("a read asked for a local file")
		default:
			columns, n := wire.LenEncInt(p.Head)
			if n == 0 {
				return errors.New("malformed column count")
			}
			if err := skipPackets(conn, int(columns), false); err != nil {
				return err
			}
			if p, err = skipPacket(conn, buf[:]); err != nil {
				return err
			}
			if p.Status()&wire.StatusCursor != 0 && cmd == mysql.COM_STMT_EXECUTE {
				return errors.New("a cursor was opened")
			}
			for { // rows, up to their EOF or an ERR
				if p, err = skipPacket(conn, buf[:]); err != nil {
					return err
				}
				if p.IsEOF() || p.IsERR() {
					break
				}
			}
			if p.IsERR() {
				return nil
			}
			status = p.Status()
		}
		if status&wire.StatusMoreResults == 0 {
			return nil
		}
		if p, err = skipPacket(conn, buf[:]); err != nil {
			return err
		}
	}
}

// skipPackets drops n packets, and the EOF after them when eof is set.
func skipPackets(conn *backend.Conn, n int, eof bool) error {
	if eof {
		n++
	}
	var buf [1]byte
	for range n {
		if _, err := skipPacket(conn, buf[:]); err != nil {
			return err
		}
	}
	return nil
}

// skipPacket reads one packet from conn, keeping its first len(head)
// bytes in head.
func skipPacket(conn *backend.Conn, head []byte) (wire.Packet, error) {
	size, seq, err := conn.ReadHeader()
	if err != nil {
		return wire.Packet{}, err
	}
	b, err := conn.R.Peek(min(size, len(head)))
	if err != nil {
		return wire.Packet{}, err
	}
	p := wire.Packet{Seq: seq, Size: size, Head: head[:copy(head, b)]}
	_, err = conn.DiscardBody(size, seq)
	return p, err
}
