package proxy

import (
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

// The relays below stream one response from the current backend
// connection (s.cur) to the client, packet by packet, reading only the
// leading bytes that say where the response ends. Each flushes the client
// once, at the end; the buffer also flushes itself when full, which is what
// applies back-pressure. OK packets, which are small, are decoded to learn
// the transaction state, the GTID of a write and the default database.

// errBackendLost stops a relay after the client was told its backend failed.
var errBackendLost = errors.New("backend lost")

// relayPacket moves one packet from the backend to the client and sorts a
// failure by side: a client that cannot be written to ends the session, a
// backend that fails gets an error to the client.
func (s *Session) relayPacket(next *byte) (wire.Packet, error) {
	p, err := s.cur.Relay(s.client)
	s.relayed += p.Size
	return p, s.relayErr(err, p, next)
}

func (s *Session) relayErr(err error, p wire.Packet, next *byte) error {
	if err == nil {
		*next = p.NextSeq
		return nil
	}
	if errors.Is(err, wire.ErrWrite) {
		s.dropConn() // an unfinished response: never reuse it
		s.afterLoss()
		return err
	}
	return s.backendLost(err, *next)
}

// backendLost drops the current connection and tells the client, unless
// the command is a read that runs again elsewhere (errRetryRead). If part
// of a result was relayed already, the error ends that result stream,
// which the protocol allows between packets; in the middle of a packet the
// client connection is closed instead.
func (s *Session) backendLost(err error, next byte) error {
	if s.mayRetryRead(err) {
		return s.dropForRetry(err)
	}
	conn := s.cur
	name := ""
	if conn != nil {
		name = conn.Name + " (" + conn.Address + ")"
	}
	s.log.Warn("lost backend connection", "backend", name, "err", err)
	s.srv.metrics.lost.Inc()
	inTx := s.holds&(holdTx|holdNoAutocommit) != 0
	s.dropConn()
	s.afterLoss()
	if errors.Is(err, wire.ErrMidPacket) {
		// The client holds part of a packet and waits for the rest: an
		// error packet would read as row bytes (a hang or a corrupt row).
		// Closing the connection is the only way left to fail the result.
		return err
	}
	s.resp.err = true // counted as an error, as the client sees it
	msg := "switchyard lost its connection to backend " + name + " during the statement; its outcome is unknown: check before retrying a write"
	if inTx {
		msg += "; the open transaction was rolled back"
	}
	if werr := s.reply(next, wire.ErrPacket(mysql.ER_NET_READ_ERROR, "08S01", msg)); werr != nil {
		return werr
	}
	return errBackendLost
}

// done flushes the client and turns a reported backend loss into success
// for the session loop: the client was told and may retry.
func (s *Session) done(err error) error {
	if s.relayed > 0 {
		s.srv.metrics.relayed.Add(float64(s.relayed))
		s.relayed = 0
	}
	if errors.Is(err, errBackendLost) {
		if s.killed.Load() {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if s.resp.connKilled {
		return s.serverKilled()
	}
	if s.writing {
		s.writing = false
		s.learnGTIDAfterRows()
	}
	s.ackWrite() // before the client hears of the write
	return s.client.Flush()
}

// relayHead relays the first packet of a response or of a result, where an
// OK packet may come. An OK packet is read whole and noted; the others
// stream.
func (s *Session) relayHead(next *byte) (wire.Packet, error) {
	s.resp.err, s.resp.rowsLast = false, false
	size, seq, err := s.cur.ReadHeader()
	if err != nil {
		return wire.Packet{}, s.backendLost(err, *next)
	}
	if size > 0 && size < wire.MaxPayload {
		first, err := s.cur.R.Peek(1)
		if err != nil {
			return wire.Packet{}, s.backendLost(err, *next)
		}
		if first[0] == wire.OKHeader {
			return s.relayOK(size, seq, next)
		}
	}
	p, err := s.cur.RelayBody(s.client, size, seq)
	s.relayed += p.Size
	if err == nil && p.IsProgress() {
		return s.afterProgress(p, next)
	}
	if err == nil && p.IsERR() {
		s.noteERR(p)
		s.noteReplicaRefusal(p)
	}
	return p, s.relayErr(err, p, next)
}

// noteReplicaRefusal counts a 1792 from a replica connection: its READ
// ONLY guard stopped a statement that writes, which the routing should
// never have sent there.
func (s *Session) noteReplicaRefusal(p wire.Packet) {
	if s.cur == nil || s.cur.OnPrimary || p.ErrCode() != mysql.ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION {
		return
	}
	if s.holds&holdTx == 0 { // in START TRANSACTION READ ONLY the server refuses it directly too
		s.srv.metrics.replicaWriteRefused.Inc()
		s.log.Error("a replica connection refused a statement that writes (1792): routing sent a write to a replica; the READ ONLY guard stopped it", "backend", s.cur.Name)
	}
}

// afterProgress sends a progress report the client on at once (it is
// for a person watching a long ALTER TABLE or LOAD DATA) and relays what
// comes next: more reports, then the statement's response.
func (s *Session) afterProgress(p wire.Packet, next *byte) (wire.Packet, error) {
	*next = p.NextSeq
	if err := s.client.Flush(); err != nil {
		s.dropConn()
		s.afterLoss()
		return p, err
	}
	return s.relayHead(next)
}

// relayOK reads an OK packet, notes what it says and writes it to the
// client in the client's dialect.
func (s *Session) relayOK(size int, seq byte, next *byte) (wire.Packet, error) {
	body, err := s.cur.ReadBody(s.okBuf, size, wire.MaxPayload)
	if err != nil {
		return wire.Packet{}, s.backendLost(err, *next)
	}
	s.okBuf = body[:0]
	s.relayed += len(body)
	ok := wire.ParseOK(body, true)
	s.resp.status, s.resp.insertID = ok.Status, ok.InsertID
	s.resp.track.noteOK(ok)
	out := body
	if s.caps&mysql.CLIENT_SESSION_TRACK == 0 {
		out = ok.WithoutTracking(body)
	}
	if _, err := s.client.Write(out, seq); err != nil {
		s.dropConn()
		s.afterLoss()
		return wire.Packet{}, err
	}
	*next = seq + 1
	return wire.Packet{Seq: seq, NextSeq: seq + 1, Size: len(body), Head: body[:min(len(body), 64)]}, nil
}

// relayResults relays the response to COM_QUERY, COM_STMT_EXECUTE or
// COM_PROCESS_INFO: OK, ERR, LOCAL INFILE requests, or result sets, repeated
// while the server says more results exist.
func (s *Session) relayResults() error {
	s.resp.track.reset()
	s.resp.cursor = false
	return s.done(s.resultsLoop())
}

// opensCursor tells whether the EOF after a result's column definitions,
// with status st, ends the response because the server opened a cursor
// (its rows come by COM_STMT_FETCH). SERVER_STATUS_CURSOR_EXISTS alone does
// not say so: it is the thread's flag, and a stored procedure that holds a
// cursor of its own (a FOR loop over a SELECT) sends it with every result
// set it returns, rows following, to COM_QUERY as to COM_STMT_EXECUTE.
// Only an execute that asked for a cursor gets one, for a single result:
// with more results to come (a CALL) the rows are sent at once.
func (s *Session) opensCursor(st uint16) bool {
	return s.cursorAsked && st&wire.StatusCursor != 0 && st&wire.StatusMoreResults == 0
}

func (s *Session) resultsLoop() error {
	next := byte(1)
	for {
		p, err := s.relayHead(&next)
		if err != nil {
			return err
		}
		switch p.First() {
		case wire.OKHeader:
			if s.resp.status&wire.StatusMoreResults == 0 {
				return nil
			}
			continue
		case wire.ERRHeader:
			return nil
		case wire.LocalInfileReq:
			if err := s.relayLocalInfile(); err != nil {
				return err
			}
			continue
		}
		columns, n := wire.LenEncInt(p.Head)
		if n == 0 {
			return s.backendLost(errors.New("malformed column count"), next)
		}
		for range columns {
			if _, err := s.relayPacket(&next); err != nil {
				return err
			}
		}
		eof, err := s.relayPacket(&next)
		if err != nil {
			return err
		}
		if st := eof.Status(); s.opensCursor(st) {
			s.resp.status, s.resp.cursor = st, true
			return nil // rows come later, by COM_STMT_FETCH
		}
		status, err := s.rowsUntilEnd(&next)
		if err != nil {
			return err
		}
		if s.resp.err {
			return nil
		}
		s.resp.status, s.resp.rowsLast = status, true
		if status&wire.StatusMoreResults == 0 {
			return nil
		}
	}
}

// rowsUntilEnd relays rows up to and including the EOF or an ERR, and
// returns the EOF's status flags. Clients never get CLIENT_DEPRECATE_EOF,
// so a row stream always ends with a classic EOF packet.
func (s *Session) rowsUntilEnd(next *byte) (uint16, error) {
	for {
		p, err := s.relayPacket(next)
		if err != nil {
			return 0, err
		}
		if p.IsERR() {
			s.noteERR(p)
			return 0, nil
		}
		if p.IsEOF() {
			s.resp.track.warnings = p.Warnings()
			return p.Status(), nil
		}
	}
}

// relayRows relays the response to COM_STMT_FETCH or COM_FIELD_LIST: rows
// or column definitions up to an EOF or an ERR.
func (s *Session) relayRows() error {
	next := byte(1)
	s.resp.err = false
	status, err := s.rowsUntilEnd(&next)
	if err == nil && !s.resp.err {
		s.resp.status = status
	}
	return s.done(err)
}

// relayOne relays a single-packet response (OK, ERR, EOF or a string).
func (s *Session) relayOne() error {
	next := byte(1)
	s.resp.track.reset()
	_, err := s.relayHead(&next)
	return s.done(err)
}

// relayLocalInfile serves a LOAD DATA LOCAL INFILE request: the client
// streams the file as packets ending with an empty one, which go to the
// backend as they arrive.
func (s *Session) relayLocalInfile() error {
	if err := s.client.Flush(); err != nil {
		s.dropConn()
		return err
	}
	for {
		p, err := s.client.Relay(s.cur.Conn)
		if err != nil {
			s.dropConn() // the backend waits for the rest of a file
			s.afterLoss()
			return err
		}
		if p.Size == 0 {
			break
		}
	}
	if err := s.cur.Flush(); err != nil {
		s.dropConn()
		s.afterLoss()
		return err
	}
	return nil
}
