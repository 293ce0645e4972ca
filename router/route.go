package router

import (
	"errors"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
)

// ErrNoPrimary means no server is known to be a writable primary right now.
var ErrNoPrimary = errors.New("no primary is available")

// ErrNoReplica means a read found no replica fresh enough and the
// configuration forbids falling back to the primary.
var ErrNoReplica = errors.New("no replica is fresh enough for this read")

// Reason says why a statement went where it went; each is counted.
type Reason string

const (
	ReasonWrite         Reason = "write"          // writes and unknown statements
	ReasonNoSplit       Reason = "split_off"      // read/write split disabled
	ReasonHintPrimary   Reason = "hint_primary"   // a comment hint asked for the primary
	ReasonConsistency   Reason = "consistency"    // consistency=primary
	ReasonReplica       Reason = "replica"        // a read on a fresh replica
	ReasonReplicaWait   Reason = "replica_wait"   // a read on a replica after it applies the needed GTID
	ReasonNoReplica     Reason = "no_replica"     // no replica qualified: the read fell back to the primary
	ReasonPrimaryRoom   Reason = "primary_room"   // no replica had applied what the read must see; the primary had room
	ReasonReadOnlyTx    Reason = "read_only_tx"   // START TRANSACTION READ ONLY on a replica
	ReasonSessionState  Reason = "session_state"  // SET, USE and the like
	ReasonTransaction   Reason = "transaction"    // BEGIN, COMMIT…
	ReasonUnknownClass  Reason = "unknown"        // reserved for statements the proxy could not classify
	ReasonPinned        Reason = "pinned"         // the session is pinned to its backend connection
	ReasonInTransaction Reason = "in_transaction" // inside a transaction: stays on its connection
)

// Class is what the router needs to know about a statement.
type Class uint8

const (
	ClassWrite       Class = iota // must run on the primary
	ClassRead                     // may run on a replica
	ClassReadOnlyTx               // START TRANSACTION READ ONLY
	ClassSession                  // session state (SET, USE…)
	ClassTransaction              // transaction control
)

// Request is one routing question.
type Request struct {
	Class        Class
	HintPrimary  bool
	HintReplica  bool
	Consistency  string        // config.Consistency*
	Need         gtid.Position // what the read must see (by consistency); empty = nothing
	MaxStaleness time.Duration // from a hint; 0 = the configured max_replica_lag
	Avoid        string        // a replica not to use: the read just failed there
}

// Policy is the proxy's routing configuration and place.
type Policy struct {
	Split         bool
	Region, Zone  string
	MaxReplicaLag time.Duration
	GTIDWait      time.Duration
	FallbackError bool // no fresh replica: fail instead of using the primary
	// ReadPrimaryBelow: a read no replica is known to have caught up for
	// runs on the primary while fewer commands than this run there; 0:
	// such a read always waits on a replica.
	ReadPrimaryBelow int
}

// PolicyFrom builds the routing policy from config.
func PolicyFrom(cfg config.Config) Policy {
	return Policy{
		Split:         cfg.Routing.ReadWriteSplit,
		Region:        cfg.Region,
		Zone:          cfg.Zone,
		MaxReplicaLag: cfg.Routing.MaxReplicaLag,
		GTIDWait:      cfg.Routing.GTIDWait,
		FallbackError: cfg.Routing.NoReplica == "error",

		ReadPrimaryBelow: cfg.Routing.ReadPrimaryBelow,
	}
}

// Decision is where a statement runs and why. When Wait is set, the
// session first has the replica wait (bounded by Policy.GTIDWait) for Need
// and falls back to the primary if it does not get there in time.
type Decision struct {
	Backend health.Server
	Reason  Reason
	Wait    bool
	// Epoch is the topology's the decision was made in: a connection
	// borrowed for it is stamped with it, so that a later promotion can
	// tell it went to a former primary.
	Epoch uint64
}

// Load tells how busy each backend is (connections in use) and what it is
// known to have applied beyond the last probe (the proxy learns it from
// its waits' answers). All may be nil.
type Load struct {
	InUse   func(name string) int
	Applied func(name string) gtid.Position
	Drained func(name string) bool // taken out of rotation by an operator
}

// Route decides where a statement that is not bound to a held connection
// runs. It is a pure function of its arguments.
func Route(req Request, topo *health.Topology, pol Policy, load Load) (Decision, error) {
	d, err := route(req, topo, pol, load)
	if topo != nil {
		d.Epoch = topo.Epoch
	}
	return d, err
}

