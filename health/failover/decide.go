package failover

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Server is one backend as the coordinator sees it: health's probe result
// plus its config. A value; the machine never keeps one past a call.
type Server struct {
	Name, Address, Region string
	Promote               bool // false: never promoted (config promote: false)
	Priority              int  // higher wins a tie on position

	Up           bool
	FailedProbes int       // consecutive failed probes
	DownSince    time.Time // first failed probe of the current streak; zero when up
	ReadOnly     bool
	Flavor       Flavor

	Replicating      bool
	SourceAddress    string
	IOThreadRunning  bool
	SQLThreadRunning bool
	ReplicationError string

	// Position is what the server will have applied once its relay log is:
	// its executed position merged with what it has received.
	Position Position
}

// Member is one proxy of the cluster whose view is fresh, as of now.
type Member struct {
	Name string
	// DownSince is when this member started seeing the primary down, in
	// the local clock; zero when it sees it up.
	DownSince time.Time
	// SeesReplica: this member sees a replica of the primary up, so it can
	// coordinate a promotion.
	SeesReplica bool
}

// Observation is everything one evaluation looks at. Health builds one per
// probe round.
type Observation struct {
	Now  time.Time
	Self string // this proxy's member name
	// ClusterSize is cluster.expected_size, 1 without a cluster: the quorum
	// is a majority of it, never of the members alive now.
	ClusterSize int
	// Members are the proxies whose views are fresh, this one included.
	Members []Member
	// Primary is the server that is, or last was, the primary (the one the
	// newest recorded epoch names, else the last one seen); "" if unknown.
	Primary string
	// HavePrimary: the topology has a usable primary now (maybe another
	// server than Primary, e.g. just promoted by another proxy).
	HavePrimary bool
	Servers     []Server
	Region      string // this proxy's region, the last tie-breaker
	// Epoch is the newest recorded epoch this proxy knows.
	Epoch uint64
}

