package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/health/cluster"
	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// ErrRunning is returned by Run when another Run of the same Monitor is active.
var ErrRunning = errors.New("health: Monitor.Run is already running")

// Monitor probes every configured backend and publishes the resulting
// Topology; while Run runs it also gossips with the other proxies of the
// cluster and coordinates failovers. Create it with NewMonitor; it does
// nothing until Run or ProbeOnce.
//
// Concurrency: Snapshot, Updated, Ready and AckedFrom are safe from any
// goroutine at any time and never block. Run, ProbeOnce, Close, Reload,
// Switchover and Register may be called from any goroutine; rounds are
// serialized by roundMu, so a ProbeOnce during Run waits for the current
// round. At most one Run at a time.
type Monitor struct {
	logger *slog.Logger
	cfg    atomic.Pointer[config.Config]
	// tls holds each backend's TLS policy, loaded from cfg: the monitor
	// account's sessions (probes, promotions, fences) are encrypted as
	// the proxy's data path to the same server is.
	tls     atomic.Pointer[tlsconf.Backends]
	metrics *metrics
	// acked reads the newest position the proxy acknowledged to a client
	// (AckedFrom); nil until the proxy says where.
	acked atomic.Pointer[func() gtid.Position]

	snap      atomic.Pointer[Topology]
	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool
	kick      chan struct{}                   // wakes Run for a round now; buffered 1
	cl        atomic.Pointer[cluster.Cluster] // set while Run runs with a cluster
	flags     atomic.Pointer[flags]           // failover state for the next publish
	// lastReport is when ReportFailure last woke Run (unix nanoseconds).
	lastReport atomic.Int64

	roundMu sync.Mutex
	// Guarded by roundMu: the probers.
	backends []*backendProbe

	pubMu sync.Mutex
	// Guarded by pubMu: the last round's probe results (roles undecided),
	// the conflict last logged, the last primary seen and whether a round
	// has completed.
	raw         []Server
	rawAt       time.Time
	conflict    string
	lastPrimary string
	rounds      int

	epochMu sync.Mutex
	// Guarded by epochMu: the newest recorded epoch known, and until when
	// writes are held for the primary it names to show up.
	epoch      epochRecord
	awaitUntil time.Time

	fmu sync.Mutex
	// Guarded by fmu: the failover machine and the side actions in flight.
	machine  *failover.Machine
	actions  map[string]*action // by kind+backend: fences, rejoins, repoints
	peerBusy map[string]bool    // last Busy seen per member (kick on change)
	failedAt time.Time          // when this proxy first saw the primary down, for the duration metric

	notes sync.Map // backend name → what an operator must do (a rejoin that cannot happen)
}

// flags are the failover facts a published snapshot carries.
type flags struct {
	inProgress bool
	state      string
	members    int
}

// epochRecord is a recorded promotion: its epoch and the primary it named.
type epochRecord struct {
	Epoch   uint64
	Primary string
}

// backendProbe is one backend's config and its prober.
type backendProbe struct {
	cfg    config.Backend
	prober prober
	rtts   recentRTTs // only round touches it, one probe per backend at a time
}

// rttWindow is how many probes Server.MinRTT looks back over: long enough
// that a busy spell does not move a server away, short enough (a few
// seconds at the default interval) that a real change of distance shows.
const rttWindow = 8

// recentRTTs holds the last rttWindow probes' round trips.
type recentRTTs struct {
	last [rttWindow]time.Duration
	n    int
}

// add records d and returns the smallest round trip held.
func (r *recentRTTs) add(d time.Duration) time.Duration {
	r.last[r.n%rttWindow] = d
	r.n++
	least := d
	for _, v := range r.last[:min(r.n, rttWindow)] {
		least = min(least, v)
	}
	return least
}

