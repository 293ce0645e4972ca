package failover

import (
	"errors"
	"fmt"
	"time"
)

// State is where the machine is. Printable; the zero value is Healthy.
type State int

const (
	// Healthy: the primary is up, or there is nothing to fail over from.
	Healthy State = iota
	// Suspect: the primary is down and the cluster is on its way to a
	// verdict or a promotion (confirming, waiting for the coordinator or
	// for a retry). Writes are held.
	Suspect
	// Blocked: the primary is down, but no failover happens without a
	// change: no quorum, replicas still see the primary, no candidate,
	// cooldown, or automatic failover off. Reported; writes are not held.
	Blocked
	// Promoting: this proxy is running a failover.
	Promoting
	// Switching: this proxy is running a planned switchover.
	Switching
)

var stateNames = [...]string{Healthy: "healthy", Suspect: "suspect", Blocked: "blocked",
	Promoting: "promoting", Switching: "switching"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// InProgress reports whether writes should be held in this state.
func (s State) InProgress() bool { return s == Suspect || s == Promoting || s == Switching }

// ErrBusy refuses a switchover while a failover or switchover runs.
var ErrBusy = errors.New("failover: a failover or switchover is already running")

// Event is what the machine reacts to.
type Event interface{ isEvent() }

// Observed is a new observation (each probe round).
type Observed struct{ Obs Observation }

// PromotionDone reports the end of the failover the machine asked for.
type PromotionDone struct {
	Now time.Time
	Err error
}

// SwitchoverBegin asks to start a planned (or manual) switchover.
type SwitchoverBegin struct{ Now time.Time }

// SwitchoverDone reports the end of an accepted switchover.
type SwitchoverDone struct {
	Now time.Time
	Err error
}

// CooldownReset lifts the cooldown: the manual override.
type CooldownReset struct{}

func (Observed) isEvent()        {}
func (PromotionDone) isEvent()   {}
func (SwitchoverBegin) isEvent() {}
func (SwitchoverDone) isEvent()  {}
func (CooldownReset) isEvent()   {}

// Output is the result of one transition.
type Output struct {
	State   State
	Reason  string  // why the machine is in State (Suspect, Blocked, Promoting)
	Changed bool    // State or Reason changed: worth a log line
	Promote *Choice // start this failover now, then report PromotionDone
	Err     error   // the event was refused
}

// Machine is the failover state machine of one proxy. It does no I/O and
// reads no clock: time comes in the events, so tests drive it hermetically.
// Not safe for concurrent use; its owner serializes calls.
type Machine struct {
	cfg    Config
	state  State
	reason string
	// epochAtFailure is the recorded epoch when the primary went down; a
	// newer one when it is back means a failover happened (here or on
	// another proxy), which starts the cooldown.
	epochAtFailure uint64
	lastFailover   time.Time // end of the last automatic failover seen
	retryAt        time.Time // no new attempt before, after a failed one
	lastErr        string    // why the last attempt failed
}

func (m *Machine) retryReason() string {
	return fmt.Sprintf("failover attempt failed (%s); next attempt at %s", m.lastErr, m.retryAt.Format(time.TimeOnly))
}

// NewMachine returns a machine in Healthy.
func NewMachine(cfg Config) *Machine { return &Machine{cfg: cfg} }

// SetConfig applies a reloaded config from the next event on.
func (m *Machine) SetConfig(cfg Config) { m.cfg = cfg }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Reason returns why the machine is in its state.
func (m *Machine) Reason() string { return m.reason }

// Handle is the transition function: every state change goes through it.
func (m *Machine) Handle(ev Event) (out Output) {
	prevState, prevReason := m.state, m.reason
	defer func() {
		out.State, out.Reason = m.state, m.reason
		out.Changed = m.state != prevState || m.reason != prevReason
	}()
	if _, ok := ev.(CooldownReset); ok {
		m.lastFailover, m.retryAt = time.Time{}, time.Time{}
		return out
	}
	switch m.state {
	case Healthy, Suspect, Blocked:
		switch e := ev.(type) {
		case Observed:
			out.Promote = m.observe(e.Obs)
		case SwitchoverBegin:
			m.set(Switching, "switchover")
		case PromotionDone, SwitchoverDone:
			panic(fmt.Sprintf("BUG: failover: %T in state %s, which started none", ev, m.state))
		default:
			panic(fmt.Sprintf("BUG: failover: unknown event %T", ev))
		}
	case Promoting:
		switch e := ev.(type) {
		case Observed:
			// The promotion runs; its end decides.
		case PromotionDone:
			if e.Err != nil {
				// Reported, and writes are not held meanwhile: an attempt
				// that failed may fail again (the guard needs a majority
				// of the servers). Another proxy that is promoting says so
				// by gossip, which holds writes everywhere.
				m.retryAt = e.Now.Add(m.cfg.Retry)
				m.lastErr = e.Err.Error()
				m.set(Blocked, m.retryReason())
				return out
			}
			m.lastErr = ""
			m.lastFailover = e.Now
			m.set(Healthy, "")
		case SwitchoverBegin:
			out.Err = fmt.Errorf("%w: %s", ErrBusy, m.reason)
		case SwitchoverDone:
			panic("BUG: failover: SwitchoverDone while promoting")
		default:
			panic(fmt.Sprintf("BUG: failover: unknown event %T", ev))
		}
	case Switching:
		switch ev.(type) {
		case Observed:
		case SwitchoverDone:
			m.set(Healthy, "")
		case SwitchoverBegin:
			out.Err = ErrBusy
		case PromotionDone:
			panic("BUG: failover: PromotionDone while switching")
		default:
			panic(fmt.Sprintf("BUG: failover: unknown event %T", ev))
		}
	default:
		panic(fmt.Sprintf("BUG: failover: unknown state %d", int(m.state)))
	}
	return out
}

func (m *Machine) set(s State, reason string) { m.state, m.reason = s, reason }

// observe judges an observation in Healthy, Suspect or Blocked.
func (m *Machine) observe(o Observation) *Choice {
	p, down := o.primaryDown()
	if !down {
		if m.state != Healthy && o.Epoch > m.epochAtFailure {
			m.lastFailover = o.Now // someone failed over: the cooldown runs for everyone
		}
		m.set(Healthy, "")
		return nil
	}
	if m.state == Healthy {
		m.epochAtFailure = o.Epoch
	}
	if !m.cfg.Auto {
		m.set(Blocked, p.Name+" is down and automatic failover is off (failover.auto: false); run a switchover to a replica")
		return nil
	}
	v := m.cfg.judge(o, p)
	switch {
	case v.blocked:
		m.set(Blocked, v.reason)
		return nil
	case !m.lastFailover.IsZero() && o.Now.Sub(m.lastFailover) < m.cfg.Cooldown:
		m.set(Blocked, fmt.Sprintf("%s is down, but the last automatic failover was %s ago (failover.cooldown %s); "+
			"a switchover or a cooldown reset overrides", p.Name, o.Now.Sub(m.lastFailover).Round(time.Second), m.cfg.Cooldown))
		return nil
	case !v.act:
		m.set(Suspect, v.reason)
		return nil
	case o.Now.Before(m.retryAt):
		m.set(Blocked, m.retryReason())
		return nil
	}
	ch, ok := Choose(o.Servers, p, o.Region)
	if !ok {
		m.set(Blocked, fmt.Sprintf("%s failed and no replica can be promoted: %v", p.Name, ch.Skipped))
		return nil
	}
	m.set(Promoting, fmt.Sprintf("promoting %s in place of %s", ch.Candidate.Name, p.Name))
	return &ch
}
