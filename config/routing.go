package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

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
	// ReadPrimaryBelow sends a read that must see a write no replica is
	// known to have applied to the primary, instead of waiting on a
	// replica, while fewer commands than this run on the primary. 0: such
	// reads always wait on a replica (within GTIDWait).
	ReadPrimaryBelow int `yaml:"read_primary_below"`
}

// Pool bounds the backend connections shared by client sessions.
type Pool struct {
	// MaxPerBackend is the most connections open to one backend for one
	// user; sessions beyond it wait up to WaitTimeout.
	MaxPerBackend int `yaml:"max_per_backend"`
	// MaxActivePerBackend is the most commands running at once on one
	// backend over all users (a connection a session holds between its
	// commands does not count). Commands beyond it queue first come, first
	// served, up to WaitTimeout; those of a session that holds a connection
	// never queue. 0 means no limit.
	MaxActivePerBackend int           `yaml:"max_active_per_backend"`
	WaitTimeout         time.Duration `yaml:"wait_timeout"`
	// IdleTimeout closes a pooled connection unused for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// PipelineConnections is how many connections to each replica (per
	// user, dialect and default database) carry the quick reads of many
	// sessions back to back; 0 turns pipelining off.
	PipelineConnections int `yaml:"pipeline_connections"`
	// PipelineQuick is how quick a statement shape must have run, three
	// times in a row, on a connection of its own to be pipelined (under
	// load: four times the average read, if that is more). A pipelined
	// read that waits for its own answer five times that long ends its
	// connection, and its shape is demoted.
	PipelineQuick time.Duration `yaml:"pipeline_quick"`
}

func defaultRouting() Routing {
	return Routing{
		ReadWriteSplit: true,
		Consistency:    ConsistencyGlobal,      // applications read on one pooled connection what they wrote on another
		MaxReplicaLag:  time.Second,            // staler replicas serve no reads
		GTIDWait:       100 * time.Millisecond, // then the read goes to the primary
		NoReplica:      "primary",
		// Half of the default max_active_per_backend: measured
		// (docs/BENCHMARKS.md, "Read-your-writes"), a wait on a replica
		// costs a read the replication delay, which a primary with room
		// does not.
		ReadPrimaryBelow: 16,
	}
}

func defaultPool() Pool {
	return Pool{
		MaxPerBackend: 64, // MariaDB's default max_connections is 151
		// Measured (docs/BENCHMARKS.md, "How many at once"): MariaDB 10.11
		// answered the most point selects at 32 connections on 2 cores and
		// fewer from 64 up.
		MaxActivePerBackend: 32,
		// Then the client gets a clear error. Long enough for a burst of
		// a thousand clients to drain through the queues of a loaded
		// backend (measured: at 2s, transactions of 1,000 clients queued
		// for 32 slots of a primary on 2 shared cores timed out).
		WaitTimeout: 10 * time.Second,
		IdleTimeout: 5 * time.Minute,
		// Measured (docs/BENCHMARKS.md, "Pipelined reads"): 4 connections
		// with up to 64 point selects in flight each served what MariaDB
		// answers fastest on 2 cores.
		PipelineConnections: 4,
		// A point select by primary key takes well under a millisecond;
		// at 10ms, one that waits behind a slow one waits at most 50ms.
		PipelineQuick: 10 * time.Millisecond,
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
	d := Default()
	p.positive("routing.max_replica_lag", c.Routing.MaxReplicaLag, d.Routing.MaxReplicaLag)
	if c.Routing.GTIDWait < 0 {
		p.add("routing.gtid_wait", "must not be negative; 0 disables waiting on replicas")
	}
	if c.Routing.ReadPrimaryBelow < 0 {
		p.add("routing.read_primary_below", "must not be negative; 0 makes reads always wait on a replica")
	}
	if c.Limits.MaxPacket < 1024 {
		p.add("limits.max_packet", "is %d bytes; set at least 1KiB (default 1GiB)", c.Limits.MaxPacket)
	}
	p.positive("limits.idle_timeout", c.Limits.IdleTimeout, d.Limits.IdleTimeout)
	if c.Limits.QueryTimeout != 0 && c.Limits.QueryTimeout < time.Second {
		p.add("limits.query_timeout", "is %s; set 0 (no limit) or at least 1s: running statements are checked once a second", c.Limits.QueryTimeout)
	}
	if c.Limits.MaxAuthFailures < 1 {
		p.add("limits.max_auth_failures", "must be at least 1 (default 100)")
	}
	p.positive("limits.auth_block_time", c.Limits.AuthBlockTime, d.Limits.AuthBlockTime)
	if c.TLS.Require && c.TLS.Cert == "" {
		p.add("tls.require", "needs tls.cert and tls.key: clients cannot use TLS without a certificate")
	}
	for i, u := range c.Users {
		set := 0
		for _, v := range []string{u.Password, u.PasswordEnv, u.PasswordFile} {
			if v != "" {
				set++
			}
		}
		if set > 1 {
			p.add(fmt.Sprintf("users[%d]", i), "give one of password, password_env and password_file, not several")
		}
		checkPasswordHash(p, i, u)
		if u.MaxConnections < 0 {
			p.add(fmt.Sprintf("users[%d].max_connections", i), "must not be negative; 0 means no cap")
		}
	}
	if c.Pool.MaxPerBackend < 1 {
		p.add("pool.max_per_backend", "must be at least 1")
	}
	if c.Pool.MaxActivePerBackend < 0 {
		p.add("pool.max_active_per_backend", "must not be negative; 0 means no limit")
	}
	p.positive("pool.wait_timeout", c.Pool.WaitTimeout, d.Pool.WaitTimeout)
	p.positive("pool.idle_timeout", c.Pool.IdleTimeout, d.Pool.IdleTimeout)
	if c.Pool.PipelineConnections < 0 || c.Pool.PipelineConnections > 64 {
		p.add("pool.pipeline_connections", "must be between 0 (no pipelining) and 64")
	}
	p.positive("pool.pipeline_quick", c.Pool.PipelineQuick, d.Pool.PipelineQuick)
}

// ResolvePasswords returns users with the passwords given by password_env
// or password_file filled in, so that secrets need not sit in the config.
func ResolvePasswords(users []User) ([]User, error) {
	out := make([]User, len(users))
	for i, u := range users {
		switch {
		case u.PasswordEnv != "":
			v, ok := os.LookupEnv(u.PasswordEnv)
			if !ok {
				return nil, fmt.Errorf("users[%d].password_env: environment variable %s is not set", i, u.PasswordEnv)
			}
			u.Password = v
		case u.PasswordFile != "":
			b, err := os.ReadFile(u.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("users[%d].password_file: %w", i, err)
			}
			u.Password = strings.TrimRight(string(b), "\r\n")
		}
		if msg := hashPluginProblem(u); msg != "" {
			return nil, fmt.Errorf("%s: %s", passwordSource(i, u), msg)
		}
		out[i] = u
	}
	return out, nil
}
