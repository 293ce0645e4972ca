package health

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestProbeRealTopology runs one monitor against the shared MariaDB
// topology (a primary and two GTID replicas) plus an address where nothing
// listens. It only reads: the shared topology's roles must not change.
func TestProbeRealTopology(t *testing.T) {
	leakCheck(t)
	topo := testenv.Topology(t)
	dead := deadAddr(t)

	cfg := testConfig(5*time.Second, topo.Primary, topo.Replica1, topo.Replica2, dead)
	cfg.Monitor = config.Monitor{User: "root", Password: ""}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	m := mustMonitor(t, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer m.Close()

	// Replicas may still be connecting to their source right after start:
	// poll rounds until both replication threads run, with a deadline.
	var snap *Topology
	deadline := time.Now().Add(30 * time.Second)
	for {
		m.ProbeOnce(t.Context())
		snap = m.Snapshot()
		r1, _ := snap.Server("db2")
		r2, _ := snap.Server("db3")
		if r1.IOThreadRunning && r1.SQLThreadRunning && r2.IOThreadRunning && r2.SQLThreadRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication threads not running after 30s:\n%+v\n%+v", r1, r2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-m.Ready():
	default:
		t.Error("Ready not closed after a completed round")
	}

	p, ok := snap.Primary()
	if !ok || p.Name != "db1" || p.Address != topo.Primary {
		t.Fatalf("Primary() = %+v, %v; want db1 at %s\nservers: %+v", p, ok, topo.Primary, snap.Servers)
	}
	if p.ReadOnly || p.Replicating || p.SourceAddress != "" || p.Lag != -1 || p.LastError != "" {
		t.Errorf("primary details: %+v", p)
	}
	for _, name := range []string{"db1", "db2", "db3"} {
		s, _ := snap.Server(name)
		if !s.Up || s.Flavor != FlavorMariaDB || !strings.Contains(s.Version, "MariaDB") ||
			strings.HasPrefix(s.Version, "5.5.5-") || s.GTIDCurrent == "" || s.RTT <= 0 || s.MinRTT <= 0 || s.MinRTT > s.RTT || s.ProbedAt.IsZero() {
			t.Errorf("%s: %+v", name, s)
		}
		// The GTID is MariaDB's domain-server-sequence form.
		if parts := strings.Split(strings.Split(s.GTIDCurrent, ",")[0], "-"); len(parts) != 3 {
			t.Errorf("%s: GTID %q is not domain-server-seq", name, s.GTIDCurrent)
		}
		if name == "db1" {
			continue
		}
		if s.Role != RoleReplica || !s.Replicating || s.SourceAddress != topo.Primary || s.Lag < 0 ||
			s.ReplicationError != "" {
			t.Errorf("%s: want a replica of %s with known lag, got %+v", name, topo.Primary, s)
		}
	}

	// The GTID the monitor reports is the server's own.
	var gtid string
	if err := topo.DB(t, topo.Primary, "root", "", "").QueryRow("SELECT @@gtid_current_pos").Scan(&gtid); err != nil {
		t.Fatal(err)
	}
	switch {
	case p.GTIDCurrent == gtid:
	case os.Getenv(testenv.EnvTopology) != "":
		// A topology shared by every package may take writes in between.
		t.Logf("primary GTID: probe %q, now %q (shared topology)", p.GTIDCurrent, gtid)
	default:
		t.Errorf("primary GTID: probe %q, server %q", p.GTIDCurrent, gtid)
	}

	d, _ := snap.Server("db4")
	if d.Up || d.Role != RoleUnknown || d.LastError == "" || d.Address != dead {
		t.Errorf("dead backend: %+v", d)
	}
}
