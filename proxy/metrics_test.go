package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/router"
)

type staticTopology struct{ t *health.Topology }

func (s staticTopology) Snapshot() *health.Topology { return s.t }

func TestMetricsLint(t *testing.T) {
	cfg := config.Default()
	cfg.Users = []config.User{{Name: "app", Password: "app"}}
	srv, err := NewServer(cfg, staticTopology{&health.Topology{}}, "10.11.0-MariaDB", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	srv.metrics.countStatement(router.ReasonReplica, true, false, 0.001)
	srv.metrics.countPins(uint16(1) | pinConnectionID)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if got := testutil.ToFloat64(srv.metrics.statements.WithLabelValues("replica", "replica", "ok")); got != 1 {
		t.Errorf("statements_total{route=replica,role=replica,result=ok} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(srv.metrics.pins.WithLabelValues("connection_id")); got != 1 {
		t.Errorf("pins_total{reason=connection_id} = %v, want 1", got)
	}
}
