package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/health"
)

const testToken = "0123456789abcdef0123"

// fakeTopo serves a settable snapshot.
type fakeTopo struct {
	p atomic.Pointer[health.Topology]
}

func (f *fakeTopo) Snapshot() *health.Topology { return f.p.Load() }

func newTopo(t *health.Topology) *fakeTopo {
	f := &fakeTopo{}
	f.p.Store(t)
	return f
}

var probed = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// healthy is a primary and two replicas, one of them down.
func healthy() *health.Topology {
	return &health.Topology{Epoch: 2, ProbedAt: probed, RecordedEpoch: 2, RecordedPrimary: "db1", ClusterMembers: 3,
		Failover: "healthy", Servers: []health.Server{
			{Name: "db1", Address: "127.0.0.1:3401", Region: "eu-west", Zone: "eu-west-1a", Role: health.RolePrimary, Up: true,
				Version: "10.11.6-MariaDB", Flavor: health.FlavorMariaDB, RTT: 300 * time.Microsecond, Lag: -1,
				GTIDCurrent: "0-1-42", ProbedAt: probed},
			{Name: "db2", Address: "127.0.0.1:3402", Region: "eu-west", Role: health.RoleReplica, Up: true, ReadOnly: true,
				RTT: 2 * time.Millisecond, Lag: 1500 * time.Millisecond, Replicating: true, SourceAddress: "127.0.0.1:3401",
				IOThreadRunning: true, SQLThreadRunning: true, GTIDCurrent: "0-1-41", ProbedAt: probed},
			{Name: "db3", Address: "127.0.0.1:3403", Role: health.RoleUnknown, Lag: -1,
				LastError: "dial tcp 127.0.0.1:3403: connect: connection refused", FailedProbes: 4, ProbedAt: probed},
		}}
}

// fakeCluster serves fixed members.
type fakeCluster []health.Member

func (f fakeCluster) Members() []health.Member { return f }

// threeMembers is this proxy, a peer that agrees and one whose view is
// stale and names no primary.
func threeMembers() fakeCluster {
	servers := func(primary health.Role) []health.MemberServer {
		return []health.MemberServer{
			{Name: "db1", Up: true, Role: primary, GTID: "0-1-42", Epoch: 2},
			{Name: "db2", Up: true, Role: health.RoleReplica, GTID: "0-1-41"},
			{Name: "db3", Role: health.RoleUnknown},
		}
	}
	return fakeCluster{
		{Name: "p0", Address: "127.0.0.1:7946", Self: true, Alive: true, Fresh: true, UpdatedAt: probed,
			Primary: "db1", Epoch: 2, EpochPrimary: "db1", Failover: "healthy", Agrees: true, Servers: servers(health.RolePrimary)},
		{Name: "p1", Address: "127.0.0.1:7947", Alive: true, Fresh: true, UpdatedAt: probed.Add(-100 * time.Millisecond),
			Primary: "db1", Epoch: 2, EpochPrimary: "db1", Failover: "healthy", Agrees: true, Servers: servers(health.RolePrimary)},
		{Name: "p2", UpdatedAt: probed.Add(-12 * time.Second), Epoch: 2, Failover: "suspect", HoldingWrites: true,
			Disagreements: []string{"no view for 12s", "primary db1 here, none there"}, Servers: servers(health.RoleUnknown)},
	}
}

func noPrimary() *health.Topology {
	t := healthy()
	t.Servers[0].Up, t.Servers[0].Role = false, health.RoleUnknown
	return t
}

type fakeDigests struct{ gotN int }

func (f *fakeDigests) TopDigests(n int) []DigestStat {
	f.gotN = n
	return []DigestStat{{Digest: "abc", Sample: "SELECT * FROM t WHERE id = ?", Count: 10, TotalSeconds: 0.5, MaxSeconds: 0.2}}
}

type fakeSwitch struct {
	mu     sync.Mutex
	target string
	res    health.SwitchoverResult
	err    error
}

