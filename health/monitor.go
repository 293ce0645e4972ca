package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
)

// ErrRunning is returned by Run when another Run of the same Monitor is active.
var ErrRunning = errors.New("health: Monitor.Run is already running")

// Monitor probes every configured backend and publishes the resulting
// Topology. Create it with NewMonitor; it does nothing until Run or ProbeOnce.
//
// Concurrency: Snapshot and Ready are safe from any goroutine at any time and
// never block. Run, ProbeOnce and Close may be called from any goroutine;
// rounds are serialized by roundMu, so a ProbeOnce during Run waits for the
// current round. At most one Run at a time.
type Monitor struct {
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger

	snap      atomic.Pointer[Topology]
	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool

	roundMu sync.Mutex
	// Guarded by roundMu: the probers and the conflict last logged.
	backends []*backendProbe
	conflict string
}

// backendProbe is one backend's config and its prober.
type backendProbe struct {
	cfg    config.Backend
	prober prober
}

// NewMonitor returns a Monitor for cfg.Backends probed as cfg.Monitor every
// cfg.Health.Interval, each probe bounded by cfg.Health.Timeout. cfg should
// have passed Validate. A nil logger discards logs.
func NewMonitor(cfg config.Config, logger *slog.Logger) *Monitor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		interval: cfg.Health.Interval,
		timeout:  cfg.Health.Timeout,
		logger:   logger.With("component", "health"),
		ready:    make(chan struct{}),
	}
	if m.interval <= 0 {
		m.interval = config.Default().Health.Interval
	}
	if m.timeout <= 0 {
		m.timeout = config.Default().Health.Timeout
	}
	servers := make([]Server, len(cfg.Backends))
	for i, b := range cfg.Backends {
		m.backends = append(m.backends, &backendProbe{
			cfg:    b,
			prober: prober{addr: b.Address, user: cfg.Monitor.User, password: cfg.Monitor.Password},
		})
		servers[i] = Server{
			Name: b.Name, Address: b.Address, Region: b.Region, Zone: b.Zone,
			Role: RoleUnknown, Lag: -1, LastError: "not probed yet",
		}
	}
	m.snap.Store(&Topology{Servers: servers})
	return m
}

// Snapshot returns the latest topology. Never nil; do not modify it.
func (m *Monitor) Snapshot() *Topology { return m.snap.Load() }

// Ready is closed after the first completed round has been published.
func (m *Monitor) Ready() <-chan struct{} { return m.ready }

// Run probes all backends every interval until ctx is done, then closes its
// connections and returns nil. The first round starts at once. A round that
// takes longer than the interval delays the next one; rounds never overlap.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)
	defer m.Close()

	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.ProbeOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ProbeOnce runs one round: every backend is probed concurrently, each probe
// bounded by the health timeout, then roles are decided and a new Topology
// is published. A round interrupted by ctx is discarded: a shutdown is not
// evidence that servers are down.
func (m *Monitor) ProbeOnce(ctx context.Context) {
	m.roundMu.Lock()
	defer m.roundMu.Unlock()

	prev := m.snap.Load()
	servers := make([]Server, len(m.backends))
	var wg sync.WaitGroup
	for i, b := range m.backends {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, m.timeout)
			defer cancel()
			servers[i] = b.probe(pctx, prev.Servers[i])
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}

	conflict := decideRoles(servers)
	next := &Topology{Epoch: prev.Epoch, Servers: servers, ProbedAt: time.Now()}
	oldP, hadP := prev.Primary()
	newP, hasP := next.Primary()
	if hadP != hasP || oldP.Name != newP.Name {
		next.Epoch++
	}
	m.logChangesLocked(prev, next, conflict)
	m.snap.Store(next)
	m.readyOnce.Do(func() { close(m.ready) })
}

// probe probes one backend and returns its new Server value.
func (b *backendProbe) probe(ctx context.Context, prev Server) Server {
	s := Server{
		Name: b.cfg.Name, Address: b.cfg.Address, Region: b.cfg.Region, Zone: b.cfg.Zone,
		Role: RoleUnknown, Lag: -1,
		// Kept from the last success so that a down server still says
		// what it was running.
		Version: prev.Version, Flavor: prev.Flavor,
	}
	res, err := b.prober.probe(ctx)
	s.ProbedAt = time.Now()
	if err != nil {
		s.LastError = err.Error()
		s.FailedProbes = prev.FailedProbes + 1
		return s
	}
	s.Up = true
	s.ReadOnly = res.state.ReadOnly
	s.Version = res.state.Version
	s.Flavor = res.flavor
	s.RTT = res.rtt
	s.Lag = res.replica.Lag
	s.Replicating = res.replica.Replicating
	s.SourceAddress = res.replica.SourceAddress
	s.IOThreadRunning = res.replica.IOThreadRunning
	s.SQLThreadRunning = res.replica.SQLThreadRunning
	s.ReplicationError = res.replica.Error
	s.GTIDCurrent = res.state.GTID
	return s
}

// Close closes the probe connections. Run closes them when it returns; call
// Close after using ProbeOnce alone. A later round reconnects.
func (m *Monitor) Close() {
	m.roundMu.Lock()
	defer m.roundMu.Unlock()
	for _, b := range m.backends {
		b.prober.close()
	}
}

// logChangesLocked logs transitions only, so that a steady state is quiet
// and a flapping server is visible.
func (m *Monitor) logChangesLocked(prev, next *Topology, conflict string) {
	for i, s := range next.Servers {
		p := prev.Servers[i]
		l := m.logger.With("backend", s.Name, "address", s.Address, "epoch", next.Epoch)
		switch {
		case s.Up && !p.Up:
			l.Info("backend up", "role", s.Role, "version", s.Version, "rtt", s.RTT)
		case !s.Up && (p.Up || p.ProbedAt.IsZero()):
			l.Warn("backend down", "error", s.LastError)
		case s.Up && s.Role != p.Role:
			l.Info("backend role changed", "from", p.Role, "to", s.Role)
		}
		if s.Up && s.ReplicationError != "" && s.ReplicationError != p.ReplicationError {
			l.Warn("replication error", "error", s.ReplicationError)
		}
	}
	if conflict != m.conflict {
		if conflict != "" {
			m.logger.Error("no primary: split brain", "error", conflict, "epoch", next.Epoch)
		} else {
			m.logger.Info("primary conflict resolved", "epoch", next.Epoch)
		}
		m.conflict = conflict
	}
	oldP, hadP := prev.Primary()
	newP, hasP := next.Primary()
	switch {
	case hasP && (!hadP || oldP.Name != newP.Name):
		m.logger.Info("primary", "backend", newP.Name, "address", newP.Address, "epoch", next.Epoch)
	case !hasP && hadP:
		m.logger.Warn("no primary", "was", oldP.Name, "epoch", next.Epoch)
	}
}
