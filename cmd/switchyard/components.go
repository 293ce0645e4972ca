package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy"
)

// The interfaces cmd wires between the components. Each is small and
// defined here, by its consumer; the assertions below make a change of
// signature in proxy or health a compile error here rather than a feature
// that silently stops working.

// metricsRegistrar registers a component's metrics on the process registry.
type metricsRegistrar interface {
	Register(reg prometheus.Registerer) error
}

// reloadable applies a validated config live (see reload.go).
type reloadable interface {
	Reload(cfg config.Config) error
}

// sessionDrainer stops accepting client connections, lets open sessions
// finish their transactions until ctx is done, then closes what is left,
// and returns when no session is open.
type sessionDrainer interface {
	Drain(ctx context.Context)
}

var (
	_ metricsRegistrar = (*proxy.Server)(nil)
	_ metricsRegistrar = (*health.Monitor)(nil)
	_ reloadable       = (*health.Monitor)(nil) // first: new backends are probed before the proxy routes to them
	_ reloadable       = (*proxy.Server)(nil)
	_ sessionDrainer   = (*proxy.Server)(nil)
	_ admin.Switcher   = (*health.Monitor)(nil)
)

// proxyDigests adapts the proxy's digest table to the admin API, which
// keeps its own type so that admin does not import proxy.
type proxyDigests struct{ s *proxy.Server }

func (d proxyDigests) TopDigests(n int) []admin.DigestStat {
	rows := d.s.TopDigests(n)
	out := make([]admin.DigestStat, len(rows))
	for i, r := range rows {
		out[i] = admin.DigestStat{
			Digest: r.Digest, Sample: r.Sample, Count: r.Count, Errors: r.Errors,
			TotalSeconds: r.TotalSeconds, MaxSeconds: r.MaxSeconds,
		}
	}
	return out
}

// backendDrainer returns whichever of health and proxy can drain a single
// backend (admin.BackendDrainer), health first, because a drained backend
// belongs in the topology snapshot that the router reads; nil when neither
// can yet. It is found at run time because neither has it so far: the
// admin endpoint answers 501 until one does.
func backendDrainer(proxy, health any) admin.BackendDrainer {
	if d, ok := health.(admin.BackendDrainer); ok {
		return d
	}
	if d, ok := proxy.(admin.BackendDrainer); ok {
		return d
	}
	return nil
}

// logMissing says at start, once, what this build cannot do.
func logMissing(log *slog.Logger, drainer admin.BackendDrainer) {
	if drainer == nil {
		log.Warn("not available in this build", "feature", "backend drain (POST /backends/NAME/drain)",
			"needs", "SetDrained(name string, drained bool) error on health.Monitor or proxy.Server")
	}
}
