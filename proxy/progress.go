package proxy

import (
	"sync"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
)

// progress is what the proxy learned about GTIDs: the newest position it
// acknowledged to any client (for consistency=global, and for failover:
// health reads it, Monitor.AckedFrom) and, per replica,
// what it is known to have applied beyond its last probe: each wait's
// answer says where the replica was when it returned, and a wait that
// succeeded proves the replica has what it waited for. Both only move
// forward. The router takes a replica as fresh when either its probe or
// this covers a read's need: most reads then need no wait at all. Safe for
// concurrent use; reads take no lock.
type progress struct {
	acked   gtid.Known
	applied sync.Map // backend name → *gtid.Known
}

// ack merges a position acknowledged to a client.
func (g *progress) ack(pos gtid.Position) { g.acked.Add(pos) }

// newest returns the newest acknowledged position (empty if none).
func (g *progress) newest() gtid.Position { return g.acked.Load() }

// noteApplied records that backend name has applied pos.
func (g *progress) noteApplied(name string, pos gtid.Position) {
	if pos.IsEmpty() {
		return
	}
	k, ok := g.applied.Load(name)
	if !ok {
		k, _ = g.applied.LoadOrStore(name, new(gtid.Known))
	}
	k.(*gtid.Known).Add(pos)
}

// forgetDown drops what was learned of the servers topo shows down: a
// server that comes back may have been rebuilt from an older backup under
// the same name, and must prove its position again (by its next probe or
// wait) before a read that needs it skips the wait. Learned positions only
// move forward, so this is the one way back.
func (g *progress) forgetDown(topo *health.Topology) {
	for _, srv := range topo.Servers {
		if !srv.Up {
			g.applied.Delete(srv.Name)
		}
	}
}

// appliedBy is what backend name is known to have applied.
func (g *progress) appliedBy(name string) gtid.Position {
	if k, ok := g.applied.Load(name); ok {
		return k.(*gtid.Known).Load()
	}
	return gtid.Position{}
}
