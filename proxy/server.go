package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// Topology is what the proxy needs from health: the current snapshot.
type Topology interface {
	Snapshot() *health.Topology
}

// advertised are the capability flags the proxy offers clients on top of
// go-mysql's defaults. Each one is relayed end to end, so each is supported
// by MariaDB 10.6+ and MySQL 8.0+. CLIENT_DEPRECATE_EOF and compression are
// not offered: the relay is simpler with one row-stream dialect and a
// compressed stream cannot be inspected without decompressing it.
const advertised = mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_LOCAL_FILES |
	mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_IGNORE_SPACE | mysql.CLIENT_INTERACTIVE |
	mysql.CLIENT_ODBC | mysql.CLIENT_NO_SCHEMA

// Server accepts client connections and runs their sessions.
type Server struct {
	set    atomic.Pointer[settings]
	topo   Topology
	log    *slog.Logger
	mysql  *server.Server // handshake and auth settings, built once
	caps   uint32         // capability flags offered to clients
	active atomic.Int64

	extCaps uint32 // MariaDB extended flags offered to clients (extcaps.go)

	pools    *pools
	pipes    *pipes                          // pipelined reads (readpipe.go)
	drained  atomic.Pointer[map[string]bool] // backend name → true: no new reads go there; replaced under mu, never changed
	guard    guard
	ids      proxyIDs // client connection ids (kill.go)
	progress progress
	metrics  *metrics
	digests  digestTable
	// invalidHints logs unreadable hints once each (hints.go).
	invalidHints invalidHints
	classifier   *classify.Classifier
	load         router.Load

	// Statements held while no primary is known (failoverWait), bounded
	// in time and count by the failover settings.
	holding atomic.Int64

	mu       sync.Mutex          // guards the fields below, and serializes SetDrained
	sessions map[uint32]*Session // by the connection id the client sees
	closing  bool
	draining bool
	drainCh  chan struct{} // closed when Drain starts
	ln       net.Listener

	// An upgrade (handoff.go, accept.go): while paused, Serve waits for
	// resume instead of accepting; mover is set while HandOff runs.
	paused   bool
	resume   chan net.Listener
	mover    SessionMover
	movedOut atomic.Int64

	wg sync.WaitGroup
}

// NewServer builds the handshake settings once for the process. version is
// the server version clients see (the primary's).
func NewServer(cfg config.Config, topo Topology, version string, log *slog.Logger) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key for caching_sha2_password: %w", err)
	}
	var tlsConf *tls.Config
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	auth := &hashAuth{}
	ms := server.NewServerWithAuth(version, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, key, tlsConf, auth)
	s := &Server{
		topo:       topo,
		log:        log,
		mysql:      ms,
		caps:       ms.Capability() | advertised,
		extCaps:    offeredExtCaps(version, tlsConf != nil),
		sessions:   make(map[uint32]*Session),
		drainCh:    make(chan struct{}),
		metrics:    newMetrics(),
		guard:      guard{m: newAuthMetrics()},
		classifier: classify.New(10000),
	}
	auth.srv = s
	set, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	s.set.Store(set)
	s.pools = newPools(cfg, set.backendTLS, func(d time.Duration) { s.metrics.poolWait.Observe(d.Seconds()) }, s.metrics.queueObserver)
	s.pools.refused.log = log
	s.pipes = newPipes()
	s.pipes.configure(cfg.Pool.PipelineConnections, cfg.Pool.PipelineQuick, cfg.Pool.IdleTimeout)
	s.pipes.onStall = s.metrics.pipeStalls.Inc
	s.load = router.Load{InUse: s.pools.inUse, Applied: s.progress.appliedBy, Drained: s.isDrained}
	// health reads what this server acknowledged (a failover waits for
	// it) from the one record of it, the one reads are routed by.
	if a, ok := topo.(ackedReader); ok {
		a.AckedFrom(s.progress.newest)
	}
	return s, nil
}

// ackedReader is a topology that wants the newest acknowledged position.
type ackedReader interface {
	AckedFrom(newest func() gtid.Position)
}

// The monitor must stay one: a renamed method would silently turn off a
// failover's wait for the writes this proxy acknowledged.
var _ ackedReader = (*health.Monitor)(nil)

// HandshakeVersion turns a server's @@version into what the server itself
// puts in its handshake: MariaDB 10+ prefixes "5.5.5-" so that old clients
// that parse a major version of 5 keep working.
func HandshakeVersion(v string) string {
	if strings.Contains(v, "MariaDB") && !strings.HasPrefix(v, "5.5.5-") {
		return "5.5.5-" + v
	}
	if v == "" {
		return "8.0.0-switchyard"
	}
	return v
}