// NewMonitor returns a Monitor for cfg.Backends probed as cfg.Monitor every
// cfg.Health.Interval, each probe bounded by cfg.Health.Timeout, encrypted
// as backend_tls says; cfg.Cluster and cfg.Failover take effect in Run. cfg
// should have passed Validate. It fails when a TLS file cannot be loaded. A
// nil logger discards logs.
func NewMonitor(cfg config.Config, logger *slog.Logger) (*Monitor, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = withDefaults(cfg)
	policies, err := tlsconf.Load(cfg)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	m := &Monitor{
		logger:   logger.With("component", "health"),
		ready:    make(chan struct{}),
		kick:     make(chan struct{}, 1),
		metrics:  newMetrics(),
		machine:  failover.NewMachine(machineConfig(cfg)),
		actions:  map[string]*action{},
		peerBusy: map[string]bool{},
	}
	m.cfg.Store(&cfg)
	m.tls.Store(&policies)
	m.flags.Store(&flags{state: failover.Healthy.String(), members: 1})
	servers := make([]Server, len(cfg.Backends))
	for i, b := range cfg.Backends {
		m.backends = append(m.backends, newBackendProbe(b, cfg.Monitor, policies.For(b.Name)))
		servers[i] = initialServer(b)
	}
	m.raw = servers
	m.snap.Store(&Topology{Servers: slices.Clone(servers), updated: make(chan struct{}),
		Failover: failover.Healthy.String(), ClusterMembers: 1})
	return m, nil
}

// withDefaults fills what a hand-built config may lack.
func withDefaults(cfg config.Config) config.Config {
	d := config.Default()
	if cfg.Health.Interval <= 0 {
		cfg.Health.Interval = d.Health.Interval
	}
	if cfg.Health.Timeout <= 0 {
		cfg.Health.Timeout = d.Health.Timeout
	}
	if cfg.Failover == (config.Failover{}) {
		cfg.Failover = d.Failover
	}
	if cfg.Failover.ConfirmAfter <= 0 {
		cfg.Failover.ConfirmAfter = d.Failover.ConfirmAfter
	}
	if cfg.Failover.MaxCatchupWait <= 0 {
		cfg.Failover.MaxCatchupWait = d.Failover.MaxCatchupWait
	}
	return cfg
}

func newBackendProbe(b config.Backend, mon config.Monitor, tls tlsconf.Policy) *backendProbe {
	return &backendProbe{cfg: b, prober: prober{addr: b.Address, user: mon.User, password: mon.Password, tls: tls}}
}

func initialServer(b config.Backend) Server {
	return Server{
		Name: b.Name, Address: b.Address, Region: b.Region, Zone: b.Zone,
		Role: RoleUnknown, Lag: -1, LastError: "not probed yet",
	}
}

func (m *Monitor) config() *config.Config { return m.cfg.Load() }

// dialer opens monitor-account sessions for promotions, fences, rejoins
// and repoints, with the running config's account and TLS policies. These
// are health's own decisions (or an operator's switchover through the
// admin API, behind its token): never a statement a MySQL client chose,
// which runs as the client's own user (proxy/kill.go).
func (m *Monitor) dialer() failover.Dialer {
	cfg := m.config()
	return failover.NewDialer(cfg.Monitor.User, cfg.Monitor.Password, *m.tls.Load())
}

// Snapshot returns the latest topology. Never nil; do not modify it.
func (m *Monitor) Snapshot() *Topology { return m.snap.Load() }

// Updated returns a channel that is closed when the snapshot after the
// current one is published. Take the channel before reading Snapshot, so
// that a publication in between is not missed:
//
//	ch := mon.Updated()
//	if _, ok := mon.Snapshot().Primary(); !ok {
//		select { case <-ch: /* look again */ case <-timer.C: /* give up */ }
//	}
func (m *Monitor) Updated() <-chan struct{} { return m.snap.Load().updated }

// Ready is closed after the first completed round has been published.
func (m *Monitor) Ready() <-chan struct{} { return m.ready }

// AckedFrom tells the monitor where to read the newest position the proxy
// acknowledged to a client: a failover waits for the candidate to have
// applied it and reports what it lacks, and the proxies gossip it. The
// proxy keeps that position for read-your-writes anyway, so the monitor
// reads it when it needs it (each gossip round, each promotion) instead of
// tracking every acknowledged write a second time. Safe to call while Run
// runs; newest must be safe for concurrent use.
func (m *Monitor) AckedFrom(newest func() gtid.Position) { m.acked.Store(&newest) }

// ackedString is the acknowledged position as gossiped: "0-1-42,1-2-7"
// (MariaDB), "uuid:1-42" (MySQL), "" before any.
func (m *Monitor) ackedString() string {
	if newest := m.acked.Load(); newest != nil {
		return (*newest)().String()
	}
	return ""
}