func (f *fakeSwitch) Switchover(_ context.Context, target string) (health.SwitchoverResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = target
	return f.res, f.err
}

type drainCall struct {
	name    string
	drained bool
}

type fakeDrainer struct {
	calls   []drainCall
	err     error
	drained map[string]bool
}

func (f *fakeDrainer) SetDrained(name string, drained bool) error {
	f.calls = append(f.calls, drainCall{name, drained})
	if f.err == nil {
		if f.drained == nil {
			f.drained = map[string]bool{}
		}
		f.drained[name] = drained
	}
	return f.err
}

func (f *fakeDrainer) IsDrained(name string) bool { return f.drained[name] }

type response struct {
	code int
	body string
	hdr  http.Header
}

func do(t *testing.T, h http.Handler, method, target, token string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return response{rec.Code, string(b), rec.Result().Header}
}

func TestReadyz(t *testing.T) {
	notProbed := &health.Topology{Servers: []health.Server{{Name: "db1", Role: health.RoleUnknown, Lag: -1}}}
	tests := []struct {
		name     string
		topo     *health.Topology
		draining bool
		code     int
		want     []string
	}{
		{"primary known", healthy(), false, 200, []string{"ok: primary db1 (epoch 2)"}},
		{"before the first probe round", notProbed, false, 503, []string{"fail: no primary known (first probe round not finished)"}},
		{"no primary", noPrimary(), false, 503, []string{"fail: no primary known\n"}},
		{"draining", healthy(), true, 503, []string{"fail: draining", "ok: primary db1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Options{Topology: newTopo(tt.topo)})
			h.SetDraining(tt.draining)
			r := do(t, h, "GET", "/readyz", "")
			if r.code != tt.code {
				t.Errorf("code = %d, want %d; body %q", r.code, tt.code, r.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("body %q does not contain %q", r.body, w)
				}
			}
		})
	}
}

func TestDrainingFlipsReadyz(t *testing.T) {
	h := New(Options{Topology: newTopo(healthy())})
	if r := do(t, h, "GET", "/readyz", ""); r.code != 200 {
		t.Fatalf("ready before draining: %d", r.code)
	}
	h.SetDraining(true)
	if r := do(t, h, "GET", "/readyz", ""); r.code != 503 {
		t.Fatalf("readyz while draining = %d", r.code)
	}
	if r := do(t, h, "GET", "/healthz", ""); r.code != 200 {
		t.Fatalf("healthz while draining = %d: liveness must not fail on drain", r.code)
	}
}

func TestAuth(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := Options{Topology: newTopo(healthy()), Token: testToken, Metrics: reg, Pprof: true}
	h := New(opts)
	tests := []struct {
		name, method, path, token string
		code                      int
	}{
		{"healthz is open", "GET", "/healthz", "", 200},
		{"readyz is open", "GET", "/readyz", "", 200},
		{"metrics are open", "GET", "/metrics", "", 200},
		{"topology without token", "GET", "/topology", "", 401},
		{"topology with a wrong token", "GET", "/topology", "wrong-token-0123456789", 401},
		{"topology with a prefix of the token", "GET", "/topology", testToken[:10], 401},
		{"topology with the token", "GET", "/topology", testToken, 200},
		{"digests without token", "GET", "/digests", "", 401},
		{"switchover without token", "POST", "/switchover?target=db2", "", 401},
		{"drain without token", "POST", "/backends/db2/drain", "", 401},
		{"reload without token", "POST", "/reload", "", 401},
		{"pprof without token", "GET", "/debug/pprof/", "", 401},
		{"pprof with token", "GET", "/debug/pprof/", testToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, tt.method, tt.path, tt.token)
			if r.code != tt.code {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, r.code, tt.code, r.body)
			}
			if r.code == 401 {
				if r.hdr.Get("WWW-Authenticate") == "" || !strings.Contains(r.body, "admin token") {
					t.Errorf("401 without a challenge or an explanation: %v %q", r.hdr, r.body)
				}
			}
		})
	}

	t.Run("basic auth is not a bearer token", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/topology", nil)
		req.SetBasicAuth("admin", testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("code = %d", rec.Code)
		}
	})
	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/topology", nil)
		req.Header.Set("Authorization", "bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("code = %d", rec.Code)
		}
	})
	t.Run("token replaced on reload", func(t *testing.T) {
		h.SetToken("another-token-0123456789")
		if r := do(t, h, "GET", "/topology", testToken); r.code != 401 {
			t.Errorf("old token still accepted: %d", r.code)
		}
		if r := do(t, h, "GET", "/topology", "another-token-0123456789"); r.code != 200 {
			t.Errorf("new token refused: %d", r.code)
		}
		h.SetToken(testToken)
	})
	t.Run("no token configured", func(t *testing.T) {
		h := New(Options{Topology: newTopo(healthy())})
		if r := do(t, h, "GET", "/topology", ""); r.code != 200 {
			t.Errorf("code = %d", r.code)
		}
	})
}