func (o Observation) server(name string) (Server, bool) {
	for _, s := range o.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// primaryDown reports whether the known primary is down (not merely
// read-only, which is a planned or operator state, not a failure).
func (o Observation) primaryDown() (Server, bool) {
	if o.HavePrimary || o.Primary == "" {
		return Server{}, false
	}
	p, ok := o.server(o.Primary)
	if !ok || p.Up {
		return Server{}, false
	}
	return p, true
}

// Config tunes the verdict and the machine.
type Config struct {
	Auto         bool          // automatic failover; false: only report
	ConfirmAfter time.Duration // a member confirms after seeing the primary down this long
	Cooldown     time.Duration // between automatic failovers
	Retry        time.Duration // after a failed attempt
}

// MinFailedProbes is how many consecutive failed probes this proxy needs,
// on top of ConfirmAfter, before it confirms a primary down: one slow probe
// is never a failure.
const MinFailedProbes = 2

// verdict is the outcome of judging an observation whose primary is down.
type verdict struct {
	act     bool   // this proxy should promote now
	blocked bool   // no progress is possible without a change (reported, writes not held)
	reason  string // why not acting; "" when acting
	coord   string // the coordinator, if one is determined
}

// judge decides whether the primary p has failed and whether this proxy
// coordinates the failover:
//
//  1. quorum: a majority of ClusterSize proxies have fresh views;
//  2. votes: a majority of ClusterSize see p down for ConfirmAfter;
//  3. the replicas agree: none still has a running I/O thread from p (else
//     the cut is between the proxies and p, and p may be serving);
//  4. the coordinator is the lowest-named voting member that sees a replica.
func (c Config) judge(o Observation, p Server) verdict {
	quorum := o.ClusterSize/2 + 1
	if len(o.Members) < quorum {
		return verdict{blocked: true, reason: fmt.Sprintf(
			"no quorum: %d of %d proxies reachable, %d needed; a proxy that cannot see a majority never promotes",
			len(o.Members), o.ClusterSize, quorum)}
	}
	var voters []Member
	for _, m := range o.Members {
		if m.DownSince.IsZero() || o.Now.Sub(m.DownSince) < c.ConfirmAfter {
			continue
		}
		if m.Name == o.Self && p.FailedProbes < MinFailedProbes {
			continue
		}
		voters = append(voters, m)
	}
	if len(voters) < quorum {
		return verdict{reason: fmt.Sprintf("%s down: %d of %d proxies confirm it (after %s), %d needed",
			p.Name, len(voters), o.ClusterSize, c.ConfirmAfter, quorum)}
	}
	var live []string
	for _, s := range o.Servers {
		if s.Up && s.Replicating && sameAddr(s.SourceAddress, p.Address) && s.IOThreadRunning {
			live = append(live, s.Name)
		}
	}
	if len(live) > 0 {
		return verdict{blocked: true, reason: fmt.Sprintf(
			"%s is unreachable from the proxies, but replicas %s still replicate from it: "+
				"the network between the proxies and the primary is cut, not failing over",
			p.Name, strings.Join(live, ", "))}
	}
	coord := ""
	for _, m := range voters {
		if m.SeesReplica && (coord == "" || m.Name < coord) {
			coord = m.Name
		}
	}
	switch {
	case coord == "":
		return verdict{blocked: true, reason: p.Name + " failed, but no confirming proxy sees a replica to promote"}
	case coord != o.Self:
		return verdict{coord: coord, reason: fmt.Sprintf("%s failed; waiting for the coordinator %s", p.Name, coord)}
	}
	return verdict{act: true, coord: coord}
}

// Choice is a candidate chosen for promotion and the others to repoint.
type Choice struct {
	From      Server
	Candidate Server
	Others    []Server // up replicas of From other than the candidate
	Skipped   []string // servers not chosen and why, for the log
}

// Choose picks the server to promote in place of from: up, replicating from
// it, allowed to be promoted, and with its SQL thread not stopped on an
// error; then the most advanced position (received included), then the
// highest priority, then the region of the failed primary, then this
// proxy's region, then the name. ok is false when none qualifies.
func Choose(servers []Server, from Server, region string) (ch Choice, ok bool) {
	ch.From = from
	var cands []Server
	for _, s := range servers {
		if s.Name == from.Name {
			continue
		}
		follower := s.Up && s.Replicating && sameAddr(s.SourceAddress, from.Address)
		switch {
		case !s.Up:
			ch.Skipped = append(ch.Skipped, s.Name+": down")
			continue
		case !follower:
			ch.Skipped = append(ch.Skipped, fmt.Sprintf("%s: does not replicate from %s", s.Name, from.Name))
			continue
		}
		switch {
		case !s.Promote:
			ch.Skipped = append(ch.Skipped, s.Name+": promote: false")
		case !s.SQLThreadRunning && s.ReplicationError != "":
			ch.Skipped = append(ch.Skipped, s.Name+": replication stopped on an error: "+s.ReplicationError)
		default:
			cands = append(cands, s)
			continue
		}
		ch.Others = append(ch.Others, s)
	}
	if len(cands) == 0 {
		return ch, false
	}
	slices.SortStableFunc(cands, func(a, b Server) int {
		return cmp.Or(
			-cmp.Compare(a.Position.Count(), b.Position.Count()),
			-cmp.Compare(a.Priority, b.Priority),
			-boolCmp(a.Region == from.Region, b.Region == from.Region),
			-boolCmp(a.Region == region, b.Region == region),
			cmp.Compare(a.Name, b.Name),
		)
	})
	ch.Candidate = cands[0]
	ch.Others = append(ch.Others, cands[1:]...)
	slices.SortFunc(ch.Others, func(a, b Server) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range ch.Others {
		if s.Position.Ahead(ch.Candidate.Position) {
			ch.Skipped = append(ch.Skipped, fmt.Sprintf("%s: has %d transaction(s) the candidate lacks",
				s.Name, ch.Candidate.Position.Missing(s.Position)))
		}
	}
	return ch, true
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
