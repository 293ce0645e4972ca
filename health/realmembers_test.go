package health

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/testenv"
)

// The checks in this file read what operators read — /topology's members,
// `switchyard status`, /metrics — from the real switchyard processes of
// the failover drills.

// memberView is the part of a /topology member the tests read.
type memberView struct {
	Name          string         `json:"name"`
	Address       string         `json:"address"`
	Self          bool           `json:"self"`
	Alive         bool           `json:"alive"`
	Fresh         bool           `json:"fresh"`
	Primary       string         `json:"primary"`
	Epoch         uint64         `json:"epoch"`
	Agrees        bool           `json:"agrees"`
	Disagreements []string       `json:"disagreements"`
	Servers       []memberServer `json:"servers"`
}

type memberServer struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
	Role string `json:"role"`
}

// backendName is the configured name of the server at addr
// (testenv.ProxyConfig names them db1, db2, db3 in topo.Addrs() order).
func backendName(t *testing.T, topo *testenv.Topo, addr string) string {
	t.Helper()
	i := slices.Index(topo.Addrs(), addr)
	if i < 0 {
		t.Fatalf("%s is not a server of the topology", addr)
	}
	return fmt.Sprintf("db%d", i+1)
}

// membersAgree checks one proxy's /topology members: every proxy listed,
// this one first, each alive, fresh and agreeing, with primary as its
// primary (and role) and epoch as its epoch. It returns why not.
func membersAgree(tp *topologyView, self string, procs []proxyProc, primary string, epoch uint64) string {
	if len(tp.Members) != len(procs) {
		return fmt.Sprintf("%d members listed: %+v", len(tp.Members), tp.Members)
	}
	if !tp.Members[0].Self || tp.Members[0].Name != self {
		return fmt.Sprintf("first member %+v is not %s itself", tp.Members[0], self)
	}
	names := map[string]bool{}
	for _, m := range tp.Members {
		names[m.Name] = true
		if !m.Alive || !m.Fresh || !m.Agrees || m.Primary != primary || m.Epoch != epoch || m.Address == "" {
			return fmt.Sprintf("member %+v, want alive, fresh and agreeing on primary %s at epoch %d", m, primary, epoch)
		}
		i := slices.IndexFunc(m.Servers, func(s memberServer) bool { return s.Name == primary })
		if i < 0 || m.Servers[i].Role != "primary" || !m.Servers[i].Up || len(m.Servers) != 3 {
			return fmt.Sprintf("member %s's servers %+v do not show %s as the up primary", m.Name, m.Servers, primary)
		}
	}
	for _, p := range procs {
		if !names[p.name] {
			return fmt.Sprintf("%s is not listed", p.name)
		}
	}
	return ""
}

// checkMembersAgree waits until every proxy's /topology lists the whole
// cluster agreeing on primary at epoch, and its switchyard_cluster_members
// and _agreeing gauges say so too.
func checkMembersAgree(t *testing.T, ctx context.Context, procs []proxyProc, primary string, epoch uint64) {
	t.Helper()
	n := float64(len(procs))
	poll(t, ctx, fmt.Sprintf("every proxy lists the cluster agreeing on %s at epoch %d", primary, epoch), func() (bool, string) {
		for _, p := range procs {
			tp, err := p.topology(ctx)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", p.name, err)
			}
			if why := membersAgree(tp, p.name, procs, primary, epoch); why != "" {
				return false, p.name + ": " + why
			}
			m, err := testenv.ScrapeMetrics(ctx, p.AdminAddr)
			if err != nil {
				return false, err.Error()
			}
			if got, agree := m.Value("switchyard_cluster_members"), m.Value("switchyard_cluster_members_agreeing"); got != n || agree != n {
				return false, fmt.Sprintf("%s: members %v, agreeing %v, want %v", p.name, got, agree, n)
			}
		}
		return true, ""
	})
}

// checkStatusShowsMembers runs `switchyard status` against p: after the
// servers it prints one line per proxy, p itself marked, each alive and
// agreeing on primary.
func checkStatusShowsMembers(t *testing.T, p proxyProc, procs []proxyProc, primary string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), testenv.BuildSwitchyard(t), "status", "--admin", p.AdminAddr, "--digests", "0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("switchyard status: %v\n%s", err, errb.String())
	}
	t.Logf("switchyard status:\n%s", out.String())
	lines := strings.Split(out.String(), "\n")
	if want := fmt.Sprintf("cluster members %d (%d agree)", len(procs), len(procs)); !strings.Contains(lines[0], want) {
		t.Errorf("status header %q lacks %q", lines[0], want)
	}
	for _, q := range procs {
		name := q.name
		if q.name == p.name {
			name += " (this)"
		}
		found := false
		for _, l := range lines {
			// MEMBER [(this)] ADDRESS ALIVE AGREES PRIMARY ...
			if f := strings.Fields(strings.TrimPrefix(l, name)); strings.HasPrefix(l, name+" ") &&
				len(f) >= 4 && f[1] == "yes" && f[2] == "yes" && f[3] == primary {
				found = true
			}
		}
		if !found {
			t.Errorf("status shows no line for member %s, alive and agreeing on %s", name, primary)
		}
	}
}

