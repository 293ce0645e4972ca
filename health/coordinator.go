package health

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health/cluster"
	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// Errors of Switchover.
var (
	ErrNotRunning     = errors.New("health: the monitor is not running")
	ErrUnknownBackend = errors.New("health: no such backend")
	ErrSwitchover     = errors.New("health: switchover refused")
)

// soloName is this proxy's member name without a cluster.
const soloName = "local"

// switchoverDrain is the pause between holding writes and making the old
// primary read-only in a switchover.
const switchoverDrain = 100 * time.Millisecond

// action is a side action in flight or done for a backend: a fence, a
// rejoin or a repoint, keyed so that it never runs twice at once and is not
// retried in a loop.
type action struct {
	running bool
	epoch   uint64    // the epoch it was tried under
	retryAt time.Time // after a failure
}

func machineConfig(cfg config.Config) failover.Config {
	return failover.Config{
		Auto:         cfg.Failover.Auto,
		ConfirmAfter: cfg.Failover.ConfirmAfter,
		Cooldown:     cfg.Failover.Cooldown,
		Retry:        max(cfg.Health.Interval, time.Second),
	}
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// staleAfter is how old a peer's view may be and still count: a few probe
// periods (each proxy publishes once per round), plus a slow round.
func staleAfter(cfg *config.Config) time.Duration {
	return 4*cfg.Health.Interval + cfg.Health.Timeout
}

func (m *Monitor) selfName() string {
	if cc := m.config().Cluster; cc != nil {
		if cc.Name != "" {
			return cc.Name
		}
		return cc.Bind
	}
	return soloName
}

func (m *Monitor) startCluster(cc config.Cluster) (*cluster.Cluster, error) {
	key, err := decodeKey(cc.Key)
	if err != nil {
		return nil, fmt.Errorf("health: cluster.key: %w", err)
	}
	cl, err := cluster.New(cluster.Config{
		Name: cc.Name, Bind: cc.Bind, Join: cc.Join, ExpectedSize: cc.ExpectedSize, Key: key,
	}, m.logger, m.onPeerView)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	m.logger.Info("cluster: listening", "member", cl.Name(), "bind", cl.Addr(),
		"expected_size", cc.ExpectedSize, "encrypted", len(key) > 0)
	if len(key) == 0 && !config.IsLoopback(cc.Bind) {
		m.logger.Warn("cluster: gossip is neither encrypted nor authenticated on an address other hosts can reach (cluster.insecure: true): anyone who reaches it can vote in the failover quorum; set cluster.key",
			"bind", cc.Bind)
	}
	return cl, nil
}

// onPeerView runs on memberlist's goroutines for each newer view of a peer:
// it must not block. A newer epoch is applied at once (fencing cannot wait
// for a round) and wakes Run; so does a peer starting or ending a failover.
func (m *Monitor) onPeerView(v cluster.View) {
	wake := false
	if v.Epoch > 0 && m.learnEpoch(epochRecord{Epoch: v.Epoch, Primary: v.EpochPrimary}, "proxy "+v.Member) {
		m.republish()
		wake = true
	}
	m.fmu.Lock()
	if m.peerBusy[v.Member] != v.Busy {
		m.peerBusy[v.Member] = v.Busy
		wake = true
	}
	m.fmu.Unlock()
	if wake {
		m.wake()
	}
}

// formerPrimary names the server that is, or last was, the primary: the one
// the newest recorded epoch names, else the last one this proxy saw, else
// the server most replicas replicate from.
func (m *Monitor) formerPrimary(t *Topology) string {
	if _, ok := t.Server(t.RecordedPrimary); ok && t.RecordedPrimary != "" {
		return t.RecordedPrimary
	}
	m.pubMu.Lock()
	last := m.lastPrimary
	m.pubMu.Unlock()
	if last != "" {
		return last
	}
	votes := map[string]int{}
	best := ""
	for _, s := range t.Servers {
		if !s.Replicating {
			continue
		}
		for _, src := range t.Servers {
			if sameAddr(src.Address, s.SourceAddress) {
				votes[src.Name]++
				if best == "" || votes[src.Name] > votes[best] {
					best = src.Name
				}
			}
		}
	}
	return best
}

// position is what s will have applied once its relay log is: executed
// merged with received. Unparsable positions count as empty.
func position(s Server) failover.Position {
	cur, _ := gtid.ParseAs(s.Flavor, s.GTIDCurrent)
	rcv, _ := gtid.ParseAs(s.Flavor, s.GTIDReceived)
	return cur.Merge(rcv)
}

// observation builds what the machine judges from a snapshot and the
// fresh views of the peers.
func (m *Monitor) observation(t *Topology, peers []cluster.View, now time.Time) failover.Observation {
	cfg := m.config()
	o := failover.Observation{
		Now: now, Self: m.selfName(), ClusterSize: 1, Region: cfg.Region, Epoch: t.RecordedEpoch,
		Primary: m.formerPrimary(t),
	}
	if cfg.Cluster != nil {
		o.ClusterSize = max(cfg.Cluster.ExpectedSize, 1)
	}
	_, o.HavePrimary = t.Primary()
	prim, _ := t.Server(o.Primary)
	byName := map[string]config.Backend{}
	for _, b := range cfg.Backends {
		byName[b.Name] = b
	}
	self := failover.Member{Name: o.Self}
	for _, s := range t.Servers {
		b := byName[s.Name]
		o.Servers = append(o.Servers, failover.Server{
			Name: s.Name, Address: s.Address, Region: s.Region,
			Promote: b.Promote == nil || *b.Promote, Priority: b.Priority,
			Up: s.Up, FailedProbes: s.FailedProbes, DownSince: s.DownSince, ReadOnly: s.ReadOnly,
			Flavor: s.Flavor, Replicating: s.Replicating, SourceAddress: s.SourceAddress,
			IOThreadRunning: s.IOThreadRunning, SQLThreadRunning: s.SQLThreadRunning,
			ReplicationError: s.ReplicationError, Position: position(s),
		})
		if s.Name == o.Primary && !s.Up {
			self.DownSince = s.DownSince
		}
		if s.Up && s.Role == RoleReplica && o.Primary != "" && sameAddr(s.SourceAddress, prim.Address) {
			self.SeesReplica = true
		}
	}
	o.Members = append(o.Members, self)
	for _, v := range peers {
		mb := failover.Member{Name: v.Member}
		for _, b := range v.Backends {
			switch {
			case b.Name == o.Primary && !b.Up:
				mb.DownSince = v.Received.Add(-b.DownFor)
			case b.Name != o.Primary && b.Up && b.Replica:
				mb.SeesReplica = true
			}
		}
		o.Members = append(o.Members, mb)
	}
	return o
}

// evaluate runs after each round of Run: it feeds the machine, starts what
// it decides, fences and repairs, and gossips this proxy's view.
func (m *Monitor) evaluate(ctx context.Context, wg *sync.WaitGroup) {
	now := time.Now()
	t := m.preview()
	if p, ok := t.Primary(); ok {
		m.clearAwait(p.Name) // the primary a newer epoch names is here: stop holding for it
	}
	cl := m.cl.Load()
	var peers []cluster.View
	if cl != nil {
		peers = cl.Peers(staleAfter(m.config()))
	}
	obs := m.observation(t, peers, now)

	m.fmu.Lock()
	out := m.machine.Handle(failover.Observed{Obs: obs})
	if out.State == failover.Healthy {
		m.failedAt = time.Time{}
	} else if m.failedAt.IsZero() {
		m.failedAt = now
		if p, ok := t.Server(obs.Primary); ok && !p.DownSince.IsZero() {
			m.failedAt = p.DownSince
		}
	}
	failedAt := m.failedAt
	m.fmu.Unlock()

	if out.Changed {
		l := m.logger.With("state", out.State.String(), "epoch", t.RecordedEpoch)
		switch out.State {
		case failover.Healthy:
			l.Info("failover: healthy")
		case failover.Blocked:
			l.Error("failover: not failing over", "reason", out.Reason)
		default:
			l.Warn("failover: "+out.State.String(), "reason", out.Reason)
		}
	}
	busy := false
	for _, v := range peers {
		busy = busy || v.Busy
	}
	m.setFlags(out.State, out.Reason, busy, now, 1+len(peers), t)
	if out.Promote != nil {
		ch := *out.Promote
		wg.Go(func() { m.runFailover(ctx, ch, failedAt, peers) })
	}
	m.sideActions(ctx, wg, t, obs, peers, out.State == failover.Healthy && !busy)
	m.publishView(t, out.State)
}

// setFlags computes what the next snapshots say about the failover.
func (m *Monitor) setFlags(st failover.State, reason string, peerBusy bool, now time.Time, members int, t *Topology) {
	state := st.String()
	if reason != "" {
		state += ": " + reason
	}
	if st == failover.Healthy {
		state = healthyOrWhy(t)
	}
	m.flags.Store(&flags{
		inProgress: st.InProgress() || peerBusy || m.awaiting(now),
		state:      state,
		members:    members,
	})
}

// refreshFlags recomputes the flags from the machine alone, for the
// switchover path (between rounds).
func (m *Monitor) refreshFlags() {
	m.fmu.Lock()
	st, reason := m.machine.State(), m.machine.Reason()
	busy := false
	for _, b := range m.peerBusy {
		busy = busy || b
	}
	m.fmu.Unlock()
	f := m.flags.Load()
	m.setFlags(st, reason, busy, time.Now(), f.members, m.Snapshot())
}

// publishView gossips this proxy's view of the backends.
func (m *Monitor) publishView(t *Topology, st failover.State) {
	if cl := m.cl.Load(); cl != nil {
		cl.Publish(m.viewOf(t, st, time.Now()))
	}
}

// viewOf is this proxy's view of t in failover state st: what it gossips,
// and what /topology compares the other members' views with.
func (m *Monitor) viewOf(t *Topology, st failover.State, now time.Time) cluster.View {
	v := cluster.View{
		Member: m.selfName(),
		Epoch:  t.RecordedEpoch, EpochPrimary: t.RecordedPrimary,
		Busy:    st == failover.Promoting || st == failover.Switching,
		Holding: m.flags.Load().inProgress,
		Acked:   m.ackedString(),
		State:   st.String(),
	}
	if p, ok := t.Primary(); ok {
		v.Primary = p.Name
	}
	for _, s := range t.Servers {
		b := cluster.Backend{Name: s.Name, Up: s.Up, GTID: s.GTIDCurrent, Epoch: s.RecordedEpoch,
			Replica: s.Up && s.Role == RoleReplica}
		if !s.Up && !s.DownSince.IsZero() {
			b.DownFor = now.Sub(s.DownSince)
		}
		v.Backends = append(v.Backends, b)
	}
	return v
}

// ackedPosition is the newest acknowledged position of this proxy and of
// every peer, in flavor f.
// A part that does not parse (another flavor, a malformed GTID a client
// session reported) is skipped alone.
func (m *Monitor) ackedPosition(f failover.Flavor, peers []cluster.View) failover.Position {
	pos, _ := gtid.ParseAs(f, "")
	all := []string{m.ackedString()}
	for _, v := range peers {
		all = append(all, v.Acked)
	}
	for _, s := range all {
		for part := range strings.SplitSeq(s, ",") {
			if p, err := gtid.ParseAs(f, part); err == nil {
				pos = pos.Merge(p)
			}
		}
	}
	return pos
}

// plan turns a choice into an executable plan.
func (m *Monitor) plan(kind failover.Kind, ch failover.Choice, t *Topology, peers []cluster.View) failover.Plan {
	cfg := m.config()
	tgt := func(s failover.Server) failover.Target { return failover.Target{Name: s.Name, Address: s.Address} }
	p := failover.Plan{
		Kind: kind, Flavor: ch.Candidate.Flavor, From: tgt(ch.From), To: tgt(ch.Candidate),
		Epoch: t.RecordedEpoch, CatchupWait: cfg.Failover.MaxCatchupWait,
		Repl:     failover.ReplCredentials{User: cfg.Failover.ReplicationUser, Password: cfg.Failover.ReplicationPassword},
		SemiSync: cfg.Failover.SemiSync, By: m.selfName(),
	}
	if rec := m.recorded(); rec.Epoch > p.Epoch {
		p.Epoch = rec.Epoch
	}
	for _, s := range ch.Others {
		p.Others = append(p.Others, tgt(s))
	}
	// The guard: every configured server but the old primary; a majority
	// of them must be locked.
	for _, s := range t.Servers {
		if s.Name != ch.From.Name {
			p.Guard = append(p.Guard, failover.Target{Name: s.Name, Address: s.Address})
		}
	}
	p.GuardQuorum = len(p.Guard)/2 + 1
	p.Acked = m.ackedPosition(p.Flavor, peers)
	return p
}

// runFailover executes an automatic failover and reports to the machine.
func (m *Monitor) runFailover(ctx context.Context, ch failover.Choice, failedAt time.Time, peers []cluster.View) {
	t := m.Snapshot()
	p := m.plan(failover.KindFailover, ch, t, peers)
	l := m.logger.With("from", p.From.Name, "to", p.To.Name, "epoch", p.Epoch)
	l.Warn("failover: promoting", "candidate_position", ch.Candidate.Position.String(),
		"acknowledged", p.Acked.String(), "others", len(p.Others), "skipped", ch.Skipped)
	res, err := m.execute(ctx, p)
	if !res.Promoted {
		l.Error("failover: promotion failed", "err", err, "steps", res.Steps)
		m.metrics.failovers.WithLabelValues("failure").Inc()
		err = cmpErr(err)
	} else {
		took := time.Since(failedAt)
		m.metrics.failovers.WithLabelValues("success").Inc()
		m.metrics.duration.Observe(took.Seconds())
		l.Warn("failover: promoted", "primary", p.To.Name, "new_epoch", res.Epoch, "since_failure", took.Round(time.Millisecond),
			"caught_up", res.CaughtUp, "repointed", res.Repointed, "repoint_errors", err)
		l.Debug("failover: steps", "steps", res.Steps)
		err = nil
	}
	m.fmu.Lock()
	out := m.machine.Handle(failover.PromotionDone{Now: time.Now(), Err: err})
	m.fmu.Unlock()
	if out.Changed {
		m.logger.Info("failover: "+out.State.String(), "reason", out.Reason)
	}
	m.wake()
}

func cmpErr(err error) error {
	if err == nil {
		return errors.New("not promoted")
	}
	return err
}

// execute runs a plan and accounts for what it reports.
func (m *Monitor) execute(ctx context.Context, p failover.Plan) (failover.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, p.CatchupWait+30*time.Second)
	defer cancel()
	res, err := failover.Execute(ctx, p, m.dialer(), m.logger)
	if res.Epoch > 0 {
		m.learnEpoch(epochRecord{Epoch: res.Epoch, Primary: p.To.Name}, "promotion")
		m.republish()
	}
	if res.Missing > 0 {
		m.metrics.missing.Add(float64(res.Missing))
		m.logger.Error("ACKNOWLEDGED WRITES MISSING: the new primary lacks transactions that clients were told had committed",
			"backend", p.To.Name, "missing", res.Missing, "acknowledged", p.Acked.String(), "caught_up", res.CaughtUp)
	}
	return res, err
}

