package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchyard/switchyard/health/cluster"
	"github.com/switchyard/switchyard/health/failover"
)

// ErrSwitchoverChanged: a switchover did not promote its target and left
// something changed; the error says what.
var ErrSwitchoverChanged = errors.New("health: switchover failed after changing servers")

// SwitchoverOutcome is how far a switchover got. The admin API's status
// code, the log line and switchyard_switchovers_total's result label are
// all derived from it, so that they cannot disagree: an operator who reads
// "failed" must be able to trust that the primary did not change.
type SwitchoverOutcome string

const (
	// OutcomeRefused: a precondition failed before writes were held;
	// nothing changed.
	OutcomeRefused SwitchoverOutcome = "refused"
	// OutcomeFailed: writes were held but the target was not promoted,
	// and every change was undone; nothing changed.
	OutcomeFailed SwitchoverOutcome = "failure"
	// OutcomeFailedChanged: the target was not promoted, and something
	// could not be undone (SwitchoverResult.Changed says what and what to
	// do). An operator must look.
	OutcomeFailedChanged SwitchoverOutcome = "failure_changed"
	// OutcomeSuccess: the target is the primary and every other server
	// follows it.
	OutcomeSuccess SwitchoverOutcome = "success"
	// OutcomeSuccessWarnings: the target is the primary, but some server
	// could not be pointed at it (SwitchoverResult.Warnings). The
	// switchover stands; those servers need an operator.
	OutcomeSuccessWarnings SwitchoverOutcome = "success_with_warnings"
)

// switchoverOutcomes are every value of SwitchoverOutcome, for the metric.
var switchoverOutcomes = []SwitchoverOutcome{OutcomeRefused, OutcomeFailed, OutcomeFailedChanged, OutcomeSuccess, OutcomeSuccessWarnings}

// Promoted reports whether the primary changed.
func (o SwitchoverOutcome) Promoted() bool {
	return o == OutcomeSuccess || o == OutcomeSuccessWarnings
}

// SwitchoverResult is what a switchover did.
type SwitchoverResult struct {
	Outcome SwitchoverOutcome
	Kind    string // "switchover", or "failover" when the primary was down
	From    string // the old primary
	To      string // the target
	Epoch   uint64 // the epoch recorded on To; 0 unless promoted
	// Warnings are what could not be finished after the promotion.
	Warnings []string
	// Changed is, after a failure, what stays changed and what to do.
	Changed []string
}

