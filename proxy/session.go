package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/gtid"
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
	srv         *Server
	id          uint32 // the connection id the client saw in the handshake
	user        config.User
	log         *slog.Logger
	client      *wire.Conn
	caps        uint32 // capability flags in effect with the client
	collation   uint8
	consistency string // the session's read consistency

	state sessionState
	held  *backend.Conn // kept between statements while holds != 0
	holds hold
	pins  uint16 // classify pin bits in force

	mu       sync.Mutex    // guards cur, curSince, killedAt and aborted for kill and the watchers
	cur      *backend.Conn // the connection running the current command, if any
	curSince time.Time     // when cur was given the current command
	killedAt time.Time     // when the current command was killed (KILL QUERY, limits.query_timeout)
	aborted  bool          // the current command's connection was aborted
	// inPipe: the current command is a read on a pipelined connection
	// (no cur: no connection of its own to kill); pipeKilled: a KILL
	// QUERY came meanwhile, which a read that runs again must honor.
	inPipe, pipeKilled bool
	// An upgrade moving the session (handoff.go): move is where it is;
	// waiting while it waits for a command header, and poked when the
	// wait was cut short by a past read deadline.
	move    moveState
	waiting bool
	poked   bool

	// retryRead: during exchange, the command is a read that may be sent
	// again elsewhere if its connection fails before any of the answer
	// reached the client (see backendLost). avoid names the server it
	// failed on and retrySince when it first started, for the retry.
	retryRead  bool
	avoid      string
	retrySince time.Time
	// prelude: a replica's wait and the session's state, written on the
	// current connection by acquire and sent with the command's packet
	// (prelude.go). redirect: the wait timed out; the next acquire routes
	// the read to the primary. waitBuf holds the wait statement.
	prelude  prelude
	redirect bool
	waitBuf  []byte
	// writing: the statement being relayed is a write; its GTID must be
	// known before the client gets the answer (learnGTIDAfterRows).
	writing bool
	// cursorAsked: during stmtExecute's exchange, the execute asked the
	// server for a cursor (see opensCursor).
	cursorAsked bool

	stmts     map[uint32]*clientStmt
	nextStmt  uint32
	lastWrite gtid.Position // this session's newest write (consistency=session)
	resp      response      // what the last response said
	routed    router.Reason // why the current statement went where it went
	onReplica bool
	relayed   int       // response bytes relayed for the current command
	arrived   time.Time // when the current command's header was read: statement latency starts there
	counted   time.Time // when count last recorded a statement: its end

	// MariaDB's protocol (extcaps.go, stmt.go, changeuser.go).
	extCaps            uint32 // MariaDB extended flags in effect with the client (backend.ExtBehavioral)
	lastPrepared       uint32 // the client id of the last statement prepared, 0 after a failed prepare
	changeUserFailures int    // refused COM_CHANGE_USER
	salt               []byte // the handshake scramble (COM_CHANGE_USER answers it)

	idleArmed     time.Time // when the idle-timeout deadline was last set
	killed        atomic.Bool
	idleOutsideTx atomic.Bool // between commands and not in a transaction: Drain may close it
	pending       []byte      // client bytes read before a move was asked, not yet handled (handoff.go)
	buf           []byte      // scratch for small packets
	okBuf         []byte
	// digestBuf holds the current statement's normalized text.
	digestBuf []byte
	poolCache poolCache // the pools this session borrowed from last
	pipeRead  pipeRead  // this session's read on a pipelined connection (readpipe.go)
	// pipeCache is the group of pipelined connections the session used
	// last, and the database it was for (pipeGroup).
	pipeCache struct {
		g  *pipeGroup
		db string
	}
	pipeExec []byte // scratch for an execute's packet on a pipelined connection
	// replicaReads counts the session's reads on replicas, to sample their
	// latency for the pipelines' slow bound (pipes.noteRead).
	replicaReads uint32
}

// response is what the session learns from the packets it relays.
type response struct {
	status   uint16
	err      bool    // the response ended with an ERR packet
	insertID uint64  // from the last OK packet
	track    tracked // what session tracking reported
	cursor   bool    // the response opened a cursor (see opensCursor)
	rowsLast bool    // the response's last result was rows, not an OK (see learnGTIDAfterRows)
	// connKilled: the response ended with ER_CONNECTION_KILLED, after
	// which the server closes the connection (see serverKilled).
	connKilled bool
}