func TestTopology(t *testing.T) {
	h := New(Options{Topology: newTopo(healthy()), Cluster: threeMembers()})
	r := do(t, h, "GET", "/topology", "")
	if r.code != 200 || r.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("code %d, content type %q", r.code, r.hdr.Get("Content-Type"))
	}
	var v TopologyView
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatal(err)
	}
	if v.Epoch != 2 || v.Primary != "db1" || !v.ProbedAt.Equal(probed) || v.Draining || len(v.Servers) != 3 {
		t.Fatalf("view = %+v", v)
	}
	p, rep, down := v.Servers[0], v.Servers[1], v.Servers[2]
	if p.Role != "primary" || !p.Up || p.LagSeconds != nil || p.RTTSeconds != 0.0003 || p.GTID != "0-1-42" || p.Flavor != "mariadb" {
		t.Errorf("primary = %+v", p)
	}
	if rep.Role != "replica" || rep.LagSeconds == nil || *rep.LagSeconds != 1.5 || rep.Source != "127.0.0.1:3401" || !rep.ReadOnly {
		t.Errorf("replica = %+v", rep)
	}
	if down.Up || down.Role != "unknown" || down.FailedProbes != 4 || !strings.Contains(down.LastError, "refused") {
		t.Errorf("down server = %+v", down)
	}
	if len(v.Members) != 3 {
		t.Fatalf("members = %+v", v.Members)
	}
	self, peer, stale := v.Members[0], v.Members[1], v.Members[2]
	if !self.Self || self.Name != "p0" || !self.Agrees || self.Primary != "db1" || len(self.Servers) != 3 {
		t.Errorf("self = %+v", self)
	}
	if peer.Self || !peer.Alive || !peer.Fresh || !peer.Agrees || peer.Address != "127.0.0.1:7947" ||
		peer.Servers[0] != (MemberServerView{Name: "db1", Up: true, Role: "primary", GTID: "0-1-42", Epoch: 2}) {
		t.Errorf("agreeing peer = %+v", peer)
	}
	if stale.Alive || stale.Fresh || stale.Agrees || stale.Primary != "" || len(stale.Disagreements) != 2 || !stale.HoldingWrites {
		t.Errorf("stale peer = %+v", stale)
	}
	// Stable snake_case names, lag null when unknown, no Go field names.
	for _, want := range []string{`"rtt_seconds": 0.0003`, `"lag_seconds": null`, `"lag_seconds": 1.5`, `"gtid": "0-1-42"`, `"epoch": 2`, `"cluster_members": 3`, `"recorded_primary": "db1"`, `"failover": "healthy"`, `"fenced": false`,
		`"members": [`, `"agrees": true`, `"agrees": false`, `"alive": false`, `"holding_writes": true`, `"disagreements": [`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("JSON lacks %s:\n%s", want, r.body)
		}
	}
	for _, bad := range []string{"GTIDCurrent", "RTT\"", "assword"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("JSON contains %q:\n%s", bad, r.body)
		}
	}

	h.SetDraining(true)
	if r := do(t, h, "GET", "/topology", ""); !strings.Contains(r.body, `"draining": true`) {
		t.Errorf("draining not shown: %s", r.body)
	}

	// Without a cluster the list is empty, never null.
	if r := do(t, New(Options{Topology: newTopo(healthy())}), "GET", "/topology", ""); !strings.Contains(r.body, `"members": []`) {
		t.Errorf("members without a cluster: %s", r.body)
	}
}

