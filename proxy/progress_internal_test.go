package proxy

import (
	"testing"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
)

// A replica seen down loses what the proxy learned of it (it may come back
// rebuilt from an older backup); one that is up keeps it.
func TestProgressForgetsDownServers(t *testing.T) {
	var g progress
	pos, err := gtid.Parse("0-1-42")
	if err != nil {
		t.Fatal(err)
	}
	g.noteApplied("db2", pos)
	g.noteApplied("db3", pos)
	g.forgetDown(&health.Topology{Servers: []health.Server{{Name: "db2", Up: true}, {Name: "db3", Up: false}}})
	if got := g.appliedBy("db2"); !got.Covers(pos) {
		t.Errorf("db2 (up) applied = %q, want it to still cover %q", got, pos)
	}
	if got := g.appliedBy("db3"); !got.IsEmpty() {
		t.Errorf("db3 (down) applied = %q, want nothing learned", got)
	}
	// Learning starts again from nothing once it is back.
	g.noteApplied("db3", pos)
	if got := g.appliedBy("db3"); !got.Covers(pos) {
		t.Errorf("db3 after a new wait = %q, want %q", got, pos)
	}
}
