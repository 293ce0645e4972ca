package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/proxy/wire"
)

// Clients see the proxy's connection ids (from the handshake), not the
// backends' thread ids. KILL of a live proxy id is translated here; KILL of
// any other id (for instance one read from CONNECTION_ID(), which the
// backend answers) is a statement like any other: it runs on the primary
// as the client's own user, so the server decides whether the client may
// kill that thread (1095 You are not owner of thread), exactly as it would
// without the proxy. COM_QUERY KILL and COM_PROCESS_KILL take the same path.
//
// The monitor account is used on a client's behalf only where the proxy
// itself decided what runs and checked that the client may have it run:
// KILL QUERY of a proxy session by its owner (killQuery, after killSession
// checks the owner), and limits.query_timeout (querytimeout.go). Its other
// uses (probes, promotion, fencing) are health's and serve no client.
//
// Proxy ids are taken from [proxyIDMin, proxyIDMax], the top half of the
// positive 31-bit range: a backend's thread ids count up from 1 at its
// start and reach 2^30 only after a billion connections, so a thread id a
// client reads from CONNECTION_ID() does not name a live proxy session in
// practice, and an id below the range is never taken for one. Not the top
// of the unsigned 32-bit space: some drivers read the handshake's id as a
// signed 32-bit integer (MySqlConnector's ServerThread, for one) and would
// send KILL QUERY of a negative id.
const (
	proxyIDMin uint32 = 1 << 30
	proxyIDMax uint32 = 1<<31 - 1
)

// proxyIDs hands out proxy connection ids. Safe for concurrent use.
type proxyIDs struct{ n atomic.Uint32 }

// next returns the next id of the range, skipping ids still in use after
// the counter wraps (a proxy that has served 2^30 connections).
func (p *proxyIDs) next(inUse func(uint32) bool) uint32 {
	for {
		id := proxyIDMin + (p.n.Add(1)-1)%(proxyIDMax-proxyIDMin+1)
		if !inUse(id) {
			return id
		}
	}
}

// isProxyID tells whether id may name a proxy session.
func isProxyID(id uint64) bool {
	return id >= uint64(proxyIDMin) && id <= uint64(proxyIDMax)
}

var killRE = regexp.MustCompile(`(?is)^\s*KILL\s+(?:(HARD|SOFT)\s+)?(?:(CONNECTION|QUERY)\s+)?(\d+)\s*;?\s*$`)

// maybeKill handles a COM_QUERY that is a KILL of a proxy connection id.
// It returns false for every other statement.
func (s *Session) maybeKill(ctx context.Context, sql []byte, seq byte) (bool, error) {
	if len(sql) > 256 {
		return false, nil
	}
	m := killRE.FindSubmatch(sql)
	if m == nil {
		return false, nil
	}
	id, err := strconv.ParseUint(string(m[3]), 10, 32)
	if err != nil || !isProxyID(id) {
		return false, nil
	}
	target, ok := s.srv.session(uint32(id))
	if !ok {
		return false, nil
	}
	query := strings.EqualFold(string(m[2]), "QUERY")
	return true, s.killSession(ctx, target, string(m[1]), query, seq+1)
}

// processKill serves COM_PROCESS_KILL: KILL CONNECTION by id, the same
// as the statement (see maybeKill and killAsClient).
func (s *Session) processKill(ctx context.Context, size int, seq byte) error {
	body, err := s.client.ReadBody(s.buf, size, smallPacketLimit)
	if err != nil {
		return err
	}
	s.keepBuf(body)
	if len(body) < 5 {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "COM_PROCESS_KILL needs a 4-byte connection id"))
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	if isProxyID(uint64(id)) {
		if target, ok := s.srv.session(id); ok {
			return s.killSession(ctx, target, "", false, seq+1)
		}
	}
	return s.killAsClient(ctx, id, seq)
}

// killAsClient runs KILL CONNECTION id as a statement of the session: on
// the primary (or the connection the session holds), logged in as the
// client's own user, never the monitor account, so that the server's own
// check applies (1095 You are not owner of thread, 1094 Unknown thread id).
// COM_PROCESS_KILL is sent as the statement, as libmysqlclient 8 does for
// mysql_kill: servers that dropped the command still run the statement.
func (s *Session) killAsClient(ctx context.Context, id uint32, seq byte) error {
	text := fmt.Sprintf("KILL CONNECTION %d", id)
	st, t, e := s.plan(text)
	conn, err := s.acquire(ctx, t)
	if err != nil {
		return s.replyErr(seq+1, err)
	}
	payload := append([]byte{mysql.COM_QUERY}, text...)
	err = s.exchange(conn, payload, seq, false)
	s.finish(conn, &e)
	s.count(st.Digest, text)
	return err
}

// killSession kills another session's running statement (query) or the
// whole session, as MariaDB allows: only the owner's user may do it. A
// statement is killed with the monitor account (killQuery): the proxy
// checked the owner here, and the backend connection is the proxy's, which
// the client cannot name by itself.
func (s *Session) killSession(ctx context.Context, target *Session, hardness string, query bool, seq byte) error {
	if target.user.Name != s.user.Name {
		return s.reply(seq, wire.ErrPacket(mysql.ER_KILL_DENIED_ERROR, "HY000",
			fmt.Sprintf("You are not owner of thread %d", target.id)))
	}
	if !query {
		if target == s {
			s.kill()
			return s.reply(seq, wire.ErrPacket(1927, "70100", "Connection was killed"))
		}
		target.kill()
		return s.reply(seq, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
	}
	conn, ran := target.runningForKill()
	if conn == nil { // nothing runs for it
		return s.reply(seq, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
	}
	if err := s.srv.killQuery(ctx, conn, ran, hardness); err != nil {
		return s.replyErr(seq, err)
	}
	return s.reply(seq, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
}

// withMonitor runs f on a monitor-account session of its own on a backend,
// bounded by the connect timeout plus 5 s, encrypted as the backend's TLS
// policy says (require_secure_transport=ON refuses it otherwise). Only for
// what the proxy itself decided, never a statement a client chose.
func (s *Server) withMonitor(ctx context.Context, name, addr string, f func(failover.Conn) error) error {
	set := s.settings()
	cfg := set.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.Limits.ConnectTimeout+5*time.Second)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, cfg.Limits.ConnectTimeout)
	c, err := failover.NewDialer(cfg.Monitor.User, cfg.Monitor.Password, set.backendTLS)(dctx, failover.Target{Name: name, Address: addr})
	dcancel()
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}