// Run probes all backends every interval until ctx is done, then closes its
// connections and returns nil. The first round starts at once. A round that
// takes longer than the interval delays the next one; rounds never overlap.
//
// With cfg.Cluster it joins the proxy cluster first (an error binding the
// gossip port is returned at once) and gossips its view after each round.
// After each round it runs the failover machine: it fences stale primaries,
// and when the cluster's verdict is that the primary failed and this proxy
// is the coordinator, it promotes a replica. Promotions and fences run in
// goroutines that Run waits for (cancelled) before it returns.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)
	defer m.Close()

	if cc := m.config().Cluster; cc != nil {
		cl, err := m.startCluster(*cc)
		if err != nil {
			return err
		}
		m.cl.Store(cl)
		defer func() {
			// The member running now: HandGossipOver may have replaced cl.
			if cur := m.cl.Swap(nil); cur != nil && cur != cl {
				_ = cur.Close()
			}
			if err := cl.Close(); err != nil {
				m.logger.Debug("cluster close", "err", err)
			}
		}()
	}
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
		if m.round(ctx) {
			m.evaluate(actx, &wg)
			m.republish()
		}
		if ctx.Err() != nil {
			return nil
		}
		t.Reset(m.config().Health.Interval)
	}
}

// ReportFailure tells the monitor that a connection to backend (its name
// or address) just failed, for instance a dial refused by a primary that
// was killed: Run probes every backend at once instead of at the next
// interval, so the failure is confirmed and FailoverInProgress set sooner.
// It never blocks; reports during a round coalesce into the next round.
func (m *Monitor) ReportFailure(backend string) {
	for _, s := range m.Snapshot().Servers {
		if s.Name != backend && !sameAddr(s.Address, backend) {
			continue
		}
		// At most one extra round per reportGap, however many sessions
		// report: a backend that stays down must not make probing spin.
		now := time.Now().UnixNano()
		last := m.lastReport.Load()
		if now-last >= int64(reportGap) && m.lastReport.CompareAndSwap(last, now) {
			m.wake()
		}
		return
	}
}

// reportGap is the least time between two rounds asked by ReportFailure.
const reportGap = 100 * time.Millisecond

// wake asks Run for a round now, without blocking.
func (m *Monitor) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// ProbeOnce runs one round: every backend is probed concurrently, each probe
// bounded by the health timeout, then roles are decided and a new Topology
// is published. A round interrupted by ctx is discarded: a shutdown is not
// evidence that servers are down. It does not run the failover machine.
func (m *Monitor) ProbeOnce(ctx context.Context) {
	if m.round(ctx) {
		m.republish()
	}
}