// Switchover makes target, a replica of the primary, the primary. It checks
// every precondition first (the target is an up replica of the primary
// and not too far behind, failover.replication_user is set and logs in to
// the target, the other replicas can follow it) and refuses with nothing
// changed when one fails. Then it holds writes on every proxy
// (FailoverInProgress, gossiped, and waits for each fresh peer to confirm
// it holds), makes the old primary read-only, waits (bounded by
// failover.max_catchup_wait) for target to apply everything the old primary
// has, promotes target and records a new epoch, points the other replicas
// and the old primary at it, waits for this proxy's probes to see the new
// primary, and releases writes. When target does not catch up in time, the
// old primary is made writable again and nothing else changes.
//
// The error is nil exactly when the primary changed; what could not be
// finished after that is in Warnings. A failure that left something
// changed has Outcome OutcomeFailedChanged and says what in Changed.
//
// When the primary is down instead, Switchover is a manual failover to
// target: it overrides the cooldown, failover.auto: false and the verdict
// (the operator has decided), but not the promotion guard.
//
// Switchover needs Run to be running; it blocks until done or ctx ends.
func (m *Monitor) Switchover(ctx context.Context, target string) (res SwitchoverResult, err error) {
	res = SwitchoverResult{Outcome: OutcomeRefused, To: target}
	if !m.running.Load() {
		return res, ErrNotRunning
	}
	t := m.Snapshot()
	from, kind, err := m.switchoverFrom(t, target)
	if err != nil {
		if !errors.Is(err, ErrUnknownBackend) {
			m.countSwitchover(failover.KindSwitchover, OutcomeRefused)
		}
		return res, err
	}
	res.Kind, res.From = string(kind), from.Name
	l := m.logger.With("kind", string(kind), "from", from.Name, "to", target)
	defer func() { m.countSwitchover(kind, res.Outcome) }() // the result returned, whichever path returns it

	if err := m.precheck(ctx, kind, from, target, t); err != nil {
		l.Warn("switchover refused; nothing changed", "err", err)
		return res, err
	}

	start := time.Now()
	m.fmu.Lock()
	out := m.machine.Handle(failover.SwitchoverBegin{Now: start})
	m.fmu.Unlock()
	if out.Err != nil {
		l.Warn("switchover refused; nothing changed", "err", out.Err)
		return res, fmt.Errorf("%w: %w", ErrSwitchover, out.Err)
	}
	var machineErr error
	defer func() {
		m.fmu.Lock()
		m.machine.Handle(failover.SwitchoverDone{Now: time.Now(), Err: machineErr})
		m.fmu.Unlock()
		m.refreshFlags()
		m.republish()
		m.publishView(m.Snapshot(), failover.Healthy)
		m.wake()
	}()
	m.refreshFlags()
	m.republish()
	m.publishView(t, failover.Switching)
	l.Warn("switchover: holding writes")

	peers := m.holdWrites(ctx, kind)
	p := m.switchoverPlan(kind, from, target, t, peers)
	xres, execErr := m.execute(ctx, p)
	res.Epoch, res.Changed = xres.Epoch, xres.Changed
	if !xres.Promoted {
		machineErr = cmpErr(execErr)
		return m.switchoverFailed(l, res, xres, machineErr)
	}
	l.Debug("switchover: steps", "steps", xres.Steps)
	m.waitPrimary(ctx, target)
	res.Outcome = OutcomeSuccess
	if execErr != nil {
		res.Outcome = OutcomeSuccessWarnings
		res.Warnings = warnings(execErr)
	}
	l.Warn("switchover: done; releasing writes", "outcome", string(res.Outcome), "epoch", res.Epoch,
		"took", time.Since(start).Round(time.Millisecond), "repointed", xres.Repointed, "warnings", res.Warnings)
	return res, nil
}

// switchoverFrom finds the server target takes over from: the primary, or
// when there is none, the former primary, which must be down (a manual
// failover). It refuses a target that cannot be promoted.
func (m *Monitor) switchoverFrom(t *Topology, target string) (Server, failover.Kind, error) {
	tgt, ok := t.Server(target)
	if !ok {
		return Server{}, "", fmt.Errorf("%w: %q", ErrUnknownBackend, target)
	}
	for _, b := range m.config().Backends {
		if b.Name == target && b.Promote != nil && !*b.Promote {
			return Server{}, "", fmt.Errorf("%w: %s has promote: false", ErrSwitchover, target)
		}
	}
	kind := failover.KindSwitchover
	from, ok := t.Primary()
	if !ok {
		fp, known := t.Server(m.formerPrimary(t))
		switch {
		case !known:
			return Server{}, "", fmt.Errorf("%w: there is no primary, and no former primary is known", ErrSwitchover)
		case fp.Up:
			return Server{}, "", fmt.Errorf("%w: %s is up but not the primary (%s); fix it or stop it first", ErrSwitchover, fp.Name, fp.LastError)
		}
		from, kind = fp, failover.KindFailover
	}
	switch {
	case from.Name == target:
		return Server{}, "", fmt.Errorf("%w: %s is already the primary", ErrSwitchover, target)
	case !tgt.Up || !tgt.Replicating || !sameAddr(tgt.SourceAddress, from.Address):
		return Server{}, "", fmt.Errorf("%w: %s is not an up replica of %s", ErrSwitchover, target, from.Name)
	}
	return from, kind, nil
}

