package config

import "time"

// Consistency levels for reads, from weakest to strongest.
const (
	ConsistencyEventual = "eventual" // any fresh-enough replica
	ConsistencySession  = "session"  // never older than this session's own last write
	ConsistencyGlobal   = "global"   // never older than any write this proxy acknowledged before the read
	ConsistencyPrimary  = "primary"  // every read on the primary
)

// Routing says where reads may go.
type Routing struct {
	// ReadWriteSplit sends reads outside transactions to replicas; off sends
	// everything to the primary.
	ReadWriteSplit bool `yaml:"read_write_split"`
	// Consistency is the default read-your-writes level; a session or a
	// statement may choose another by hint.
	Consistency string `yaml:"consistency"`
	// MaxReplicaLag drops a replica from reads when it lags more.
	MaxReplicaLag time.Duration `yaml:"max_replica_lag"`
	// GTIDWait bounds how long a replica may take to apply a write a read
	// must see (MASTER_GTID_WAIT) before the read goes to the primary.
	GTIDWait time.Duration `yaml:"gtid_wait"`
	// NoReplica is what reads do when no replica qualifies: "primary" or "error".
	NoReplica string `yaml:"no_replica"`
}

// Pool bounds the backend connections shared by client sessions.
type Pool struct {
	// MaxPerBackend is the most connections open to one backend for one
	// user; sessions beyond it wait up to WaitTimeout.
	MaxPerBackend int           `yaml:"max_per_backend"`
	WaitTimeout   time.Duration `yaml:"wait_timeout"`
	// IdleTimeout closes a pooled connection unused for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

func defaultRouting() Routing {
	return Routing{
		ReadWriteSplit: true,
		Consistency:    ConsistencyGlobal,      // applications read on one pooled connection what they wrote on another
		MaxReplicaLag:  time.Second,            // staler replicas serve no reads
		GTIDWait:       100 * time.Millisecond, // then the read goes to the primary
		NoReplica:      "primary",
	}
}

func defaultPool() Pool {
	return Pool{
		MaxPerBackend: 64,              // MariaDB's default max_connections is 151
		WaitTimeout:   2 * time.Second, // then the client gets a clear error
		IdleTimeout:   5 * time.Minute,
	}
}

func (c Config) validateRouting(p *problems) {
	switch c.Routing.Consistency {
	case ConsistencyEventual, ConsistencySession, ConsistencyGlobal, ConsistencyPrimary:
	default:
		p.add("routing.consistency", "%q is not a consistency level; use eventual, session, global or primary", c.Routing.Consistency)
	}
	switch c.Routing.NoReplica {
	case "primary", "error":
	default:
		p.add("routing.no_replica", "%q is not allowed; use primary (reads fall back to the primary) or error", c.Routing.NoReplica)
	}
	if c.Routing.MaxReplicaLag <= 0 {
		p.add("routing.max_replica_lag", "must be positive, like 1s")
	}
	if c.Routing.GTIDWait < 0 {
		p.add("routing.gtid_wait", "must not be negative; 0 disables waiting on replicas")
	}
	if c.Pool.MaxPerBackend < 1 {
		p.add("pool.max_per_backend", "must be at least 1")
	}
	if c.Pool.WaitTimeout <= 0 {
		p.add("pool.wait_timeout", "must be positive, like 2s")
	}
	if c.Pool.IdleTimeout <= 0 {
		p.add("pool.idle_timeout", "must be positive, like 5m")
	}
}
