package config

import "time"

// Failover tunes the failure verdict, the promotion and what the proxy does
// with writes meanwhile. health owns its behaviour; see health/failover.
type Failover struct {
	// Auto enables automatic failover. Off, a failed primary is reported
	// and a switchover (admin API) is the way out.
	Auto bool `yaml:"auto"`
	// ConfirmAfter is how long a proxy must see the primary down before it
	// votes it failed; a majority of cluster.expected_size must vote.
	ConfirmAfter time.Duration `yaml:"confirm_after"`
	// Cooldown is the least time between two automatic failovers
	// (anti-flapping). A switchover, or a cooldown reset, overrides it.
	Cooldown time.Duration `yaml:"cooldown"`
	// HoldWritesTimeout bounds how long the proxy holds a write while a
	// failover or switchover runs, and HoldWritesMax how many it holds;
	// beyond either the client gets an error that says to retry.
	HoldWritesTimeout time.Duration `yaml:"hold_writes_timeout"`
	HoldWritesMax     int           `yaml:"hold_writes_max"`
	// MaxCatchupWait bounds the wait for the candidate to apply what it
	// received (and, in a switchover, everything the old primary has).
	MaxCatchupWait time.Duration `yaml:"max_catchup_wait"`
	// AutoRejoin makes a failed primary that comes back a replica of the
	// new one when its GTID history allows; otherwise it stays read-only
	// and is reported as needing an operator.
	AutoRejoin bool `yaml:"auto_rejoin"`
	// ReplicationUser and ReplicationPassword are the account a server
	// that never replicated (the old primary, after a switchover or a
	// rejoin) uses. Replicas that are repointed keep their own.
	ReplicationUser     string `yaml:"replication_user"`
	ReplicationPassword string `yaml:"replication_password"`
	// SemiSync makes every promotion configure semi-synchronous
	// replication on the new topology (the new primary waits for a replica
	// to receive each commit), so that the next failover loses nothing
	// acknowledged either.
	SemiSync bool `yaml:"semi_sync"`
}

func defaultFailover() Failover {
	return Failover{
		Auto:              true,
		ConfirmAfter:      1500 * time.Millisecond, // with 500ms probes: a dead primary is confirmed in ~2s
		Cooldown:          5 * time.Minute,         // a second failure so soon needs a human look
		HoldWritesTimeout: 10 * time.Second,        // a failover takes ~3s on a LAN
		HoldWritesMax:     10000,                   // held writes across all sessions
		MaxCatchupWait:    10 * time.Second,        // applying a relay log is usually milliseconds
	}
}

func (c Config) validateFailover(p *problems) {
	f := c.Failover
	// Shorter than two probe periods is allowed: a proxy also needs two
	// failed probes in a row before it votes.
	if f.ConfirmAfter <= 0 {
		p.add("failover.confirm_after", "must be positive, like %s", defaultFailover().ConfirmAfter)
	}
	if f.Cooldown < 0 {
		p.add("failover.cooldown", "must not be negative; 0 allows failovers back to back")
	}
	if f.HoldWritesTimeout <= 0 {
		p.add("failover.hold_writes_timeout", "must be positive, like %s", defaultFailover().HoldWritesTimeout)
	}
	if f.HoldWritesMax < 0 {
		p.add("failover.hold_writes_max", "must not be negative; 0 holds no writes (they fail at once)")
	}
	if f.MaxCatchupWait <= 0 {
		p.add("failover.max_catchup_wait", "must be positive, like %s", defaultFailover().MaxCatchupWait)
	}
	if f.ReplicationPassword != "" && f.ReplicationUser == "" {
		p.add("failover.replication_user", "is empty but replication_password is set; set both or neither")
	}
	if f.AutoRejoin && f.ReplicationUser == "" {
		p.add("failover.replication_user", "is needed by auto_rejoin: a rejoining server has no replication account of its own")
	}
}