// sideActions fences stale primaries (any proxy: fencing is always safe)
// and, on the coordinator, repoints orphaned replicas and rejoins former
// primaries (failover.auto_rejoin).
//
// Repairs wait while a failover or switchover runs anywhere (calm is
// false): the promotion repoints the servers itself, and a round may catch
// a server between two of its steps.
func (m *Monitor) sideActions(ctx context.Context, wg *sync.WaitGroup, t *Topology, obs failover.Observation,
	peers []cluster.View, calm bool) {
	cfg := m.config()
	dial := m.dialer()
	for _, s := range t.Servers {
		if s.Up && s.Fenced && !s.ReadOnly && s.RecordedEpoch < t.RecordedEpoch {
			target := failover.Target{Name: s.Name, Address: s.Address}
			m.startAction(ctx, wg, "fence/"+s.Name, t.RecordedEpoch, func(ctx context.Context) error {
				err := failover.Fence(ctx, dial, s.Flavor, target)
				if err == nil {
					m.metrics.fences.Inc()
					m.logger.Warn("fenced a stale primary: set read-only", "backend", s.Name, "its_epoch", s.RecordedEpoch,
						"epoch", t.RecordedEpoch, "primary", t.RecordedPrimary)
				}
				return err
			})
		}
	}
	p, ok := t.Primary()
	if !ok || !calm || !m.coordinates(obs, peers) {
		return
	}
	to := failover.Target{Name: p.Name, Address: p.Address}
	repl := failover.ReplCredentials{User: cfg.Failover.ReplicationUser, Password: cfg.Failover.ReplicationPassword}
	for _, s := range t.Servers {
		if !s.Up || s.Name == p.Name || s.RecordedEpoch >= t.RecordedEpoch || t.RecordedEpoch == 0 {
			continue
		}
		target := failover.Target{Name: s.Name, Address: s.Address}
		switch {
		case s.Replicating && !sameAddr(s.SourceAddress, p.Address) && m.sourceGone(t, s.SourceAddress):
			m.startAction(ctx, wg, "repoint/"+s.Name, t.RecordedEpoch, func(ctx context.Context) error {
				err := failover.Repoint(ctx, dial, s.Flavor, target, to, failover.ReplCredentials{}, cfg.Failover.SemiSync)
				if err == nil {
					m.logger.Warn("repointed an orphaned replica", "backend", s.Name, "was", s.SourceAddress, "primary", p.Name)
				}
				return err
			})
		case !s.Replicating && s.ReadOnly && cfg.Failover.AutoRejoin:
			m.startAction(ctx, wg, "rejoin/"+s.Name, t.RecordedEpoch, func(ctx context.Context) error {
				err := failover.Rejoin(ctx, dial, s.Flavor, target, to, repl, cfg.Failover.SemiSync, 10*time.Second)
				switch {
				case err == nil:
					m.notes.Delete(s.Name)
					m.logger.Warn("rejoined a former primary as a replica", "backend", s.Name, "primary", p.Name)
				case errors.Is(err, failover.ErrDiverged):
					m.notes.Store(s.Name, "needs an operator: "+err.Error())
				}
				return err
			})
		}
	}
}

