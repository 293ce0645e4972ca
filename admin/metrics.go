package admin

import "github.com/prometheus/client_golang/prometheus"

// Metrics exported by admin (NewDrainCollector):
//
//	switchyard_backend_drained{backend}   1 while an operator has the backend drained
//
// The drain is operator state that nothing else shows: without it a
// replica taken out of rotation and forgotten looks like a routing bug.
var descDrained = prometheus.NewDesc("switchyard_backend_drained",
	"Whether an operator drained the backend (POST /backends/NAME/drain): 1, or 0.", []string{"backend"}, nil)

// drainCollector reads the drain state at scrape time, for every backend
// of the current topology (backends added by a reload included).
type drainCollector struct {
	topo    Topology
	drainer BackendDrainer
}

// NewDrainCollector returns the collector of switchyard_backend_drained.
func NewDrainCollector(topo Topology, drainer BackendDrainer) prometheus.Collector {
	return drainCollector{topo: topo, drainer: drainer}
}

func (c drainCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDrained }

func (c drainCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.topo.Snapshot().Servers {
		v := 0.0
		if c.drainer != nil && c.drainer.IsDrained(s.Name) {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descDrained, prometheus.GaugeValue, v, s.Name)
	}
}
