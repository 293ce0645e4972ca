package health

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exported by health (Register):
//
//	switchyard_backend_up{backend}                      1 when the last probe succeeded
//	switchyard_backend_role{backend,role}               1 for the backend's current role (primary, replica, unknown)
//	switchyard_backend_replication_lag_seconds{backend} replicas with a known lag
//	switchyard_backend_rtt_seconds{backend}             round trip of the last probe's first query
//	switchyard_backend_fenced{backend}                  1 when a newer epoch fences the backend
//	switchyard_epoch                                    newest recorded promotion epoch known
//	switchyard_failover_in_progress                     1 while writes are held for a failover or switchover
//	switchyard_cluster_members                          proxies with fresh views, this one included
//	switchyard_cluster_members_agreeing                 of those, the ones whose view agrees with this proxy's (Members)
//	switchyard_failovers_total{result}                  failovers this proxy ran (automatic and manual): success, failure
//	switchyard_switchovers_total{result}                planned switchovers this proxy was asked for, by SwitchoverOutcome:
//	                                                    refused, failure (nothing changed), failure_changed,
//	                                                    success, success_with_warnings
//	switchyard_failover_duration_seconds                from the primary first seen down to the promotion done
//	switchyard_fences_total                             stale primaries this proxy set read-only
//	switchyard_acknowledged_writes_missing_total        acknowledged transactions a new primary lacked at promotion
type metrics struct {
	failovers   *prometheus.CounterVec
	switchovers *prometheus.CounterVec
	duration    prometheus.Histogram
	fences      prometheus.Counter
	missing     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_failovers_total",
			Help: "Failovers this proxy coordinated (automatic and manual), by result.",
		}, []string{"result"}),
		switchovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_switchovers_total",
			Help: "Planned switchovers this proxy ran, by result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchyard_failover_duration_seconds",
			Help:    "Time from the primary first seen down to the promotion of its replacement.",
			Buckets: []float64{0.5, 1, 2, 3, 4, 5, 7.5, 10, 20, 30, 60},
		}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_fences_total",
			Help: "Stale primaries (older epoch) this proxy set read-only.",
		}),
		missing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_acknowledged_writes_missing_total",
			Help: "Acknowledged transactions that a newly promoted primary lacked.",
		}),
	}
	for _, r := range []string{"success", "failure"} {
		m.failovers.WithLabelValues(r)
	}
	for _, o := range switchoverOutcomes {
		m.switchovers.WithLabelValues(string(o))
	}
	return m
}

var (
	descUp = prometheus.NewDesc("switchyard_backend_up",
		"Whether the last probe of the backend succeeded (1) or not (0).", []string{"backend"}, nil)
	descRole = prometheus.NewDesc("switchyard_backend_role",
		"The backend's discovered role: 1 for its current role, 0 for the others.", []string{"backend", "role"}, nil)
	descLag = prometheus.NewDesc("switchyard_backend_replication_lag_seconds",
		"Replication lag of a replica (Seconds_Behind_Master), when known.", []string{"backend"}, nil)
	descRTT = prometheus.NewDesc("switchyard_backend_rtt_seconds",
		"Round trip of the last probe's first query.", []string{"backend"}, nil)
	descFenced = prometheus.NewDesc("switchyard_backend_fenced",
		"Whether a newer epoch fences the backend: writable but not the recorded primary.", []string{"backend"}, nil)
	descEpoch = prometheus.NewDesc("switchyard_epoch",
		"Newest recorded promotion epoch this proxy knows.", nil, nil)
	descInProgress = prometheus.NewDesc("switchyard_failover_in_progress",
		"Whether writes are held for a failover or switchover (1) or not (0).", nil, nil)
	descMembers = prometheus.NewDesc("switchyard_cluster_members",
		"Proxies of the cluster whose views are fresh, this one included.", nil, nil)
	descAgreeing = prometheus.NewDesc("switchyard_cluster_members_agreeing",
		"Proxies of the cluster whose fresh view names the same primary, epoch and backend states as this proxy's, this one included.", nil, nil)
)

// snapshotCollector reads the gauges from the current snapshot at scrape
// time, so removed backends disappear with a reload.
type snapshotCollector struct{ m *Monitor }

func (c snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descRole, descLag, descRTT, descFenced, descEpoch, descInProgress, descMembers, descAgreeing} {
		ch <- d
	}
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.m.Snapshot()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range t.Servers {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b2f(s.Up), s.Name)
		for _, r := range []Role{RolePrimary, RoleReplica, RoleUnknown} {
			ch <- prometheus.MustNewConstMetric(descRole, prometheus.GaugeValue, b2f(s.Role == r), s.Name, string(r))
		}
		if s.Up && s.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, s.Lag.Seconds(), s.Name)
		}
		if s.Up {
			ch <- prometheus.MustNewConstMetric(descRTT, prometheus.GaugeValue, s.RTT.Seconds(), s.Name)
		}
		ch <- prometheus.MustNewConstMetric(descFenced, prometheus.GaugeValue, b2f(s.Fenced), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(t.RecordedEpoch))
	ch <- prometheus.MustNewConstMetric(descInProgress, prometheus.GaugeValue, b2f(t.FailoverInProgress))
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(t.ClusterMembers))
	agreeing := 0
	for _, mb := range c.m.Members() {
		if mb.Agrees {
			agreeing++
		}
	}
	ch <- prometheus.MustNewConstMetric(descAgreeing, prometheus.GaugeValue, float64(agreeing))
}

// Register registers the Monitor's metrics on reg (see metrics.go for the
// list). Call it once per registry; metrics are kept whether or not they are
// registered.
func (m *Monitor) Register(reg prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{
		m.metrics.failovers, m.metrics.switchovers, m.metrics.duration, m.metrics.fences, m.metrics.missing,
		snapshotCollector{m},
	} {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}
