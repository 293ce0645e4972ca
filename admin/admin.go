package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/health"
)

// Topology is what the admin endpoints need from health.
type Topology interface {
	Snapshot() *health.Topology
}

// Cluster is what /topology needs from health about the proxy cluster:
// every member with its view and whether it agrees with this proxy's.
type Cluster interface {
	Members() []health.Member
}

// DigestSource is the proxy's per-digest statement statistics.
type DigestSource interface {
	// TopDigests returns at most n digests, busiest (largest TotalSeconds)
	// first. Sample must be the normalized statement (literals replaced by
	// placeholders), never a statement with its values.
	TopDigests(n int) []DigestStat
}

// DigestStat is one normalized statement and what it cost since the proxy
// started.
type DigestStat struct {
	Digest       string  `json:"digest"`        // stable hash of the normalized statement
	Sample       string  `json:"sample"`        // the normalized statement, literals replaced by ?
	Count        uint64  `json:"count"`         // executions
	Errors       uint64  `json:"errors"`        // executions answered with an error packet
	TotalSeconds float64 `json:"total_seconds"` // sum of latencies, as the client saw them
	MaxSeconds   float64 `json:"max_seconds"`   // slowest execution
}

// Switcher performs a planned switchover: health implements it.
type Switcher interface {
	// Switchover makes the replica named target the primary. It returns
	// when the switchover is complete or has failed; the error is nil
	// exactly when the primary changed, and the result's Outcome says
	// whether a failure left anything changed.
	Switchover(ctx context.Context, target string) (health.SwitchoverResult, error)
}

// BackendDrainer takes a backend out of rotation and back.
type BackendDrainer interface {
	// SetDrained marks the backend named name drained (no new sessions or
	// statements go to it; work in flight finishes) or undrained.
	SetDrained(name string, drained bool) error
	// IsDrained reports whether an operator drained the backend, for
	// /topology, `switchyard status` and switchyard_backend_drained.
	IsDrained(name string) bool
}

// Options are what New serves. Topology is required; any other capability
// left nil answers 501 Not Implemented.
type Options struct {
	Topology   Topology
	Cluster    Cluster             // members and their views in /topology; nil lists none
	Token      string              // bearer token; "" serves without authentication
	Pprof      bool                // serve /debug/pprof/
	Metrics    prometheus.Gatherer // served at /metrics
	Digests    DigestSource
	Switchover Switcher
	Drainer    BackendDrainer
	// ResetCooldown lifts failover.cooldown so that the next failure may
	// fail over at once (POST /failover/reset-cooldown).
	ResetCooldown func()
	// Reload reloads the config file as SIGHUP does and returns why it
	// refused the file, if it did.
	Reload func() error
	// Upgrader runs POST /upgrade and tells /topology how the last one went.
	Upgrader Upgrader
	Log      *slog.Logger // nil discards
}

// Handler is the admin HTTP handler.
type Handler struct {
	opts     Options
	mux      *http.ServeMux
	log      *slog.Logger
	token    atomic.Pointer[string]
	draining atomic.Bool
}

// maxDigests caps /digests?limit=.
const maxDigests = 1000

// New returns the admin handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, mux: http.NewServeMux(), log: opts.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.SetToken(opts.Token)

	// Open: probes and scrapers.
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError, // a broken collector must not hide the others
		}))
	}

	// Behind the token.
	h.handle("GET /topology", h.topology)
	h.handle("GET /digests", h.digests)
	h.handle("POST /switchover", h.switchover)
	h.handle("POST /backends/{name}/drain", func(w http.ResponseWriter, r *http.Request) { h.drain(w, r, true) })
	h.handle("POST /backends/{name}/undrain", func(w http.ResponseWriter, r *http.Request) { h.drain(w, r, false) })
	h.handle("POST /failover/reset-cooldown", h.resetCooldown)
	h.handle("POST /reload", h.reload)
	h.handle("POST /upgrade", h.upgrade)
	if opts.Pprof {
		h.handle("/debug/pprof/", pprof.Index)
		h.handle("/debug/pprof/cmdline", pprof.Cmdline)
		h.handle("/debug/pprof/profile", pprof.Profile)
		h.handle("/debug/pprof/symbol", pprof.Symbol)
		h.handle("/debug/pprof/trace", pprof.Trace)
	}
	return h
}

