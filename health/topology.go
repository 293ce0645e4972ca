package health

import (
	"time"

	"github.com/switchyard/switchyard/internal/gtid"
)

// Role is what a server is in the replication topology, as discovered by
// probing. It is never configured.
type Role string

const (
	RolePrimary Role = "primary" // up, writable, not replicating, and the only such server
	RoleReplica Role = "replica" // up and replicating from somewhere
	RoleUnknown Role = "unknown" // down, or in a state we refuse to guess about
)

// Flavor is the server family; GTIDs, replication status and promotion
// statements differ between them.
type Flavor = gtid.Flavor

const (
	FlavorMariaDB = gtid.MariaDB
	FlavorMySQL   = gtid.MySQL
)

// Server is one backend as of its last probe. It is a value: a Server taken
// from a Topology is a copy and stays valid forever.
type Server struct {
	Name, Address, Region, Zone string // from config

	Role     Role
	Up       bool // the last probe connected and ran every status query
	ReadOnly bool // @@read_only = 1 (MySQL's super_read_only implies it)
	Version  string
	Flavor   Flavor
	RTT      time.Duration // round trip of the last probe's first query (connect excluded)
	// MinRTT is the smallest RTT of the last few probes: the server's
	// distance, which routing compares. One probe's RTT also measures how
	// busy the server was; under load it jumps by milliseconds.
	MinRTT time.Duration
	Lag    time.Duration // replication lag (Seconds_Behind_Master); -1 if unknown or not replicating

	Replicating      bool   // has replication configured (a replica status row with a source)
	SourceAddress    string // host:port it replicates from, if any
	Source           string // the server SourceAddress names, resolved (addr.go); "" if none of the configured ones
	IOThreadRunning  bool   // replica I/O thread is running ("Yes"; "Connecting" is false)
	SQLThreadRunning bool   // replica SQL thread is running
	ReplicationError string // Last_IO_Error / Last_SQL_Error as the server reports them, if any

	GTIDCurrent  string        // MariaDB @@gtid_current_pos, MySQL @@gtid_executed
	Applied      gtid.Position // GTIDCurrent parsed, for routing to compare without parsing
	GTIDReceived string        // what a replica has received (MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set); "" otherwise

	// RecordedEpoch and RecordedPrimary are this server's copy of the
	// switchyard.epoch row (0 and "" before the first promotion): the
	// newest promotion it has seen and the server that epoch made primary.
	RecordedEpoch   uint64
	RecordedPrimary string
	// Fenced: the server is writable and not replicating, but a newer
	// epoch than any naming it names another primary. It is never the
	// primary; the failover coordinator sets it read-only.
	Fenced bool

	LastError    string    // why the last probe failed, or why the role is unknown; "" when all is well
	Silent       bool      // the last probe failed with no answer from the server (refused, reset, timed out)
	FailedProbes int       // consecutive failed probes; 0 after a success
	DownSince    time.Time // when the first of the current failed probes finished; zero while up
	ProbedAt     time.Time // when the last probe of this server finished
}

// Topology is an immutable snapshot of every configured backend, in config
// order. Readers must not modify it (including the Servers slice): the
// Monitor hands the same pointer to every reader without copying.
type Topology struct {
	// Epoch increases each time the primary this Monitor sees changes
	// (including to or from none); 0 until the first primary is found. It
	// is never below RecordedEpoch: a change to a promoted primary jumps to
	// at least the epoch recorded for it.
	Epoch    uint64
	Servers  []Server
	ProbedAt time.Time // when the round that produced this snapshot finished; zero before the first

	// RecordedEpoch is the newest promotion epoch this proxy knows, from
	// any server's switchyard.epoch row or from another proxy by gossip,
	// and RecordedPrimary the server it names. A writable server that it
	// does not name is Fenced.
	RecordedEpoch   uint64
	RecordedPrimary string

	// FailoverInProgress is true while a failover or switchover runs, here
	// or on another proxy of the cluster, and from when the primary is seen
	// down until the failover's verdict: the proxy holds new writes
	// (bounded) while it is set and sends them when a snapshot clears it.
	// It is false when the primary is down but no failover can happen
	// (see Failover): holding writes then would only delay the error.
	FailoverInProgress bool
	// Failover is the failover state of this proxy and why ("healthy",
	// "suspect: db1 down: 1 of 3 proxies confirm it...").
	Failover string
	// ClusterMembers is the number of proxies whose views are fresh, this
	// one included (1 without a cluster): what quorum is counted from.
	ClusterMembers int

	// updated is closed when the next snapshot is published.
	updated chan struct{}
}

// Primary returns the single up server with Role primary. It returns false
// when there is none, or (defensively: role discovery never produces it)
// more than one. It never returns a Fenced server: one that a newer epoch
// than its own has replaced.
func (t *Topology) Primary() (Server, bool) {
	var p Server
	n := 0
	for i := range t.Servers {
		if s := &t.Servers[i]; s.Up && s.Role == RolePrimary && !s.Fenced {
			p = *s
			n++
		}
	}
	if n != 1 {
		return Server{}, false
	}
	return p, true
}

// Server returns the server with the given configured name.
func (t *Topology) Server(name string) (Server, bool) {
	for i := range t.Servers {
		if t.Servers[i].Name == name {
			return t.Servers[i], true
		}
	}
	return Server{}, false
}
