package proxy

import (
	"encoding/binary"
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

// The relays below stream one response from the backend to the client,
// packet by packet, reading only the leading bytes that say where the
// response ends. Each flushes the client once, at the end (the buffer also
// flushes itself when full, which is what applies back-pressure).

// relayPacket moves one packet from the backend to the client and sorts a
// failure by side: a client that cannot be written to ends the session, a
// backend that fails gets an error to the client.
func (s *Session) relayPacket(next *byte) (wire.Packet, error) {
	p, err := s.backend.Relay(s.client)
	if err != nil {
		if errors.Is(err, wire.ErrWrite) {
			s.dropBackend() // an unfinished response: never reuse it
			return p, err
		}
		return p, s.backendLost(err, *next)
	}
	*next = p.NextSeq
	return p, nil
}

// errBackendLost stops a relay after backendFailed told the client.
var errBackendLost = errors.New("backend lost")

func (s *Session) backendLost(err error, next byte) error {
	if werr := s.backendFailed(err, next); werr != nil {
		return werr
	}
	return errBackendLost
}

// finish flushes the client and turns a reported backend loss into success
// for the session loop: the client was told and may retry.
func (s *Session) finish(err error) error {
	if errors.Is(err, errBackendLost) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.client.Flush()
}

// relayResults relays the response to COM_QUERY, COM_STMT_EXECUTE or
// COM_PROCESS_INFO: OK, ERR, LOCAL INFILE requests, or result sets, repeated
// while the server says more results exist.
func (s *Session) relayResults() error {
	return s.finish(s.resultsLoop())
}

func (s *Session) resultsLoop() error {
	next := byte(1)
	deprecateEOF := s.caps&mysql.CLIENT_DEPRECATE_EOF != 0
	for {
		p, err := s.relayPacket(&next)
		if err != nil {
			return err
		}
		switch p.First() {
		case wire.OKHeader:
			if p.Status()&wire.StatusMoreResults == 0 {
				return nil
			}
			continue
		case wire.ERRHeader:
			return nil
		case wire.LocalInfileReq:
			if err := s.relayLocalInfile(); err != nil {
				return err
			}
			next = 0 // the OK or ERR that follows continues the backend's sequence
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
		if !deprecateEOF {
			eof, err := s.relayPacket(&next)
			if err != nil {
				return err
			}
			if eof.Status()&wire.StatusCursor != 0 {
				return nil // rows come later, by COM_STMT_FETCH
			}
		}
		status, err := s.rowsUntilEnd(&next, deprecateEOF)
		if err != nil || status&wire.StatusMoreResults == 0 {
			return err
		}
	}
}

// rowsUntilEnd relays rows up to and including the terminator or an ERR,
// and returns the terminator's status flags.
func (s *Session) rowsUntilEnd(next *byte, deprecateEOF bool) (uint16, error) {
	for {
		p, err := s.relayPacket(next)
		if err != nil {
			return 0, err
		}
		if p.IsERR() {
			return 0, nil
		}
		if p.IsTerminator(deprecateEOF) {
			return p.Status(), nil
		}
	}
}

// relayRows relays the response to COM_STMT_FETCH or COM_FIELD_LIST: rows
// or column definitions up to a terminator or an ERR.
func (s *Session) relayRows() error {
	next := byte(1)
	_, err := s.rowsUntilEnd(&next, s.caps&mysql.CLIENT_DEPRECATE_EOF != 0)
	return s.finish(err)
}

// relayOne relays a single-packet response (OK, ERR, EOF or a string).
func (s *Session) relayOne() error {
	next := byte(1)
	_, err := s.relayPacket(&next)
	return s.finish(err)
}

// relayPrepare relays the response to COM_STMT_PREPARE: an OK carrying the
// statement id and the parameter and column counts, then their definitions.
func (s *Session) relayPrepare() error {
	return s.finish(s.prepareLoop())
}

func (s *Session) prepareLoop() error {
	next := byte(1)
	p, err := s.relayPacket(&next)
	if err != nil || p.First() != wire.OKHeader {
		return err
	}
	if len(p.Head) < 9 {
		return s.backendLost(errors.New("short COM_STMT_PREPARE_OK"), next)
	}
	columns := int(binary.LittleEndian.Uint16(p.Head[5:7]))
	params := int(binary.LittleEndian.Uint16(p.Head[7:9]))
	deprecateEOF := s.caps&mysql.CLIENT_DEPRECATE_EOF != 0
	for _, n := range []int{params, columns} {
		if n == 0 {
			continue
		}
		for range n {
			if _, err := s.relayPacket(&next); err != nil {
				return err
			}
		}
		if !deprecateEOF {
			if _, err := s.relayPacket(&next); err != nil {
				return err
			}
		}
	}
	return nil
}

// relayLocalInfile serves a LOAD DATA LOCAL INFILE request: the client
// streams the file as packets ending with an empty one, which go to the
// backend as they arrive.
func (s *Session) relayLocalInfile() error {
	if err := s.client.Flush(); err != nil {
		s.dropBackend()
		return err
	}
	for {
		p, err := s.client.Relay(s.backend.Conn)
		if err != nil {
			s.dropBackend() // the backend waits for the rest of a file
			return err
		}
		if p.Size == 0 {
			break
		}
	}
	if err := s.backend.Flush(); err != nil {
		s.dropBackend()
		return err
	}
	return nil
}
