package health

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/health/cluster"
)

// Member is one proxy of the cluster and its view of the backends, as this
// proxy last heard it by gossip (this proxy's own view for Self). It is what
// an operator reads to see whether the proxies agree before trusting a
// failover verdict. It holds no credentials.
type Member struct {
	Name    string
	Address string // gossip host:port; "" when gossip no longer lists the member
	Self    bool   // this proxy
	// Alive: gossip reaches the member (memberlist has not declared it
	// dead, nor has it left).
	Alive bool
	// Fresh: its view is recent enough to count towards quorum (what
	// Topology.ClusterMembers counts). A frozen proxy turns stale before
	// gossip declares it dead.
	Fresh bool
	// UpdatedAt is when its current view arrived here (for Self: when the
	// round behind the current snapshot finished); zero when none has.
	UpdatedAt time.Time

	// Its view.
	Primary       string // the server it sees as primary; "" when none
	Epoch         uint64 // the newest recorded promotion epoch it knows
	EpochPrimary  string // the server that epoch names
	Failover      string // its failover state (healthy, suspect, promoting, ...)
	HoldingWrites bool   // it holds writes for a failover or switchover
	Servers       []MemberServer

	// Agrees: the view is fresh and names the same primary, epoch and
	// server states (up, role) as this proxy's. Disagreements says what
	// differs, for people; Self always agrees.
	Agrees        bool
	Disagreements []string
}

// MemberServer is one backend in a member's view.
type MemberServer struct {
	Name  string
	Up    bool
	Role  Role   // as the member decided it; a member gossips primary, replica or neither (unknown)
	GTID  string // its GTID position as the member last probed it
	Epoch uint64 // the promotion epoch recorded on the server
}

// anyAge asks cluster.Peers for every view ever received: a member that
// died is still listed, with its last view and how old it is.
const anyAge = time.Duration(math.MaxInt64)

// Members returns this proxy first, then every other member of the cluster
// this proxy knows of (by gossip or by a view it received), sorted by name,
// each with its view and whether it agrees with this proxy's. Without a
// cluster (or before Run joins it) it returns this proxy alone.
//
// It reads the current snapshot and the gossiped views at the time of the
// call; safe from any goroutine, it takes fmu and the cluster's lock
// briefly, one at a time.
func (m *Monitor) Members() []Member {
	now := time.Now()
	t := m.Snapshot()
	m.fmu.Lock()
	st := m.machine.State()
	m.fmu.Unlock()

	self := memberOf(m.viewOf(t, st, now))
	self.Self, self.Alive, self.Fresh, self.Agrees, self.UpdatedAt = true, true, true, true, t.ProbedAt
	cl := m.cl.Load()
	if cl == nil {
		return []Member{self}
	}
	self.Address = cl.Addr()

	byName := map[string]*Member{}
	var others []*Member
	for _, v := range cl.Peers(anyAge) {
		mb := memberOf(v)
		mb.UpdatedAt = v.Received
		mb.Fresh = now.Sub(v.Received) <= staleAfter(m.config())
		mb.Disagreements = disagreements(self, mb)
		if !mb.Fresh {
			mb.Disagreements = slices.Insert(mb.Disagreements, 0,
				fmt.Sprintf("no view for %s", now.Sub(v.Received).Round(100*time.Millisecond)))
		}
		mb.Agrees = len(mb.Disagreements) == 0
		byName[mb.Name] = &mb
		others = append(others, &mb)
	}
	for _, n := range cl.Alive() {
		if n.Name == self.Name {
			continue
		}
		mb, ok := byName[n.Name]
		if !ok {
			// Gossip reaches it but no view has arrived yet.
			mb = &Member{Name: n.Name, Disagreements: []string{"no view received yet"}}
			others = append(others, mb)
		}
		mb.Address, mb.Alive = n.Addr, true
	}
	slices.SortFunc(others, func(a, b *Member) int { return strings.Compare(a.Name, b.Name) })
	out := []Member{self}
	for _, mb := range others {
		out = append(out, *mb)
	}
	return out
}

// memberOf reads a gossiped view. The role of each server is derived the
// same way for this proxy and for the others, from what a view carries.
func memberOf(v cluster.View) Member {
	mb := Member{
		Name: v.Member, Primary: v.Primary, Epoch: v.Epoch, EpochPrimary: v.EpochPrimary,
		Failover: v.State, HoldingWrites: v.Holding,
	}
	for _, b := range v.Backends {
		role := RoleUnknown
		switch {
		case b.Up && b.Name == v.Primary:
			role = RolePrimary
		case b.Replica:
			role = RoleReplica
		}
		mb.Servers = append(mb.Servers, MemberServer{Name: b.Name, Up: b.Up, Role: role, GTID: b.GTID, Epoch: b.Epoch})
	}
	return mb
}

// disagreements lists how other's view differs from self's on what
// routing and failover depend on: the primary, the recorded epoch, and
// each server's up/down and role. GTIDs are left out: they move with every
// write and differ between two probes without anything being wrong.
func disagreements(self, other Member) []string {
	var out []string
	if self.Primary != other.Primary {
		out = append(out, fmt.Sprintf("primary %s here, %s there", orNone(self.Primary), orNone(other.Primary)))
	}
	if self.Epoch != other.Epoch {
		out = append(out, fmt.Sprintf("epoch %d here, %d there", self.Epoch, other.Epoch))
	}
	theirs := map[string]MemberServer{}
	for _, s := range other.Servers {
		theirs[s.Name] = s
	}
	for _, s := range self.Servers {
		o, ok := theirs[s.Name]
		delete(theirs, s.Name)
		switch {
		case !ok:
			out = append(out, s.Name+": not in its view")
		case s.Up != o.Up:
			out = append(out, fmt.Sprintf("%s: %s here, %s there", s.Name, upDown(s.Up), upDown(o.Up)))
		case s.Role != o.Role:
			out = append(out, fmt.Sprintf("%s: %s here, %s there", s.Name, s.Role, o.Role))
		}
	}
	for _, o := range other.Servers {
		if _, extra := theirs[o.Name]; extra {
			out = append(out, o.Name+": not configured here")
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