func TestDigests(t *testing.T) {
	src := &fakeDigests{}
	h := New(Options{Topology: newTopo(healthy()), Digests: src})
	tests := []struct {
		path  string
		code  int
		wantN int
	}{
		{"/digests", 200, 20},
		{"/digests?limit=5", 200, 5},
		{"/digests?limit=1000", 200, 1000},
		{"/digests?limit=0", 400, 0},
		{"/digests?limit=1001", 400, 0},
		{"/digests?limit=many", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			src.gotN = 0
			r := do(t, h, "GET", tt.path, "")
			if r.code != tt.code || src.gotN != tt.wantN {
				t.Fatalf("code %d n %d, want %d %d: %s", r.code, src.gotN, tt.code, tt.wantN, r.body)
			}
			if r.code != 200 {
				return
			}
			var resp DigestsResponse
			if err := json.Unmarshal([]byte(r.body), &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Digests) != 1 || resp.Digests[0].Count != 10 || resp.Digests[0].Sample == "" {
				t.Errorf("digests = %+v", resp.Digests)
			}
		})
	}
	t.Run("not collected", func(t *testing.T) {
		h := New(Options{Topology: newTopo(healthy())})
		if r := do(t, h, "GET", "/digests", ""); r.code != 501 {
			t.Errorf("code = %d", r.code)
		}
	})
}

func TestSwitchover(t *testing.T) {
	sw := &fakeSwitch{}
	h := New(Options{Topology: newTopo(healthy()), Switchover: sw})
	done := health.SwitchoverResult{Outcome: health.OutcomeSuccess, From: "db1", To: "db2", Epoch: 4}
	warned := health.SwitchoverResult{Outcome: health.OutcomeSuccessWarnings, From: "db1", To: "db2", Epoch: 4,
		Warnings: []string{"db3: START SLAVE: boom"}}
	refused := health.SwitchoverResult{Outcome: health.OutcomeRefused, From: "db1", To: "db2"}
	changed := health.SwitchoverResult{Outcome: health.OutcomeFailedChanged, From: "db1", To: "db2",
		Changed: []string{"db2 was detached"}}
	tests := []struct {
		name, method, path string
		res                health.SwitchoverResult
		err                error
		code               int
		want               string
		called             string
	}{
		{"done", "POST", "/switchover?target=db2", done, nil, 200, `"outcome": "success"`, "db2"},
		// Promoted with a server left behind: success, never 409.
		{"done with warnings", "POST", "/switchover?target=db2", warned, nil, 200, `"warnings": [
    "db3: START SLAVE: boom"`, "db2"},
		{"refused", "POST", "/switchover?target=db2", refused, errors.New("db2 lags 30s behind"), 409, "nothing changed: db2 lags 30s behind", "db2"},
		{"failed with changes", "POST", "/switchover?target=db2", changed, errors.New("boom"), 500, `"changed": [
    "db2 was detached"`, "db2"},
		{"not running", "POST", "/switchover?target=db2", refused, health.ErrNotRunning, 503, "retry", "db2"},
		{"no target", "POST", "/switchover", refused, nil, 400, "target=NAME", ""},
		{"unknown target", "POST", "/switchover?target=db9", refused, nil, 404, `no backend named \"db9\"; backends are: db1, db2, db3`, ""},
		{"GET is not allowed", "GET", "/switchover?target=db2", refused, nil, 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw.target, sw.res, sw.err = "", tt.res, tt.err
			r := do(t, h, tt.method, tt.path, "")
			if r.code != tt.code || !strings.Contains(r.body, tt.want) || sw.target != tt.called {
				t.Errorf("code %d body %q called %q; want %d, %q, %q", r.code, r.body, sw.target, tt.code, tt.want, tt.called)
			}
		})
	}
	t.Run("not available", func(t *testing.T) {
		h := New(Options{Topology: newTopo(healthy())})
		if r := do(t, h, "POST", "/switchover?target=db2", ""); r.code != 501 {
			t.Errorf("code = %d", r.code)
		}
	})
}