func route(req Request, topo *health.Topology, pol Policy, load Load) (Decision, error) {
	primary := primaryOf(topo)
	toPrimary := func(r Reason) (Decision, error) {
		if primary == nil {
			return Decision{Reason: r}, ErrNoPrimary
		}
		return Decision{Backend: *primary, Reason: r}, nil
	}
	switch req.Class {
	case ClassWrite:
		return toPrimary(ReasonWrite)
	case ClassSession:
		return toPrimary(ReasonSessionState)
	case ClassTransaction:
		return toPrimary(ReasonTransaction)
	case ClassRead, ClassReadOnlyTx:
	default:
		panic("BUG: unknown statement class")
	}
	switch {
	case req.HintPrimary:
		return toPrimary(ReasonHintPrimary)
	case !pol.Split && !req.HintReplica:
		return toPrimary(ReasonNoSplit)
	case req.Consistency == config.ConsistencyPrimary && !req.HintReplica:
		return toPrimary(ReasonConsistency)
	}
	if req.Avoid != "" {
		drained := load.Drained
		load.Drained = func(name string) bool { return name == req.Avoid || (drained != nil && drained(name)) }
	}
	maxLag := pol.MaxReplicaLag
	if req.MaxStaleness > 0 {
		maxLag = req.MaxStaleness
	}
	best, fresh := pickReplica(topo, primary, pol, load, req.Need, maxLag)
	if best == nil || (!fresh && pol.GTIDWait <= 0) {
		if pol.FallbackError && !req.HintPrimary {
			return Decision{Reason: ReasonNoReplica}, ErrNoReplica
		}
		return toPrimary(ReasonNoReplica)
	}
	reason := ReasonReplica
	if req.Class == ClassReadOnlyTx {
		reason = ReasonReadOnlyTx
	}
	switch {
	case !fresh && !req.HintReplica && primaryHasRoom(primary, pol, load):
		return Decision{Backend: *primary, Reason: ReasonPrimaryRoom}, nil
	case !fresh:
		return Decision{Backend: *best, Reason: ReasonReplicaWait, Wait: true}, nil
	}
	return Decision{Backend: *best, Reason: reason}, nil
}

// primaryHasRoom tells whether a read that a replica would first have to
// catch up for (a wait: the replication delay added to the read's latency)
// runs on the primary instead, which has every acknowledged write: while
// fewer commands than pol.ReadPrimaryBelow run there, a lightly loaded
// primary answers at once. A busier one keeps its capacity for the writes,
// and the reads wait on the replicas. A client's replica hint still waits.
func primaryHasRoom(primary *health.Server, pol Policy, load Load) bool {
	return primary != nil && pol.ReadPrimaryBelow > 0 && load.InUse != nil && load.InUse(primary.Name) < pol.ReadPrimaryBelow
}

// primaryOf is Topology.Primary without copying servers: the single up
// server with the primary role, or nil.
func primaryOf(topo *health.Topology) *health.Server {
	if topo == nil {
		return nil
	}
	var p *health.Server
	for i := range topo.Servers {
		if s := &topo.Servers[i]; s.Up && s.Role == health.RolePrimary {
			if p != nil {
				return nil
			}
			p = s
		}
	}
	return p
}

// pickReplica chooses among healthy replicas of the primary whose lag is
// within maxLag: same zone first, then same region, then the rest; within a
// tier, one that has applied need already beats one that must wait; then,
// among those as near as the nearest (within 20% plus rttSlack of its
// MinRTT), the one with fewer connections in use, so that load spreads, and
// the nearer on a tie. fresh says whether the chosen one has applied need.
// It returns nil when no replica qualifies. Two passes over the servers: the
// nearest first, then the least busy near it, so the answer does not depend
// on the servers' order.
func pickReplica(topo *health.Topology, primary *health.Server, pol Policy, load Load, need gtid.Position, maxLag time.Duration) (best *health.Server, fresh bool) {
	if topo == nil {
		return nil, false
	}
	type rank struct {
		tier  int
		fresh bool
	}
	applied := func(s *health.Server) bool {
		return s.Applied.Covers(need) || (load.Applied != nil && load.Applied(s.Name).Covers(need))
	}
	var top rank
	var nearest time.Duration
	found := false
	for i := range topo.Servers {
		s := &topo.Servers[i]
		tier, ok := replicaTier(s, primary, pol, load, maxLag)
		if !ok {
			continue
		}
		r := rank{tier, applied(s)}
		switch {
		case !found || r.tier < top.tier || (r.tier == top.tier && r.fresh && !top.fresh):
			top, nearest, found = r, s.MinRTT, true
		case r == top && s.MinRTT < nearest:
			nearest = s.MinRTT
		}
	}
	if !found {
		return nil, false
	}
	near := nearest + nearest/5 + rttSlack
	bestBusy := 0
	for i := range topo.Servers {
		s := &topo.Servers[i]
		tier, ok := replicaTier(s, primary, pol, load, maxLag)
		if !ok || tier != top.tier || s.MinRTT > near || applied(s) != top.fresh {
			continue
		}
		busy := 0
		if load.InUse != nil {
			busy = load.InUse(s.Name)
		}
		if best == nil || busy < bestBusy || (busy == bestBusy && s.MinRTT < best.MinRTT) {
			best, bestBusy = s, busy
		}
	}
	return best, top.fresh
}

// replicaTier tells whether s may serve reads (a healthy, caught-up,
// undrained replica of primary) and how near it is: 0 same zone, 1 same
// region, 2 elsewhere.
func replicaTier(s *health.Server, primary *health.Server, pol Policy, load Load, maxLag time.Duration) (int, bool) {
	if !s.Up || s.Role != health.RoleReplica || !s.SQLThreadRunning || s.Lag < 0 || s.Lag > maxLag {
		return 0, false
	}
	if primary != nil && s.SourceAddress != "" && s.Source != primary.Name {
		return 0, false // replicates from something other than the primary (health resolves Source)
	}
	if load.Drained != nil && load.Drained(s.Name) {
		return 0, false
	}
	switch {
	case pol.Zone != "" && s.Zone == pol.Zone:
		return 0, true
	case pol.Region != "" && s.Region == pol.Region:
		return 1, true
	}
	return 2, true
}

// rttSlack is the round-trip difference below which two replicas count as
// equally near whatever their ratio: MinRTT still moves by that much from
// one window of probes to the next, and a fraction of a millisecond is small beside a query, so
// replicas in one place share the reads by load (as MaxScale's least
// current operations does) instead of all going to whichever answered its
// probes a little faster.
const rttSlack = 500 * time.Microsecond
