package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
)

// smallPacketLimit bounds the packets the proxy reads whole to decode
// itself (KILL, COM_CHANGE_USER…); everything else streams.
const smallPacketLimit = 64 << 10

// Session is one client connection after the handshake. Its fields belong
// to the goroutine running run; kill may be called from any goroutine.
type Session struct {
	srv       *Server
	id        uint32 // the connection id the client saw in the handshake
	user      config.User
	log       *slog.Logger
	client    *wire.Conn
	caps      uint32 // capability flags in effect with the client
	collation uint8
	db        string // current default database, replayed on reconnect
	attrs     map[string]string

	mu         sync.Mutex // guards backend for kill; the owner reads it freely
	backend    *backend.Conn
	backendErr error // why the last attempt to reach a backend failed

	killed atomic.Bool
	buf    []byte // scratch for small packets
}

// run is the command loop. It returns when the client quits or fails, or
// the session is killed.
func (s *Session) run(ctx context.Context) {
	defer s.close()
	for !s.killed.Load() {
		size, seq, err := s.client.ReadHeader()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("client read failed", "err", err)
			}
			return
		}
		if size == 0 {
			s.fatal(seq+1, mysql.ER_NET_READ_ERROR, "08S01", "empty command packet; closing the connection")
			return
		}
		cmdByte, err := s.client.R.Peek(1)
		if err != nil {
			return
		}
		if err := s.dispatch(ctx, cmdByte[0], size, seq); err != nil {
			if errors.Is(err, errQuit) {
				return
			}
			s.log.Debug("session ends", "err", err)
			return
		}
	}
}

var errQuit = errors.New("client quit")

// dispatch runs one command whose header has been read.
func (s *Session) dispatch(ctx context.Context, cmd byte, size int, seq byte) error {
	switch cmd {
	case mysql.COM_QUIT:
		return errQuit
	case mysql.COM_QUERY:
		if isKill, err := s.maybeKill(ctx, size, seq); isKill || err != nil {
			return err
		}
		return s.forward(ctx, size, seq, s.relayResults)
	case mysql.COM_STMT_EXECUTE, mysql.COM_PROCESS_INFO:
		return s.forward(ctx, size, seq, s.relayResults)
	case mysql.COM_STMT_PREPARE:
		return s.forward(ctx, size, seq, s.relayPrepare)
	case mysql.COM_STMT_FETCH, mysql.COM_FIELD_LIST:
		return s.forward(ctx, size, seq, s.relayRows)
	case mysql.COM_STMT_SEND_LONG_DATA, mysql.COM_STMT_CLOSE:
		return s.forward(ctx, size, seq, nil)
	case mysql.COM_INIT_DB:
		return s.initDB(ctx, size, seq)
	case mysql.COM_PING, mysql.COM_SET_OPTION, mysql.COM_RESET_CONNECTION, mysql.COM_STATISTICS,
		mysql.COM_STMT_RESET, mysql.COM_DEBUG, mysql.COM_REFRESH:
		return s.forward(ctx, size, seq, s.relayOne)
	case mysql.COM_PROCESS_KILL:
		return s.processKill(ctx, size, seq)
	case mysql.COM_CHANGE_USER:
		return s.changeUser(ctx, size, seq)
	default:
		if _, err := s.client.DiscardBody(size, seq); err != nil {
			return err
		}
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_UNKNOWN_COM_ERROR, "08S01",
			"switchyard does not relay this command (replication and deprecated commands are not proxied); connect to the server directly for it"))
	}
}

// responder relays a backend's response to the command just forwarded.
type responder func() error

// forward sends the command packet whose header was read to the backend and
// relays its response with respond (nil for commands without one).
func (s *Session) forward(ctx context.Context, size int, seq byte, respond responder) error {
	be, err := s.ensureBackend(ctx)
	if err != nil {
		last, derr := s.client.DiscardBody(size, seq)
		if derr != nil {
			return derr
		}
		if respond == nil { // the client expects no answer; tell it on the next command
			return nil
		}
		return s.replyErr(last+1, err)
	}
	// A backend that fails while the command is forwarded leaves the rest of
	// the client's packet unread: the session cannot resynchronize and ends.
	if err := be.WriteHeader(size, seq); err != nil {
		s.dropBackend()
		return err
	}
	if err := s.client.ForwardBody(be.Conn, size); err != nil {
		s.dropBackend()
		return err
	}
	if err := be.Flush(); err != nil {
		s.dropBackend()
		return err
	}
	if respond == nil {
		return nil
	}
	return respond()
}

// ensureBackend returns the session's backend connection, reconnecting to
// the primary when the last one was lost.
func (s *Session) ensureBackend(ctx context.Context) (*backend.Conn, error) {
	if s.backend != nil {
		return s.backend, nil
	}
	bc, err := s.srv.dialPrimary(ctx, s.user, s.db, s.caps, s.collation, s.attrs)
	if err != nil {
		s.backendErr = err
		s.log.Warn("backend unavailable", "err", err)
		return nil, err
	}
	s.mu.Lock()
	s.backend, s.backendErr = bc, nil
	s.mu.Unlock()
	return bc, nil
}

// dropBackend closes and forgets the backend connection: it is never reused
// after an error or an unfinished response.
func (s *Session) dropBackend() {
	s.mu.Lock()
	be := s.backend
	s.backend = nil
	s.mu.Unlock()
	if be != nil {
		be.Close()
	}
}

// backendFailed handles a backend that failed while relaying its response:
// the backend connection is dropped (never reused after an error) and the
// client gets an error packet; its connection survives for a retry. If part
// of the response was relayed already, the error ends that result stream,
// which the protocol allows between packets.
func (s *Session) backendFailed(err error, nextSeq byte) error {
	name, addr := "", ""
	if s.backend != nil {
		name, addr = s.backend.Name, s.backend.Address
	}
	s.log.Warn("lost backend connection", "backend", name, "err", err)
	s.dropBackend()
	return s.reply(nextSeq, wire.ErrPacket(mysql.ER_NET_READ_ERROR, "08S01",
		"switchyard lost its connection to backend "+name+" ("+addr+") during the statement; its outcome is unknown: check before retrying a write"))
}

// reply writes one proxy-made packet to the client and flushes.
func (s *Session) reply(seq byte, payload []byte) error {
	if _, err := s.client.Write(payload, seq); err != nil {
		return err
	}
	return s.client.Flush()
}

// replyErr sends the client what an internal error means for it.
func (s *Session) replyErr(seq byte, err error) error {
	return s.reply(seq, errToClient(err))
}

// fatal sends an error and the caller then ends the session.
func (s *Session) fatal(seq byte, code uint16, state, msg string) {
	_ = s.reply(seq, wire.ErrPacket(code, state, msg))
}

// kill closes the session's sockets from any goroutine; run then returns.
func (s *Session) kill() {
	s.killed.Store(true)
	_ = s.client.Close()
	s.dropBackend()
}

func (s *Session) close() {
	_ = s.client.Close()
	s.dropBackend()
}

// route asks the router where a new backend connection goes.
func (s *Server) route() (health.Server, error) {
	d, err := router.Route(s.topo.Snapshot())
	if err != nil {
		return health.Server{}, err
	}
	return d.Backend, nil
}
