// Package cluster is the proxies' gossip: each proxy publishes its View —
// what it sees of every backend (up or down and for how long, GTID, the epoch
// recorded on it), the newest epoch it knows, whether it is running a
// failover or holding writes, and the newest GTIDs it acknowledged — and
// receives the others'. It is the only importer of hashicorp/memberlist.
//
// Views travel piggybacked on memberlist's gossip (a newer view replaces an
// older one still queued); one too large for a UDP packet goes to each
// member over TCP. Push/pull anti-entropy carries each member's latest view
// too. With a key, all traffic is encrypted and authenticated (AES-GCM) and
// a member with another key is not heard. Receivers keep the newest view
// per member (by the sender's start time and a counter, so a restart is
// newer) with the local time it arrived; Peers returns those younger than a
// given age. What counts as a member for quorum is decided by health from
// those fresh views, not from memberlist's liveness: a frozen proxy's view
// ages out even before memberlist declares it dead.
//
// A member joins the configured addresses at start and again whenever
// fewer than the expected number are alive, so members may start in any
// order and a member that was declared dead and comes back is found again.
//
// Concurrency: Cluster's methods are safe from any goroutine. The onUpdate
// callback runs on memberlist's goroutines: it must not block. The memberlist
// delegate is unexported, copies what it keeps and never blocks. New starts
// two goroutines (join retries, large views) that Close stops and waits for.
package cluster