// run is the command loop. It returns when the client quits or fails, or
// the session is killed.
func (s *Session) run(ctx context.Context) {
	moved := false
	defer func() {
		if !moved {
			s.close()
		}
	}()
	lastEnd := time.Now()
	for !s.killed.Load() {
		size, seq, err := s.readCommandHeader(lastEnd)
		if err != nil {
			if errors.Is(err, errMoveNow) { // the one place a session moves
				if s.moveOut() {
					moved = true
					return
				}
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if s.moveRequested() {
					continue // requestMove cut the wait short: the next wait moves
				}
				s.idleTimedOut()
				return
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("client read failed", "err", err)
			}
			return
		}
		// A packet over the limit is refused at its first frame; one of
		// several 16 MiB frames is bounded by the backend's own
		// max_allowed_packet as it streams.
		if max := int(s.srv.settings().cfg.Limits.MaxPacket); size > max {
			// Read the packet first (bounded in time): closing with unread
			// bytes would reset the connection before the client reads why.
			_ = s.client.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := s.client.DiscardBody(size, seq); err != nil {
				return
			}
			s.fatal(seq+1, codePacketTooLarge, "08S01", fmt.Sprintf("Got a packet bigger than 'max_allowed_packet' bytes (switchyard limits.max_packet is %d); send less per statement or raise it", max))
			return
		}
		if size == 0 {
			s.fatal(seq+1, mysql.ER_NET_READ_ERROR, "08S01", "empty command packet; closing the connection")
			return
		}
		s.idleOutsideTx.Store(false)
		cmdByte, err := s.client.R.Peek(1)
		if err != nil {
			return
		}
		s.arrived = time.Now()
		err = s.dispatch(ctx, cmdByte[0], size, seq)
		s.idleOutsideTx.Store(s.holds&(holdTx|holdNoAutocommit) == 0)
		s.idleBuffers(s.arrived.Sub(lastEnd))
		if lastEnd = s.counted; lastEnd.Before(s.arrived) { // a command that count did not see
			lastEnd = time.Now()
		}
		if err != nil {
			if !errors.Is(err, errQuit) {
				s.log.Debug("session ends", "err", err)
			}
			return
		}
	}
}

var errQuit = errors.New("client quit")

// idleTimedOut tells a client idle past limits.idle_timeout why it is
// disconnected, as MySQL 8 does, before the session closes.
func (s *Session) idleTimedOut() {
	if s.client.W == nil {
		w := writerPool.Get().(*bufio.Writer)
		w.Reset(s.client.Sock)
		s.client.W = w
	}
	_ = s.client.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.fatal(0, codeClientIdleTimeout, "HY000", "The client was disconnected by the server because of inactivity (switchyard limits.idle_timeout)")
}

