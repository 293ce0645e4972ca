// Package health owns what the servers are: it probes every configured
// backend, publishes an immutable Topology snapshot (role, up/down,
// read_only, version and flavor, RTT, replication lag and source, GTID
// positions, the promotion epoch each server recorded) that the router reads
// on its hot path without locks, and — with its subpackages cluster (gossip
// between proxies) and failover (verdict, promotion, fencing) — fails over
// when the primary dies, and switches over when asked.
//
// Roles are discovered, never configured: the primary is the one server that
// is up, writable (@@read_only = 0), not replicating and not fenced; replicas
// are up and replicating; everything else is unknown. When two servers
// qualify as primary, none is chosen (split brain is reported, never guessed
// away). A writable server that the newest recorded epoch does not name is
// Fenced: never the primary, and set read-only by the proxies. MariaDB and
// MySQL differ in their status statements and GTID formats; the probe SQL
// lives in flavor.go, the promotion SQL and the replica status columns in
// failover/sql.go, the GTID positions and GTID SQL in internal/gtid.
//
// Every session of the monitor account (probes, promotions, fences,
// rejoins, repoints) is opened by failover.Connect and encrypted as the
// server's backend_tls policy says (package config/tlsconf, loaded at
// NewMonitor and on Reload), as the proxy's data path to it is: a server
// with require_secure_transport=ON is probed like any other.
//
// # Failover, as the proxy sees it
//
// A probe every health.interval (500ms); a failed one marks the server down
// at once (Up false, DownSince set). When the primary is down the
// snapshot's FailoverInProgress is set: the proxy holds new writes (bounded
// by failover.hold_writes_timeout and hold_writes_max) and waits on Updated.
// A majority of the cluster.expected_size proxies must see it down for
// failover.confirm_after (1.5s) — each view is gossiped after each round —
// and the replicas must have lost it too; then the coordinator promotes the
// most advanced replica (see package failover for the verdict, the guard and
// the epoch). The new primary appears in the next snapshot of every proxy
// (a newer epoch heard by gossip triggers a round at once) with
// FailoverInProgress cleared and Epoch increased. With LAN defaults, writes
// flow again about 3s after a kill -9. When no failover can happen (no
// quorum, replicas still see the primary, no candidate, cooldown),
// FailoverInProgress is false and Failover says why.
//
// AckedFrom gives the monitor the newest position the proxy acknowledged
// to clients (the proxy's own record, kept for read-your-writes); each
// proxy gossips it, and a promotion waits for the candidate to have
// applied what it received and logs and counts (ERROR, and
// switchyard_acknowledged_writes_missing_total) any acknowledged
// transaction the new primary lacks. With semi-synchronous replication none
// is lost.
//
// # The cluster as an operator sees it
//
// Members lists the proxies of the cluster with each one's gossiped view
// (the primary it sees, each server's up/down and role, the epoch it knows,
// when its view arrived) and whether that view agrees with this proxy's:
// same primary, epoch and server states, from a view fresh enough to count
// for quorum. It is computed when asked (an admin request, a scrape), not
// per round, so it costs nothing on the hot path.
//
// # Metrics
//
// Register exports: switchyard_backend_up, switchyard_backend_role,
// switchyard_backend_replication_lag_seconds, switchyard_backend_rtt_seconds,
// switchyard_backend_fenced, switchyard_epoch,
// switchyard_failover_in_progress, switchyard_cluster_members,
// switchyard_cluster_members_agreeing,
// switchyard_failovers_total{result}, switchyard_switchovers_total{result},
// switchyard_failover_duration_seconds, switchyard_fences_total and
// switchyard_acknowledged_writes_missing_total (see metrics.go).
//
// # Concurrency contract
//
//   - Snapshot and Updated are lock-free (an atomic.Pointer load) and safe
//     from any goroutine. The *Topology returned is immutable: the Monitor
//     never modifies a published snapshot, and readers must not either. Each
//     publication stores a new pointer and closes the previous snapshot's
//     Updated channel.
//   - ReportFailure never blocks (it wakes Run, at most every 100ms).
//   - Monitor.Ready is closed once, after the first completed round.
//   - Monitor.Run is started once by its owner (cmd) and returns after its
//     ctx is done, having closed its connections, left the cluster and waited
//     for the promotions, fences and rejoins it started (they get a cancelled
//     context). Each round probes all backends concurrently, one goroutine
//     per backend that ends with the round, each bounded by Health.Timeout.
//   - ProbeOnce, Close, Reload, ResetCooldown, Members and Register may be called
//     from any goroutine; rounds are serialized, so a backend is never probed
//     twice at once and its kept connection has a single user. Switchover
//     blocks its caller (bounded by its ctx) and needs Run to be running.
//   - Locks: roundMu (held across a round's probes) may take pubMu and
//     epochMu; pubMu may take epochMu; fmu is never held with another. Only
//     roundMu is held across I/O. memberlist callbacks take pubMu, fmu and
//     epochMu briefly, one at a time, and never block.
//
// The package imports config, its subpackages and libraries only; it never
// imports router or proxy.
package health
