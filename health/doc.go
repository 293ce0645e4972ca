// Package health owns what the servers are: it probes every configured
// backend and publishes an immutable Topology snapshot (role, up/down,
// read_only, version and flavor, RTT, replication lag and source, GTID
// position) that the router reads on its hot path without locks.
//
// Roles are discovered, never configured: the primary is the one server that
// is up, writable (@@read_only = 0) and not replicating; replicas are up and
// replicating; everything else is unknown. When two servers qualify as
// primary, none is chosen (split brain is reported, never guessed away).
// MariaDB and MySQL differ in their status statements and GTID formats; all
// flavor-specific SQL and column names live in flavor.go.
//
// Concurrency contract:
//
//   - Monitor.Snapshot is lock-free (an atomic.Pointer load) and safe from
//     any goroutine. The *Topology it returns is immutable: the Monitor never
//     modifies a published snapshot, and readers must not either. A new round
//     publishes a new pointer.
//   - Monitor.Ready is closed once, after the first completed round.
//   - Monitor.Run is started once by its owner (cmd) and returns after its
//     ctx is done, having closed its connections; it starts no goroutine that
//     outlives it. Each round probes all backends concurrently, one goroutine
//     per backend that ends with the round, each bounded by Health.Timeout.
//   - ProbeOnce and Close may be called from any goroutine; rounds are
//     serialized, so a backend is never probed twice at once and its kept
//     connection has a single user.
//
// The package imports config and libraries only; it never imports router or
// proxy. It exports no metrics yet.
package health
