package main

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics cmd exports itself:
//
//	switchyard_build_info{version,goversion}                    1
//	switchyard_config_reloads_total{result="success"|"failure"} reloads since start
//	switchyard_config_last_reload_successful                    1 or 0
//	switchyard_config_last_reload_success_timestamp_seconds     unix time of the last good load
//
// plus the Go runtime (go_*) and process (process_*) collectors.
type metrics struct {
	reloads         *prometheus.CounterVec
	lastSuccessful  prometheus.Gauge
	lastSuccessTime prometheus.Gauge
}

// newRegistry returns the process registry with the runtime, process and
// build collectors, and cmd's own metrics.
func newRegistry() (*prometheus.Registry, *metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := promauto.With(reg)
	f.NewGauge(prometheus.GaugeOpts{
		Name:        "switchyard_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}).Set(1)
	m := &metrics{
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_config_reloads_total",
			Help: "Config reloads (SIGHUP or POST /reload) by result: success, or failure when the file was refused or a component could not apply it.",
		}, []string{"result"}),
		lastSuccessful: f.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_config_last_reload_successful",
			Help: "1 when the last config reload (or the initial load) succeeded, 0 when it failed and the previous config is still running.",
		}),
		lastSuccessTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful config load.",
		}),
	}
	// Both results exist from the start, so that rate() and alerts work
	// before the first reload.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.loaded(time.Now())
	return reg, m
}

func (m *metrics) loaded(at time.Time) {
	m.lastSuccessful.Set(1)
	m.lastSuccessTime.Set(float64(at.UnixNano()) / 1e9)
}

func (m *metrics) reloadSucceeded(at time.Time) {
	m.reloads.WithLabelValues("success").Inc()
	m.loaded(at)
}

func (m *metrics) reloadFailed() {
	m.reloads.WithLabelValues("failure").Inc()
	m.lastSuccessful.Set(0)
}