// checkFrozenMembersDisagree checks what the lone proxy of a cluster
// whose other members are frozen shows: it lists them, with views that are
// stale and do not agree (they last saw the killed primary up), and its
// gauges count itself alone.
func checkFrozenMembersDisagree(t *testing.T, ctx context.Context, lone proxyProc, tp *topologyView, frozen []proxyProc) {
	t.Helper()
	if len(tp.Members) != 1+len(frozen) || !tp.Members[0].Self || !tp.Members[0].Agrees || tp.Members[0].Primary != "" {
		t.Fatalf("lone proxy's members: %+v", tp.Members)
	}
	for i, p := range frozen {
		m := tp.Members[1+i]
		if m.Name != p.name || m.Fresh || m.Agrees || len(m.Disagreements) == 0 || !strings.HasPrefix(m.Disagreements[0], "no view for") {
			t.Errorf("frozen %s as the lone proxy sees it: %+v", p.name, m)
		}
	}
	m, err := testenv.ScrapeMetrics(ctx, lone.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	if got, agree := m.Value("switchyard_cluster_members"), m.Value("switchyard_cluster_members_agreeing"); got != 1 || agree != 1 {
		t.Errorf("lone proxy: members %v, agreeing %v, want 1 and 1", got, agree)
	}
}

// scrapeAll scrapes every proxy's /metrics.
func scrapeAll(t *testing.T, ctx context.Context, procs []proxyProc) []testenv.Metrics {
	t.Helper()
	var all []testenv.Metrics
	for _, p := range procs {
		m, err := testenv.ScrapeMetrics(ctx, p.AdminAddr)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		all = append(all, m)
	}
	return all
}

// checkFailoverMetrics compares scrapes taken before a failover that killed
// the server named killed and promoted promoted to epoch with scrapes after
// it: on every proxy the killed server is down, the promoted one is the
// primary and the epoch moved; across the cluster exactly one proxy counts
// one successful failover and observes its duration; and the proxies held
// writes (the drill's writers kept writing while there was no primary).
func checkFailoverMetrics(t *testing.T, ctx context.Context, procs []proxyProc, before []testenv.Metrics,
	killed, promoted string, epoch uint64) {
	t.Helper()
	for i, m := range before {
		if m.Value("switchyard_backend_up", "backend", killed) != 1 ||
			m.Value("switchyard_backend_role", "backend", promoted, "role", "replica") != 1 ||
			m.Value("switchyard_epoch") != float64(epoch-1) {
			t.Errorf("%s before the failover: %s up %v, %s replica %v, epoch %v", procs[i].name,
				killed, m.Value("switchyard_backend_up", "backend", killed),
				promoted, m.Value("switchyard_backend_role", "backend", promoted, "role", "replica"), m.Value("switchyard_epoch"))
		}
	}
	// Each proxy's gauges follow its next snapshot: wait for all of them.
	var after []testenv.Metrics
	poll(t, ctx, "every proxy's gauges show the failover", func() (bool, string) {
		after = scrapeAll(t, ctx, procs)
		for i, m := range after {
			if up, prim, rep, ep, held := m.Value("switchyard_backend_up", "backend", killed),
				m.Value("switchyard_backend_role", "backend", promoted, "role", "primary"),
				m.Value("switchyard_backend_role", "backend", promoted, "role", "replica"),
				m.Value("switchyard_epoch"), m.Value("switchyard_failover_in_progress"); up != 0 || prim != 1 || rep != 0 ||
				ep != float64(epoch) || held != 0 {
				return false, fmt.Sprintf("%s: %s up %v; %s primary %v, replica %v; epoch %v; failover in progress %v",
					procs[i].name, killed, up, promoted, prim, rep, ep, held)
			}
		}
		return true, ""
	})
	delta := func(i int, name string, labels ...string) float64 {
		return after[i].Value(name, labels...) - before[i].Value(name, labels...)
	}
	var successes, durations, held float64
	for i, p := range procs {
		s, d := delta(i, "switchyard_failovers_total", "result", "success"), delta(i, "switchyard_failover_duration_seconds")
		if s != d {
			t.Errorf("%s counted %v successful failovers but observed %v durations", p.name, s, d)
		}
		if f := delta(i, "switchyard_failovers_total", "result", "failure"); f != 0 {
			t.Logf("%s counted %v failed failover attempts", p.name, f)
		}
		successes += s
		durations += d
		held += delta(i, "switchyard_statements_held_total")
	}
	if successes != 1 || durations != 1 {
		t.Errorf("across the cluster: %v successful failovers and %v durations observed, want 1 of each", successes, durations)
	}
	if held == 0 {
		t.Error("switchyard_statements_held_total did not move: no write was held while there was no primary")
	}
	t.Logf("failover metrics: %v success, %v duration observed, %v statements held across %d proxies",
		successes, durations, held, len(procs))
}
