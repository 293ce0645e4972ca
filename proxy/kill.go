package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
)

// Clients see the proxy's connection ids (from the handshake), not the
// backends' thread ids. KILL of such an id is translated here; KILL of any
// other id (for instance one read from CONNECTION_ID(), which the backend
// answers) goes to the backend unchanged.

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
	if err != nil {
		return false, nil
	}
	target, ok := s.srv.session(uint32(id))
	if !ok {
		return false, nil
	}
	query := strings.EqualFold(string(m[2]), "QUERY")
	return true, s.killSession(ctx, target, string(m[1]), query, seq+1)
}

// processKill serves COM_PROCESS_KILL: KILL CONNECTION by id.
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
	if target, ok := s.srv.session(id); ok {
		return s.killSession(ctx, target, "", false, seq+1)
	}
	// Not a proxy id: a backend thread id, killed on the primary.
	primary, ok := s.srv.topo.Snapshot().Primary()
	if !ok {
		return s.replyErr(seq+1, router.ErrNoPrimary)
	}
	if err := s.srv.execMonitor(ctx, primary.Name, primary.Address, fmt.Sprintf("KILL %d", id)); err != nil {
		return s.replyErr(seq+1, err)
	}
	return s.reply(seq+1, wire.OKPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
}

// killSession kills another session's running statement (query) or the
// whole session, as MariaDB allows: only the owner's user may do it.
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

// execMonitor runs one administrative statement on backend name (at addr)
// with the monitor account, on a connection of its own encrypted as the
// backend's TLS policy says (require_secure_transport=ON refuses it
// otherwise).
func (s *Server) execMonitor(ctx context.Context, name, addr, stmt string) error {
	return s.withMonitor(ctx, name, addr, func(c failover.Conn) error {
		_, err := c.Exec(ctx, stmt)
		return err
	})
}

// withMonitor runs f on a monitor-account session of its own on a backend,
// bounded by the connect timeout plus 5 s.
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