// waitTopology waits for the next topology snapshot, until deadline. It
// returns false when the deadline passed or ctx ended.
func (s *Server) waitTopology(ctx context.Context, deadline time.Time) bool {
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	return s.nextSnapshot(ctx, min(wait, 100*time.Millisecond))
}

// nextSnapshot waits for the next topology snapshot, at most max; it
// returns false when ctx is done.
func (s *Server) nextSnapshot(ctx context.Context, max time.Duration) bool {
	var updated <-chan struct{}
	if u, ok := s.topo.(interface{ Updated() <-chan struct{} }); ok {
		updated = u.Updated()
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-updated:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// reportFailure tells health a backend could not be reached, so that it
// probes at once rather than at the next interval.
func (s *Server) reportFailure(name string) {
	if r, ok := s.topo.(interface{ ReportFailure(string) }); ok {
		r.ReportFailure(name)
	}
}

// Serve accepts connections on ln until ctx is done or ln is closed, then
// closes every session and waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		cur := s.ln
		s.mu.Unlock()
		_ = cur.Close()
	})
	defer stop()
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	sweepCtx, cancelSweep := context.WithCancel(ctx)
	defer cancelSweep()
	s.wg.Go(func() { s.sweepIdle(sweepCtx) })
	s.wg.Go(func() { s.pipes.sweep(sweepCtx) })
	s.wg.Go(func() { s.watchQueries(sweepCtx) })
	s.wg.Go(func() { s.watchDownServers(sweepCtx) })
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			if next := s.awaitResume(ctx); next != nil {
				ln = next
				continue
			}
			cancelSweep()
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining {
				s.wg.Wait() // Drain closes the sessions
				return nil
			}
			s.shutdown()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		tempDelay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if s.active.Add(1) > int64(s.settings().cfg.Limits.MaxConnections) {
			s.active.Add(-1)
			s.metrics.refused.WithLabelValues("max_connections").Inc()
			s.refuse(nc, mysql.ER_CON_COUNT_ERROR, "08004", "Too many connections: switchyard's limits.max_connections is reached; retry later or raise it")
			continue
		}
		s.wg.Go(func() { s.handle(ctx, nc) })
	}
}

// refuse answers a connection it will not serve with an ERR packet in place
// of the handshake, as a MySQL server does.
func (s *Server) refuse(nc net.Conn, code uint16, state, msg string) {
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	c := wire.NewConn(nc, 16, 256)
	_, _ = c.Write(wire.ErrPacket(code, state, msg), 0)
	_ = c.Flush()
	_ = nc.Close()
}

// handle authenticates a client, then hands the session to a goroutine of
// its own: the handshake's deep call stack (TLS, auth) dies with this
// goroutine instead of staying with an idle session for its whole life.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	log := s.log.With("client", nc.RemoteAddr().String())
	started := false
	defer func() {
		if r := recover(); r != nil {
			log.Error("handshake panicked; closing the client", "panic", r)
			_ = nc.Close()
		}
		if !started {
			s.active.Add(-1)
		}
	}()
	if nc = s.clientConn(nc); nc == nil {
		return
	}
	log = s.log.With("client", nc.RemoteAddr().String())
	if !s.admitHost(ctx, nc, hostOf(nc.RemoteAddr())) {
		return
	}
	sess, err := s.handshake(ctx, nc, log)
	if err != nil {
		log.Debug("handshake failed", "err", err)
		s.metrics.refused.WithLabelValues("handshake").Inc()
		_ = nc.Close()
		return
	}
	s.metrics.accepted.Inc()
	if !s.register(sess) {
		s.guard.leaveUser(sess.user.Name)
		sess.close()
		return
	}
	started = true
	s.wg.Go(func() { s.serveSession(ctx, sess) })
}

// serveSession runs a session to its end and releases what it held.
func (s *Server) serveSession(ctx context.Context, sess *Session) {
	s.metrics.clients.Inc()
	defer func() {
		if r := recover(); r != nil {
			sess.log.Error("session panicked; closing the client", "panic", r)
			sess.close()
		}
		s.unregister(sess)
		s.guard.leaveUser(sess.user.Name)
		s.metrics.clients.Dec()
		s.active.Add(-1)
	}()
	sess.run(ctx)
}

func (s *Server) register(sess *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions[sess.id] = sess
	return true
}

func (s *Server) unregister(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

func (s *Server) session(id uint32) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	return sess, ok
}

// shutdown closes every session and waits for their goroutines.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	for _, sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ActiveConnections is the number of client connections open now.
func (s *Server) ActiveConnections() int64 { return s.active.Load() }