func TestBackendDrain(t *testing.T) {
	d := &fakeDrainer{}
	h := New(Options{Topology: newTopo(healthy()), Drainer: d})
	if r := do(t, h, "POST", "/backends/db2/drain", ""); r.code != 200 || !strings.Contains(r.body, `"drained": true`) {
		t.Errorf("drain: %d %s", r.code, r.body)
	}
	if r := do(t, h, "POST", "/backends/db2/undrain", ""); r.code != 200 || !strings.Contains(r.body, `"drained": false`) {
		t.Errorf("undrain: %d %s", r.code, r.body)
	}
	if r := do(t, h, "POST", "/backends/nope/drain", ""); r.code != 404 {
		t.Errorf("unknown backend: %d", r.code)
	}
	d.err = errors.New("db1 is the primary; switch over first")
	if r := do(t, h, "POST", "/backends/db1/drain", ""); r.code != 409 || !strings.Contains(r.body, "switch over first") {
		t.Errorf("refused drain: %d %s", r.code, r.body)
	}
	want := []drainCall{{"db2", true}, {"db2", false}, {"db1", true}}
	if len(d.calls) != len(want) {
		t.Fatalf("calls = %v, want %v", d.calls, want)
	}
	for i := range want {
		if d.calls[i] != want[i] {
			t.Errorf("call %d = %v, want %v", i, d.calls[i], want[i])
		}
	}
	h = New(Options{Topology: newTopo(healthy())})
	if r := do(t, h, "POST", "/backends/db2/drain", ""); r.code != 501 {
		t.Errorf("without a drainer: %d", r.code)
	}
}

