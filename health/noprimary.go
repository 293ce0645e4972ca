package health

import (
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/health/failover"
)

// MonitorRefusedPrefix starts a probe's LastError when the server refused
// the monitor account's password (prober.connect).
const MonitorRefusedPrefix = "monitor login refused"

// healthyOrWhy is what Topology.Failover says while the failover machine
// is Healthy. The machine judges a primary that went down; it has nothing
// to judge when no primary was ever found (every server refuses the
// monitor, say), and "healthy" then would tell an operator all is well
// while every write fails. So the state says why no primary is known,
// advice first.
func healthyOrWhy(t *Topology) string {
	if t == nil || t.ProbedAt.IsZero() {
		return failover.Healthy.String()
	}
	if _, ok := t.Primary(); ok {
		return failover.Healthy.String()
	}
	var refused, down int
	for _, s := range t.Servers {
		if !s.Up {
			down++
		}
		if strings.HasPrefix(s.LastError, MonitorRefusedPrefix) {
			refused++
		}
	}
	switch {
	case refused > 0:
		return fmt.Sprintf("no primary known: fix monitor.user/monitor.password and reload (monitor login refused by %d of %d servers)", refused, len(t.Servers))
	case down == len(t.Servers):
		return fmt.Sprintf("no primary known: none of the %d servers answers the probes (see each server's last_error)", len(t.Servers))
	default:
		return "no primary known: no server is up, writable and not replicating (see each server's last_error)"
	}
}