// dispatch runs one command whose header has been read.
func (s *Session) dispatch(ctx context.Context, cmd byte, size int, seq byte) error {
	switch cmd {
	case mysql.COM_QUIT:
		return errQuit
	case mysql.COM_QUERY:
		return s.query(ctx, size, seq)
	case mysql.COM_STMT_PREPARE:
		return s.stmtPrepare(ctx, size, seq)
	case mysql.COM_STMT_EXECUTE:
		return s.stmtExecute(ctx, size, seq)
	case comStmtBulkExecute:
		return s.stmtBulkExecute(ctx, size, seq)
	case mysql.COM_STMT_SEND_LONG_DATA:
		return s.stmtSendLongData(ctx, size, seq)
	case mysql.COM_STMT_FETCH:
		return s.stmtFetch(ctx, size, seq)
	case mysql.COM_STMT_RESET:
		return s.stmtReset(ctx, size, seq)
	case mysql.COM_STMT_CLOSE:
		return s.stmtClose(ctx, size, seq)
	case mysql.COM_INIT_DB:
		return s.initDB(ctx, size, seq)
	case mysql.COM_PING:
		if _, err := s.client.DiscardBody(size, seq); err != nil {
			return err
		}
		return s.reply(seq+1, wire.OKPacket(s.txStatus()))
	case mysql.COM_SET_OPTION:
		return s.setOption(ctx, size, seq)
	case mysql.COM_RESET_CONNECTION:
		return s.resetConnection(ctx, size, seq)
	case mysql.COM_FIELD_LIST:
		return s.onPrimary(ctx, size, seq, s.relayRows)
	case mysql.COM_STATISTICS, mysql.COM_DEBUG, mysql.COM_REFRESH:
		return s.onPrimary(ctx, size, seq, s.relayOne)
	case mysql.COM_PROCESS_INFO:
		return s.onPrimary(ctx, size, seq, s.relayResults)
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

// txStatus is the transaction part of the server status the session last
// saw, for answers the proxy makes itself.
func (s *Session) txStatus() uint16 {
	return s.resp.status & (mysql.SERVER_STATUS_IN_TRANS | mysql.SERVER_STATUS_AUTOCOMMIT)
}

// responder relays a backend's response to the command just forwarded.
type responder func() error

// onPrimary runs a command that has no statement to classify on the held
// connection, or on a primary connection borrowed for it.
func (s *Session) onPrimary(ctx context.Context, size int, seq byte, respond responder) error {
	conn, err := s.acquire(ctx, target{class: router.ClassWrite})
	if err != nil {
		return s.refuseCommand(size, seq, err)
	}
	if err := s.forwardPacket(conn, size, seq); err != nil {
		return err
	}
	err = respond()
	s.finish(conn, nil)
	return err
}

// refuseCommand consumes a command the session cannot run and tells why.
func (s *Session) refuseCommand(size int, seq byte, cause error) error {
	last, err := s.client.DiscardBody(size, seq)
	if err != nil {
		return err
	}
	return s.replyErr(last+1, cause)
}

// forwardPacket streams the client's command packet (header already read)
// to conn. A backend that fails while the command is forwarded leaves the
// rest of the client's packet unread: the session cannot resynchronize and
// ends.
func (s *Session) forwardPacket(conn *backend.Conn, size int, seq byte) error {
	err := conn.WriteHeader(size, seq)
	if err == nil {
		err = s.client.ForwardBody(conn.Conn, size)
	}
	if err == nil {
		err = conn.Flush()
	}
	if err != nil {
		s.dropConn()
	}
	return err
}

// sendPacket writes a packet the session holds in memory to conn; every
// caller reads the reply next, which the flush waits for.
// A prelude acquire wrote ahead of it goes out in the same write, and its
// answers are read before the command's (afterPrelude): errRetryRead then
// means the command is to be sent again, to the primary.
func (s *Session) sendPacket(conn *backend.Conn, payload []byte, seq byte) error {
	_, err := conn.Write(payload, seq)
	if err == nil {
		err = conn.FlushForReply()
	}
	if err != nil {
		conn.Broken = true
		s.prelude = prelude{}
		return err
	}
	if s.prelude.conn == conn {
		return s.afterPrelude(conn, payload[0])
	}
	return nil
}

// dropConn abandons the current connection after a failure: it is closed,
// never pooled, and the state only it knew is gone.
func (s *Session) dropConn() {
	s.mu.Lock()
	conn := s.cur
	s.cur = nil
	s.mu.Unlock()
	if conn == nil {
		return
	}
	conn.Broken = true
	if conn == s.held {
		s.held = nil
	}
	conn.Release()
}

// setCur records the connection running the current command (for KILL and
// limits.query_timeout).
func (s *Session) setCur(conn *backend.Conn) {
	s.mu.Lock()
	s.cur, s.killedAt, s.aborted = conn, time.Time{}, false
	if conn != nil {
		s.curSince = time.Now()
	}
	s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.abortCurLocked()
	}
}

// abortCurLocked closes the current command's backend connection from
// another goroutine (KILL, the query and former-primary watchers), which
// unblocks the owner's relay; the owner releases it and it is discarded.
// s.mu is held and cur is set: while cur is set the command has not
// finished, so the connection is still this session's and no other
// client's (aborted after the unlock, it could already be lent again).
func (s *Session) abortCurLocked() {
	s.aborted = true
	s.cur.Abort()
}

// close ends the session on its own goroutine.
func (s *Session) close() {
	_ = s.client.Close()
	if s.cur != nil {
		s.dropConn()
	}
	if s.held != nil {
		// A held connection carries state (a transaction, locks, temporary
		// tables): it is not given to another client.
		s.held.Broken = true
		s.held.Release()
		s.held = nil
	}
}
