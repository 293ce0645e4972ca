package proxy

import (
	"errors"

	"github.com/switchyard/switchyard/proxy/wire"
)

// A backend thread killed with KILL [CONNECTION] ends its client's session
// as it would without the proxy. When the server says so (it sends
// ER_CONNECTION_KILLED, then closes: a session killing its own thread, or a
// kill from elsewhere that lands while the thread runs), the client gets
// that error and loses its connection, as it would direct; the proxy does
// not carry the session over to another backend connection, which would
// hide from the client that its transaction, temporary tables, variables
// and locks are gone. The error is relayed, so it is never a read to run
// again (a read runs again only when nothing of its answer was relayed).
// A connection that just closes, without a word from the server, is still
// handled as a lost backend (backendLost): a crashed server looks the same.

// codeConnectionKilled is ER_CONNECTION_KILLED (SQLSTATE 70100).
const codeConnectionKilled = 1927

// errServerKilled ends a session whose backend connection the server killed.
var errServerKilled = errors.New("the server killed the backend connection")

// noteERR records an ERR packet that ends a response, p as relayed.
func (s *Session) noteERR(p wire.Packet) {
	s.resp.err = true
	if p.ErrCode() == codeConnectionKilled {
		s.resp.connKilled = true
	}
}

// serverKilled ends the session after the server's ER_CONNECTION_KILLED
// was relayed: the client gets it, then its connection closes. The backend
// connection is never reused: the server closed it.
func (s *Session) serverKilled() error {
	s.resp.connKilled = false
	err := s.client.Flush()
	if conn := s.cur; conn != nil {
		s.log.Info("the server killed the backend connection; ending the client session as the server did", "backend", conn.Name, "thread", conn.ThreadID)
	}
	s.dropConn()
	s.afterLoss()
	s.killed.Store(true)
	if err != nil {
		return err
	}
	return errServerKilled
}