// coordinates reports whether this proxy is the coordinator: the lowest
// named among the proxies with fresh views, which are a majority.
func (m *Monitor) coordinates(obs failover.Observation, peers []cluster.View) bool {
	if len(obs.Members) < obs.ClusterSize/2+1 {
		return false
	}
	for _, v := range peers {
		if v.Member < obs.Self {
			return false
		}
	}
	return true
}

// sourceGone reports whether addr is a configured server that is down or
// fenced, or not a configured server at all.
func (m *Monitor) sourceGone(t *Topology, addr string) bool {
	for _, s := range t.Servers {
		if sameAddr(s.Address, addr) {
			return !s.Up || s.Fenced || !s.Replicating && s.ReadOnly
		}
	}
	return true
}

// startAction runs fn in a goroutine unless the same action runs already,
// or failed under this epoch less than a while ago.
func (m *Monitor) startAction(ctx context.Context, wg *sync.WaitGroup, key string, epoch uint64, fn func(context.Context) error) {
	m.fmu.Lock()
	a := m.actions[key]
	if a == nil {
		a = &action{}
		m.actions[key] = a
	}
	if a.running || a.epoch == epoch && time.Now().Before(a.retryAt) {
		m.fmu.Unlock()
		return
	}
	a.running, a.epoch = true, epoch
	m.fmu.Unlock()
	wg.Go(func() {
		actx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := fn(actx)
		m.fmu.Lock()
		a.running = false
		if err != nil {
			a.retryAt = time.Now().Add(10 * time.Second)
		} else {
			a.retryAt = time.Now().Add(2 * time.Second) // let the probes see the effect
		}
		m.fmu.Unlock()
		if err != nil && ctx.Err() == nil {
			m.logger.Error("failover: "+strings.Split(key, "/")[0]+" failed", "backend", strings.Split(key, "/")[1], "err", err)
		}
		m.wake()
	})
}