func TestReload(t *testing.T) {
	var err error
	calls := 0
	h := New(Options{Topology: newTopo(healthy()), Reload: func() error { calls++; return err }})
	if r := do(t, h, "POST", "/reload", ""); r.code != 200 {
		t.Errorf("reload: %d %s", r.code, r.body)
	}
	err = errors.New("invalid config: line 3: listen: bad")
	if r := do(t, h, "POST", "/reload", ""); r.code != 422 || !strings.Contains(r.body, "line 3: listen") {
		t.Errorf("refused reload: %d %s", r.code, r.body)
	}
	if calls != 2 {
		t.Errorf("calls = %d", calls)
	}
	h = New(Options{Topology: newTopo(healthy())})
	if r := do(t, h, "POST", "/reload", ""); r.code != 501 {
		t.Errorf("without reload: %d", r.code)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	h := New(Options{Topology: newTopo(healthy()), Metrics: reg})
	r := do(t, h, "GET", "/metrics", "")
	if r.code != 200 || !strings.Contains(r.body, "switchyard_test_things_total 3") {
		t.Errorf("metrics: %d\n%s", r.code, r.body)
	}
	h = New(Options{Topology: newTopo(healthy())})
	if r := do(t, h, "GET", "/metrics", ""); r.code != 404 {
		t.Errorf("metrics without a registry: %d", r.code)
	}
}

// TestDrainVisible: a drain an operator set shows in /topology, in
// `switchyard status` and as switchyard_backend_drained, and goes away
// with the undrain.
func TestDrainVisible(t *testing.T) {
	d := &fakeDrainer{}
	topo := newTopo(healthy())
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewDrainCollector(topo, d))
	h := New(Options{Topology: topo, Drainer: d, Metrics: reg})
	check := func(step string, drained bool) {
		t.Helper()
		r := do(t, h, "GET", "/topology", "")
		var v TopologyView
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatal(err)
		}
		if v.Servers[2].Drained != drained || v.Servers[1].Drained {
			t.Errorf("%s: /topology drained = %v %v, want db3 %v", step, v.Servers[1].Drained, v.Servers[2].Drained, drained)
		}
		var b strings.Builder
		_ = WriteTopology(&b, v, probed)
		if got := strings.Contains(b.String(), "DRAINED"); got != drained {
			t.Errorf("%s: status shows DRAINED %v, want %v:\n%s", step, got, drained, b.String())
		}
		want := "0"
		if drained {
			want = "1"
		}
		if m := do(t, h, "GET", "/metrics", ""); !strings.Contains(m.body, `switchyard_backend_drained{backend="db3"} `+want) {
			t.Errorf("%s: metrics lack db3 drained %s:\n%s", step, want, m.body)
		}
	}
	check("before", false)
	do(t, h, "POST", "/backends/db3/drain", "")
	check("drained", true)
	do(t, h, "POST", "/backends/db3/undrain", "")
	check("undrained", false)
	if problems, err := testutil.CollectAndLint(NewDrainCollector(topo, d)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestResetCooldown(t *testing.T) {
	var calls int
	h := New(Options{Topology: newTopo(healthy()), ResetCooldown: func() { calls++ }})
	if r := do(t, h, "POST", "/failover/reset-cooldown", ""); r.code != 200 || calls != 1 {
		t.Errorf("reset: %d %s, %d calls", r.code, r.body, calls)
	}
	h = New(Options{Topology: newTopo(healthy())})
	if r := do(t, h, "POST", "/failover/reset-cooldown", ""); r.code != 501 {
		t.Errorf("without it: %d", r.code)
	}
}

// TestUnknownPathsAnswerJSON: errors are JSON everywhere, as the docs say,
// also for paths and methods no endpoint takes.
func TestUnknownPathsAnswerJSON(t *testing.T) {
	h := New(Options{Topology: newTopo(healthy())})
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/nope", 404, "no endpoint /nope"},
		{"GET", "/switchover", 405, "use POST"},
		{"DELETE", "/topology", 405, "use GET"},
	} {
		r := do(t, h, tc.method, tc.path, "")
		var e ErrorResponse
		if r.code != tc.code || json.Unmarshal([]byte(r.body), &e) != nil || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s %s: %d %q, want %d with a JSON error containing %q", tc.method, tc.path, r.code, r.body, tc.code, tc.want)
		}
	}
}

// TestOneEpoch: "epoch" is the promotion epoch wherever an operator reads
// it (/topology, /readyz, status); the proxy's own count of primary changes
// is "view".
func TestOneEpoch(t *testing.T) {
	topo := healthy()
	topo.Epoch, topo.RecordedEpoch = 5, 1
	h := New(Options{Topology: newTopo(topo)})
	var v TopologyView
	if err := json.Unmarshal([]byte(do(t, h, "GET", "/topology", "").body), &v); err != nil {
		t.Fatal(err)
	}
	if v.Epoch != 1 || v.RecordedEpoch != 1 || v.View != 5 {
		t.Errorf("/topology epoch %d recorded_epoch %d view %d, want 1, 1, 5", v.Epoch, v.RecordedEpoch, v.View)
	}
	if r := do(t, h, "GET", "/readyz", ""); !strings.Contains(r.body, "(epoch 1)") {
		t.Errorf("/readyz: %q", r.body)
	}
	var b strings.Builder
	_ = WriteTopology(&b, v, probed)
	if !strings.HasPrefix(b.String(), "epoch 1 ") {
		t.Errorf("status header: %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
}