func (h *Handler) handle(pattern string, f http.HandlerFunc) { h.mux.Handle(pattern, h.auth(f)) }

// SetDraining makes /readyz fail so that load balancers stop sending.
func (h *Handler) SetDraining(on bool) { h.draining.Store(on) }

// Draining reports whether SetDraining(true) was called.
func (h *Handler) Draining() bool { return h.draining.Load() }

// SetToken replaces the bearer token (on a config reload); "" disables
// authentication.
func (h *Handler) SetToken(token string) { h.token.Store(&token) }

// ServeHTTP serves the endpoints; a path or method none of them takes is
// answered in JSON like every other error (the mux's own answers are plain
// text).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.noRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// noRoute answers 405 when the path exists for another method, else 404.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s; see docs/OPERATIONS.md (The admin API) for the list", r.URL.Path))
}

// auth requires the bearer token when one is set. The comparison is
// constant-time so that the token cannot be guessed byte by byte.
func (h *Handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := *h.token.Load()
		if want != "" {
			scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
				writeError(w, http.StatusUnauthorized, "this endpoint needs the admin token: send Authorization: Bearer <admin_token>")
				return
			}
		}
		next(w, r)
	})
}

// readyz says, one check per line, why the proxy is or is not ready.
func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	ready := true
	if h.draining.Load() {
		ready = false
		b.WriteString("fail: draining (shutting down)\n")
	}
	snap := h.opts.Topology.Snapshot()
	if p, ok := snap.Primary(); ok {
		fmt.Fprintf(&b, "ok: primary %s (epoch %d)\n", p.Name, snap.RecordedEpoch)
	} else {
		ready = false
		if snap.ProbedAt.IsZero() {
			b.WriteString("fail: no primary known (first probe round not finished)\n")
		} else {
			b.WriteString("fail: no primary known\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}

func (h *Handler) topology(w http.ResponseWriter, _ *http.Request) {
	var members []health.Member
	if h.opts.Cluster != nil {
		members = h.opts.Cluster.Members()
	}
	v := NewTopologyView(h.opts.Topology.Snapshot(), members)
	v.Draining = h.draining.Load()
	if h.opts.Upgrader != nil {
		v.Upgrade = h.opts.Upgrader.UpgradeStatus()
	}
	if h.opts.Drainer != nil {
		v.markDrained(h.opts.Drainer.IsDrained)
	}
	writeJSON(w, http.StatusOK, v)
}

// DigestsResponse is the body of GET /digests.
type DigestsResponse struct {
	Digests []DigestStat `json:"digests"`
}

func (h *Handler) digests(w http.ResponseWriter, r *http.Request) {
	if h.opts.Digests == nil {
		writeError(w, http.StatusNotImplemented, "statement digests are not collected by this build")
		return
	}
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDigests {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: use a number from 1 to %d", s, maxDigests))
			return
		}
		limit = n
	}
	d := h.opts.Digests.TopDigests(limit)
	if d == nil {
		d = []DigestStat{}
	}
	writeJSON(w, http.StatusOK, DigestsResponse{Digests: d})
}

// ActionResponse is the body of a successful POST.
type ActionResponse struct {
	Result  string `json:"result"` // "ok"
	Target  string `json:"target,omitempty"`
	Backend string `json:"backend,omitempty"`
	Drained *bool  `json:"drained,omitempty"`
	Epoch   uint64 `json:"epoch"` // the promotion epoch after the action
}

func (h *Handler) switchover(w http.ResponseWriter, r *http.Request) {
	if h.opts.Switchover == nil {
		writeError(w, http.StatusNotImplemented, "switchover is not available in this build")
		return
	}
	target := r.URL.Query().Get("target")
	if target == "" {
		writeError(w, http.StatusBadRequest, "say which replica to promote: POST /switchover?target=NAME")
		return
	}
	if !h.knownBackend(w, target) {
		return
	}
	log := h.log.With("target", target, "remote", r.RemoteAddr)
	log.Info("switchover requested")
	res, err := h.opts.Switchover.Switchover(r.Context(), target)
	code, body := switchoverAnswer(target, res, err)
	log.Info("switchover answered", "status", code, "outcome", string(res.Outcome), "err", err)
	writeJSON(w, code, body)
}

// SwitchoverResponse is the body of POST /switchover, whatever happened.
type SwitchoverResponse struct {
	Result   string   `json:"result"`          // "ok" when the primary changed
	Outcome  string   `json:"outcome"`         // health.SwitchoverOutcome, as in switchyard_switchovers_total
	Error    string   `json:"error,omitempty"` // why it failed or was refused
	From     string   `json:"from,omitempty"`
	Target   string   `json:"target"`
	Epoch    uint64   `json:"epoch,omitempty"`    // the promotion epoch recorded on the new primary
	Warnings []string `json:"warnings,omitempty"` // promoted, but this could not be finished
	Changed  []string `json:"changed,omitempty"`  // failed, and this stays changed: what to do
}

// switchoverAnswer maps a switchover's outcome to its status code: 200 when
// the primary changed (warnings or not), 409 when it was refused or failed
// with nothing changed (as the docs promise), 500 when it failed and left
// something changed, so that no client can read it as "nothing happened".
func switchoverAnswer(target string, res health.SwitchoverResult, err error) (int, SwitchoverResponse) {
	body := SwitchoverResponse{Outcome: string(res.Outcome), From: res.From, Target: target, Epoch: res.Epoch,
		Warnings: res.Warnings, Changed: res.Changed}
	switch {
	case err == nil:
		body.Result = "ok"
		return http.StatusOK, body
	case errors.Is(err, health.ErrNotRunning):
		body.Result, body.Error = "refused", "the health monitor is not running yet; retry in a moment"
		return http.StatusServiceUnavailable, body
	case res.Outcome == health.OutcomeFailedChanged:
		body.Result, body.Error = "failed", "switchover to "+target+" failed after changing servers; see changed: "+err.Error()
		return http.StatusInternalServerError, body
	default:
		body.Result, body.Error = "failed", "switchover to "+target+" failed, nothing changed: "+err.Error()
		return http.StatusConflict, body
	}
}

func (h *Handler) drain(w http.ResponseWriter, r *http.Request, drained bool) {
	if h.opts.Drainer == nil {
		writeError(w, http.StatusNotImplemented, "draining a backend is not available in this build")
		return
	}
	name := r.PathValue("name")
	if !h.knownBackend(w, name) {
		return
	}
	log := h.log.With("backend", name, "drained", drained, "remote", r.RemoteAddr)
	if err := h.opts.Drainer.SetDrained(name, drained); err != nil {
		log.Warn("backend drain change refused", "err", err)
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	log.Info("backend drain changed")
	writeJSON(w, http.StatusOK, ActionResponse{Result: "ok", Backend: name, Drained: &drained,
		Epoch: h.opts.Topology.Snapshot().RecordedEpoch})
}

func (h *Handler) resetCooldown(w http.ResponseWriter, r *http.Request) {
	if h.opts.ResetCooldown == nil {
		writeError(w, http.StatusNotImplemented, "resetting the failover cooldown is not available in this build")
		return
	}
	h.log.Warn("failover cooldown reset requested", "remote", r.RemoteAddr)
	h.opts.ResetCooldown()
	writeJSON(w, http.StatusOK, ActionResponse{Result: "ok", Epoch: h.opts.Topology.Snapshot().RecordedEpoch})
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.opts.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload over HTTP is not available; send SIGHUP")
		return
	}
	h.log.Info("config reload requested over HTTP", "remote", r.RemoteAddr)
	if err := h.opts.Reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ActionResponse{Result: "ok", Epoch: h.opts.Topology.Snapshot().RecordedEpoch})
}

// knownBackend answers 404 and returns false when name is not a configured
// backend.
func (h *Handler) knownBackend(w http.ResponseWriter, name string) bool {
	snap := h.opts.Topology.Snapshot()
	if _, ok := snap.Server(name); ok {
		return true
	}
	names := make([]string, len(snap.Servers))
	for i, s := range snap.Servers {
		names[i] = s.Name
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no backend named %q; backends are: %s", name, strings.Join(names, ", ")))
	return false
}

// ErrorResponse is the body of every JSON error.
type ErrorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
