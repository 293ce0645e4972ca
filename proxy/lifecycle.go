package proxy

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/router"
)

// settings is the part of the config sessions read on every login or
// statement. It is replaced whole on reload, so a reader sees one version.
type settings struct {
	cfg        config.Config
	users      map[string]config.User
	policy     router.Policy
	backendTLS tlsconf.Backends
	trusted    []netip.Prefix // listen_proxy_protocol.trusted
}

func newSettings(cfg config.Config) (*settings, error) {
	resolved, err := config.ResolvePasswords(cfg.Users)
	if err != nil {
		return nil, err
	}
	users := make(map[string]config.User, len(resolved))
	for _, u := range resolved {
		users[u.Name] = u
	}
	tls, err := tlsconf.Load(cfg)
	if err != nil {
		return nil, err
	}
	trusted, err := cfg.ListenProxyProtocol.TrustedPrefixes()
	if err != nil {
		return nil, err
	}
	return &settings{cfg: cfg, users: users, policy: router.PolicyFrom(cfg), backendTLS: tls, trusted: trusted}, nil
}

func (s *Server) settings() *settings { return s.set.Load() }

// Reload applies a new, validated config: users, routing, limits and pool
// settings take effect for the next login or statement; open sessions stay
// connected. Listen addresses need a restart (the caller says so).
func (s *Server) Reload(cfg config.Config) error {
	set, err := newSettings(cfg)
	if err != nil {
		return err
	}
	s.set.Store(set)
	s.pools.reconfigure(cfg, set.backendTLS)
	s.pools.updateCredentials(set.users)
	s.pipes.configure(cfg.Pool.PipelineConnections, cfg.Pool.PipelineQuick, cfg.Pool.IdleTimeout)
	return nil
}

// Drain stops accepting clients and lets open sessions finish: a session
// is closed as soon as it is idle outside a transaction; when ctx ends,
// every remaining session is closed.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	if !s.draining {
		close(s.drainCh)
	}
	s.draining = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		left := 0
		for _, sess := range s.sessions {
			if sess.idleOutsideTx.Load() {
				sess.kill()
			} else {
				left++
			}
		}
		s.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.shutdown()
			return
		case <-tick.C:
		}
	}
	s.wg.Wait()
	s.pools.closeIdle(true)
}

// SetDrained takes a replica out of read rotation (or puts it back): new
// statements avoid it, statements and transactions under way finish. The
// primary cannot be drained; move it with a switchover.
func (s *Server) SetDrained(name string, drained bool) error {
	topo := s.topo.Snapshot()
	srv, ok := topo.Server(name)
	if !ok {
		return fmt.Errorf("no backend named %q in the configuration", name)
	}
	if drained && srv.Role == health.RolePrimary {
		return fmt.Errorf("%s is the primary: drain it with a switchover to a replica first", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]bool{}
	if old := s.drained.Load(); old != nil {
		m = maps.Clone(*old)
	}
	if drained {
		m[name] = true
	} else {
		delete(m, name)
	}
	s.drained.Store(&m)
	return nil
}

// IsDrained reports whether SetDrained took the backend out of rotation.
func (s *Server) IsDrained(name string) bool { return s.isDrained(name) }

// isDrained runs for each replica of every read's routing: a map that
// is replaced, never changed, and is empty but while an operator drains,
// costs no lock and, empty, no hashing.
func (s *Server) isDrained(name string) bool {
	if m := s.drained.Load(); m != nil {
		return (*m)[name]
	}
	return false
}

// sweepIdle closes pooled connections idle past the idle timeout, until ctx ends.
func (s *Server) sweepIdle(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.pools.closeIdle(false)
		}
	}
}