// round probes every backend and stores the results for publishing. It
// reports false when ctx ended it.
func (m *Monitor) round(ctx context.Context) bool {
	m.roundMu.Lock()
	defer m.roundMu.Unlock()

	prev := m.snap.Load()
	timeout := m.config().Health.Timeout
	servers := make([]Server, len(m.backends))
	var wg sync.WaitGroup
	for i, b := range m.backends {
		p, ok := prev.Server(b.cfg.Name)
		if !ok || p.Address != b.cfg.Address {
			p = initialServer(b.cfg)
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			servers[i] = b.probe(pctx, p)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	m.nameSources(ctx, servers, timeout)
	for _, s := range servers {
		if s.RecordedEpoch > 0 {
			m.learnEpoch(epochRecord{Epoch: s.RecordedEpoch, Primary: s.RecordedPrimary}, "backend "+s.Name)
		}
	}
	m.pubMu.Lock()
	m.raw, m.rawAt = servers, time.Now()
	m.rounds++
	m.pubMu.Unlock()
	return true
}

// nameSources resolves the host names of the servers and of their
// replication sources (bounded by timeout) and names each replica's
// source among the servers (addr.go).
func (m *Monitor) nameSources(ctx context.Context, servers []Server, timeout time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, s := range servers {
		hosts.refresh(rctx, s.Address, s.SourceAddress)
	}
	for i := range servers {
		servers[i].Source = sourceName(servers[i].SourceAddress, servers)
	}
}

// probe probes one backend and returns its new Server value.
func (b *backendProbe) probe(ctx context.Context, prev Server) Server {
	s := Server{
		Name: b.cfg.Name, Address: b.cfg.Address, Region: b.cfg.Region, Zone: b.cfg.Zone,
		Role: RoleUnknown, Lag: -1,
		// Kept from the last success so that a down server still says
		// what it was running and which epoch it had seen.
		Version: prev.Version, Flavor: prev.Flavor, GTIDCurrent: prev.GTIDCurrent, Applied: prev.Applied,
		RecordedEpoch: prev.RecordedEpoch, RecordedPrimary: prev.RecordedPrimary,
	}
	res, err := b.prober.probe(ctx)
	s.ProbedAt = time.Now()
	if err != nil {
		b.rtts = recentRTTs{} // back up, its distance is measured anew
		s.LastError = err.Error()
		s.Silent = silent(err)
		s.FailedProbes = prev.FailedProbes + 1
		s.DownSince = prev.DownSince
		if s.DownSince.IsZero() {
			s.DownSince = s.ProbedAt
		}
		return s
	}
	s.Up = true
	s.ReadOnly = res.state.ReadOnly
	s.Version = res.state.Version
	s.Flavor = res.flavor
	s.RTT = res.rtt
	s.MinRTT = b.rtts.add(res.rtt)
	s.Lag = res.replica.Lag
	s.Replicating = res.replica.Replicating
	s.SourceAddress = res.replica.SourceAddress
	s.IOThreadRunning = res.replica.IOThreadRunning
	s.SQLThreadRunning = res.replica.SQLThreadRunning
	s.ReplicationError = res.replica.Error
	s.GTIDCurrent = res.state.GTID
	s.Applied, _ = gtid.ParseAs(s.Flavor, s.GTIDCurrent) // an unparsable position says nothing: the zero Position
	s.GTIDReceived = res.replica.Received
	s.RecordedEpoch, s.RecordedPrimary = res.epoch.Epoch, res.epoch.Primary
	if res.epochErr != "" {
		s.LastError = "reading switchyard.epoch: " + res.epochErr
	}
	return s
}

// republish publishes a snapshot from the last round's probe results and
// the current epoch and failover state.
func (m *Monitor) republish() {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	if m.rounds == 0 {
		return // nothing probed yet: the initial snapshot stays
	}
	next, conflict := m.buildLocked()
	prev := m.snap.Load()
	m.logChangesLocked(prev, next, conflict)
	if p, ok := next.Primary(); ok {
		m.lastPrimary = p.Name
		m.clearAwait(p.Name)
	}
	m.snap.Store(next)
	close(prev.updated)
	m.readyOnce.Do(func() { close(m.ready) })
}

// buildLocked makes the next snapshot without publishing it.
func (m *Monitor) buildLocked() (*Topology, string) {
	prev := m.snap.Load()
	rec := m.recorded()
	servers := slices.Clone(m.raw)
	conflict := decideRoles(servers, rec)
	m.annotate(servers)
	f := m.flags.Load()
	next := &Topology{
		Epoch: prev.Epoch, Servers: servers, ProbedAt: m.rawAt,
		RecordedEpoch: rec.Epoch, RecordedPrimary: rec.Primary,
		FailoverInProgress: f.inProgress, Failover: f.state, ClusterMembers: f.members,
		updated: make(chan struct{}),
	}
	oldP, hadP := prev.Primary()
	newP, hasP := next.Primary()
	if hadP != hasP || oldP.Name != newP.Name {
		next.Epoch = max(prev.Epoch+1, rec.Epoch)
	}
	return next, conflict
}

// preview is the snapshot the next publish would make, for the failover
// machine to judge before it is published.
func (m *Monitor) preview() *Topology {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	t, _ := m.buildLocked()
	return t
}

// recorded returns the newest recorded epoch known.
func (m *Monitor) recorded() epochRecord {
	m.epochMu.Lock()
	defer m.epochMu.Unlock()
	return m.epoch
}

// learnEpoch records rec if it is newer than any known, and reports whether
// it was. A newer epoch from gossip holds writes until this proxy's own
// probes find the primary it names (bounded).
func (m *Monitor) learnEpoch(rec epochRecord, from string) bool {
	m.epochMu.Lock()
	if rec.Epoch <= m.epoch.Epoch {
		m.epochMu.Unlock()
		return false
	}
	old := m.epoch
	m.epoch = rec
	cfg := m.config()
	m.awaitUntil = time.Now().Add(2*cfg.Health.Interval + cfg.Health.Timeout)
	m.epochMu.Unlock()
	m.logger.Info("newer epoch", "epoch", rec.Epoch, "primary", rec.Primary, "was", old.Epoch, "from", from)
	return true
}

func (m *Monitor) clearAwait(primary string) {
	m.epochMu.Lock()
	defer m.epochMu.Unlock()
	if primary == m.epoch.Primary {
		m.awaitUntil = time.Time{}
	}
}

func (m *Monitor) awaiting(now time.Time) bool {
	m.epochMu.Lock()
	defer m.epochMu.Unlock()
	return now.Before(m.awaitUntil)
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

// Reload applies a new config live: the backend list (probers of unchanged
// backends keep their connections), the monitor account, the backends' TLS
// policies (their files are read again; a changed policy reconnects the
// probe), the health and failover settings, and the cluster's join list,
// expected size and key. The cluster's presence, name and bind need a
// restart: they keep their running values (see config.ForReload), and the
// change is logged. Nothing is applied when cfg does not validate or a TLS
// file does not load.
func (m *Monitor) Reload(cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("health: reload refused: %w", err)
	}
	cfg = withDefaults(cfg)
	old := *m.config()
	apply, restart := config.ForReload(old, cfg)
	policies, err := tlsconf.Load(apply)
	if err != nil {
		return fmt.Errorf("health: reload refused: %w", err)
	}
	for _, c := range restart {
		m.logger.Warn("reload: not applied live", "change", c.String())
	}
	m.roundMu.Lock()
	keep := map[string]*backendProbe{}
	for _, b := range m.backends {
		keep[b.cfg.Name] = b
	}
	next := make([]*backendProbe, 0, len(apply.Backends))
	for _, nb := range apply.Backends {
		tls := policies.For(nb.Name)
		if b, ok := keep[nb.Name]; ok && b.cfg.Address == nb.Address && old.Monitor == apply.Monitor && b.prober.tls.Same(tls) {
			b.cfg = nb
			next = append(next, b)
			delete(keep, nb.Name)
			continue
		}
		next = append(next, newBackendProbe(nb, apply.Monitor, tls))
	}
	for _, b := range keep {
		b.prober.close()
	}
	m.backends = next
	m.cfg.Store(&apply)
	m.tls.Store(&policies)
	m.roundMu.Unlock()

	m.fmu.Lock()
	m.machine.SetConfig(machineConfig(apply))
	m.fmu.Unlock()
	if cl := m.cl.Load(); cl != nil && apply.Cluster != nil {
		cl.SetJoin(apply.Cluster.Join, apply.Cluster.ExpectedSize)
		if old.Cluster != nil && apply.Cluster.Key != old.Cluster.Key {
			key, _ := decodeKey(apply.Cluster.Key)
			err = cl.SetKey(key)
		}
	}
	m.logger.Info("reloaded", "backends", len(apply.Backends))
	m.wake()
	return err
}

// logChangesLocked logs transitions only, so that a steady state is quiet
// and a flapping server is visible. "epoch" is the promotion epoch, as in
// status, /topology and switchyard_epoch; "view" counts this proxy's
// changes of primary (Topology.Epoch), which moves on every probe-level
// change and means nothing across proxies.
func (m *Monitor) logChangesLocked(prev, next *Topology, conflict string) {
	for _, s := range next.Servers {
		p, known := prev.Server(s.Name)
		l := m.logger.With("backend", s.Name, "address", s.Address, "epoch", next.RecordedEpoch, "view", next.Epoch)
		switch {
		case s.Up && !p.Up:
			l.Info("backend up", "role", s.Role, "version", s.Version, "rtt", s.RTT)
		case !s.Up && (p.Up || p.ProbedAt.IsZero() || !known):
			l.Warn("backend down", "error", s.LastError)
		case s.Up && s.Role != p.Role:
			l.Info("backend role changed", "from", p.Role, "to", s.Role)
		}
		if s.Up && s.ReplicationError != "" && s.ReplicationError != p.ReplicationError {
			l.Warn("replication error", "error", s.ReplicationError)
		}
		if s.Fenced && !p.Fenced {
			l.Warn("backend fenced", "error", s.LastError)
		}
	}
	if conflict != m.conflict {
		if conflict != "" {
			m.logger.Error("no primary: split brain", "error", conflict, "epoch", next.RecordedEpoch, "view", next.Epoch)
		} else {
			m.logger.Info("primary conflict resolved", "epoch", next.RecordedEpoch, "view", next.Epoch)
		}
		m.conflict = conflict
	}
	oldP, hadP := prev.Primary()
	newP, hasP := next.Primary()
	switch {
	case hasP && (!hadP || oldP.Name != newP.Name):
		m.logger.Info("primary", "backend", newP.Name, "address", newP.Address, "epoch", next.RecordedEpoch, "view", next.Epoch)
	case !hasP && hadP:
		m.logger.Warn("no primary", "was", oldP.Name, "epoch", next.RecordedEpoch, "view", next.Epoch)
	}
	if prev.FailoverInProgress != next.FailoverInProgress {
		m.logger.Info("failover in progress", "holding_writes", next.FailoverInProgress, "state", next.Failover)
	}
}
