// Package failover is the coordinator's state machine and the promotion
// itself: the verdict that a primary failed, the choice of the replica to
// promote, and the statements that promote it, repoint the others, fence a
// stale primary and rejoin a failed one. It knows nothing of probing or
// gossip; package health feeds it observations and runs what it decides.
//
// It also owns the monitor account's MySQL sessions (Connect, NewDialer),
// which health's probes and the proxy's KILL share: go-mysql's client,
// encrypted as the server's backend_tls policy (package config/tlsconf)
// says.
//
// # The machine
//
// Machine has five printable states — healthy, suspect, blocked, promoting,
// switching — and one transition function, Handle, whose exhaustive switch
// panics with "BUG:" on an impossible event. It does no I/O and reads no
// clock: time arrives in the events, so tests drive it hermetically.
// Suspect, promoting and switching hold writes (State.InProgress); blocked
// does not: a failover that cannot happen without a change (no quorum,
// replicas still see the primary, no candidate, cooldown, a failed attempt
// until its retry) should fail writes fast rather than delay every one.
//
// # The verdict
//
// The primary has failed when (1) a majority of the configured cluster size
// — not of the proxies alive — have fresh views, (2) a majority see it down
// for Config.ConfirmAfter (this proxy also needs MinFailedProbes in a row),
// and (3) no replica still has a running I/O thread from it: if replicas
// still replicate, the cut is between the proxies and the primary, which
// may be serving, and it is reported, not acted on. The coordinator is the
// lowest-named voting proxy that sees a replica; only it promotes.
//
// # The guard: why two proxies never both promote
//
// Membership views are eventually consistent: two proxies can briefly each
// believe they coordinate (A sees {A, C}, B sees {B, C}: both majorities).
// The promotion is therefore guarded in the databases themselves:
//
//  1. Lock. The coordinator takes GET_LOCK('switchyard.failover', 0) on
//     every server but the failed primary and needs a majority of them.
//     Two concurrent promotions need two majorities of the same set, which
//     share a server whose named lock only one session can hold. The locks
//     live as long as the coordinator's sessions (a dead coordinator's are
//     released when its connections close, or after wait_timeout, which
//     the guard lowers).
//  2. Verify under the lock. Every locked server is re-read: none may be
//     writable and not replicating (someone promoted it), none may carry a
//     newer epoch than the coordinator knows, and the candidate must still
//     replicate from the failed primary. A promotion that won the lock
//     earlier has changed all of that before releasing it, so a late
//     coordinator sees it and stops with ErrStale.
//  3. Compare-and-set the epoch. The new primary records its epoch in
//     switchyard.epoch with UPDATE ... WHERE epoch = <the one it had> (or an
//     INSERT that a duplicate key refuses): a belt to the braces above.
//
// The price of the majority is availability under double faults: with three
// servers, the primary and a replica both down, no automatic failover
// happens; an operator's manual failover (health's Switchover with the
// primary down) needs only the target's lock.
//
// # The epoch
//
// The epoch row is written on the candidate after replication is detached
// and before it is made writable, with the monitor's privilege to write
// while read_only (MariaDB: READ_ONLY ADMIN, in ALL PRIVILEGES; MySQL: with
// super_read_only lifted first). It replicates to every server that follows
// the new primary, but never to the failed one, whose copy stays older: that
// is what fences it (health never routes writes to a writable server the
// newest epoch does not name, and sets it read-only). Every proxy, and one
// that restarts, learns the newest epoch from any server's copy or by
// gossip.
//
// # Promotion
//
// Choose picks the healthy replica of the failed primary with the most
// advanced position — executed merged with received, since the relay log
// will be applied — that may be promoted (config promote: false excludes),
// then the highest priority, the failed primary's region, this proxy's
// region, and the name. Execute then waits (bounded by CatchupWait) for it
// to apply what it received, counts the acknowledged transactions it lacks
// (reported loudly by health), stops and resets replication, records the
// epoch, makes it writable, and points every other replica at it with GTID
// positioning (MariaDB MASTER_USE_GTID = slave_pos, MySQL
// SOURCE_AUTO_POSITION = 1). A switchover first makes the old primary
// read-only and waits for the target to reach its last position (giving up
// and undoing if it does not), and makes the old primary a replica too.
//
// A switchover is all or nothing up to the promotion: Plan.Check (no
// replication account for the old primary) and Precheck (the account
// cannot log in to the target; a replica has transactions the primary
// lacks) refuse with ErrPrecondition before anything changes, and Execute
// runs Check again. Stopping the target's replication is the point of no
// return: a failure after it leaves Result.Promoted false and lists in
// Result.Changed what stays changed and what to do, so that health never
// reports such a failure as "nothing changed".
//
// All flavor-specific SQL and column names are in sql.go, but for the GTID
// positions and statements (the wait, the applied position), which are
// internal/gtid's, shared with the proxy; the tests check
// the generated statements of both flavors against a fake server, and
// health's tests run them against MariaDB.
//
// # Concurrency
//
// Machine is not safe for concurrent use (health serializes it). Execute,
// Fence, Rejoin and Repoint may run concurrently; each opens its own
// sessions through the Dialer and closes them before returning, and every
// statement is bounded by the context.
package failover