// precheck refuses, before writes are held, a switchover that could not be
// finished: see failover.Precheck. A target lagging by more than
// failover.max_catchup_wait would only hold writes for that long and then
// give up.
func (m *Monitor) precheck(ctx context.Context, kind failover.Kind, from Server, target string, t *Topology) error {
	cfg := m.config()
	if tgt, _ := t.Server(target); kind == failover.KindSwitchover && tgt.Lag > cfg.Failover.MaxCatchupWait {
		return fmt.Errorf("%w: %s is %s behind %s, more than failover.max_catchup_wait (%s): wait for it to catch up, or raise the wait",
			ErrSwitchover, target, tgt.Lag, from.Name, cfg.Failover.MaxCatchupWait)
	}
	p := m.switchoverPlan(kind, from, target, t, nil)
	replDial := failover.NewDialer(cfg.Failover.ReplicationUser, cfg.Failover.ReplicationPassword, *m.tls.Load())
	cctx, cancel := context.WithTimeout(ctx, cfg.Health.Timeout+5*time.Second)
	defer cancel()
	if err := failover.Precheck(cctx, p, m.dialer(), replDial); err != nil {
		return fmt.Errorf("%w: %w", ErrSwitchover, err)
	}
	return nil
}

// holdWrites waits, in a switchover, for the other proxies to hold writes
// and for a write already past the check to land, and returns the peers'
// views.
func (m *Monitor) holdWrites(ctx context.Context, kind failover.Kind) []cluster.View {
	if kind != failover.KindSwitchover {
		return nil
	}
	var peers []cluster.View
	if cl := m.cl.Load(); cl != nil {
		peers = m.waitPeersHolding(ctx, cl)
	}
	// A session that checked FailoverInProgress just before it was set
	// may still be sending its write: let it land on the old primary
	// before that becomes read-only (statements running then finish;
	// only later arrivals would fail).
	select {
	case <-ctx.Done():
	case <-time.After(switchoverDrain):
	}
	return peers
}

// switchoverPlan turns the operator's choice into a plan, from the
// servers as they are now.
func (m *Monitor) switchoverPlan(kind failover.Kind, from Server, target string, t *Topology, peers []cluster.View) failover.Plan {
	obs := m.observation(t, peers, time.Now())
	var fs, ts failover.Server
	var others []failover.Server
	for _, s := range obs.Servers {
		switch {
		case s.Name == from.Name:
			fs = s
		case s.Name == target:
			ts = s
		case s.Up && s.Replicating && sameAddr(s.SourceAddress, from.Address):
			others = append(others, s)
		}
	}
	p := m.plan(kind, failover.Choice{From: fs, Candidate: ts, Others: others}, t, peers)
	if kind == failover.KindFailover {
		// A manual failover: the operator has judged that the primary is
		// gone, maybe with other servers, so the guard needs only the
		// target's lock; the epoch compare-and-set still refuses a
		// promotion that raced another.
		p.GuardQuorum = 1
		p.Guard = []failover.Target{p.To}
	}
	return p
}

// switchoverFailed reports a switchover that did not promote: "nothing
// changed" only when that is true.
func (m *Monitor) switchoverFailed(l *slog.Logger, res SwitchoverResult, xres failover.Result, err error) (SwitchoverResult, error) {
	if len(res.Changed) == 0 {
		res.Outcome = OutcomeFailed
		l.Error("switchover failed; nothing changed", "err", err, "steps", xres.Steps)
		return res, fmt.Errorf("%w: %w", ErrSwitchover, err)
	}
	res.Outcome = OutcomeFailedChanged
	l.Error("switchover failed after changing servers; an operator must finish or undo it",
		"err", err, "changed", res.Changed, "steps", xres.Steps)
	return res, fmt.Errorf("%w: %w; changed: %v", ErrSwitchoverChanged, err, res.Changed)
}

// warnings splits the repoint errors of a promotion that stands.
func warnings(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// countSwitchover counts a switchover that got as far as choosing its kind;
// a manual failover counts as a failover (success or failure).
func (m *Monitor) countSwitchover(kind failover.Kind, o SwitchoverOutcome) {
	if kind == failover.KindSwitchover {
		m.metrics.switchovers.WithLabelValues(string(o)).Inc()
		return
	}
	if o == OutcomeRefused {
		return
	}
	result := "failure"
	if o.Promoted() {
		result = "success"
	}
	m.metrics.failovers.WithLabelValues(result).Inc()
}