// annotate adds to servers what the side actions learned (a rejoin that
// needs an operator).
func (m *Monitor) annotate(servers []Server) {
	for i := range servers {
		if note, ok := m.notes.Load(servers[i].Name); ok && servers[i].Up && servers[i].Role != RoleReplica {
			servers[i].LastError = note.(string)
		}
	}
}

// ResetCooldown lifts the cooldown between automatic failovers: the next
// verdict may promote at once. It is the manual override for anti-flapping.
func (m *Monitor) ResetCooldown() {
	m.fmu.Lock()
	m.machine.Handle(failover.CooldownReset{})
	m.fmu.Unlock()
	m.logger.Warn("failover: cooldown reset by an operator")
	m.wake()
}

// waitPeersHolding waits, bounded, until every peer with a fresh view says
// it holds writes, and returns the peers' views.
func (m *Monitor) waitPeersHolding(ctx context.Context, cl *cluster.Cluster) []cluster.View {
	cfg := m.config()
	deadline := time.Now().Add(2*cfg.Health.Interval + cfg.Health.Timeout + time.Second)
	for {
		peers := cl.Peers(staleAfter(cfg))
		var waiting []string
		for _, v := range peers {
			if !v.Holding {
				waiting = append(waiting, v.Member)
			}
		}
		if len(waiting) == 0 {
			return peers
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.logger.Warn("switchover: some proxies did not confirm they hold writes; going on", "proxies", waiting)
			return peers
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitPrimary waits, bounded, for this proxy's snapshot to name target as
// the primary, waking Run for rounds.
func (m *Monitor) waitPrimary(ctx context.Context, target string) {
	cfg := m.config()
	timer := time.NewTimer(3*cfg.Health.Interval + 2*cfg.Health.Timeout)
	defer timer.Stop()
	for {
		ch := m.Updated()
		if p, ok := m.Snapshot().Primary(); ok && p.Name == target {
			return
		}
		m.wake()
		select {
		case <-ch:
		case <-timer.C:
			m.logger.Warn("switchover: the new primary is not visible yet; releasing writes anyway", "backend", target)
			return
		case <-ctx.Done():
			return
		}
	}
}
