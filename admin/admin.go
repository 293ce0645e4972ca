// Package admin serves the operator's HTTP endpoints on admin_listen:
// /healthz (the process is alive), /readyz (ready for traffic: topology
// known, a primary reachable, not draining), /topology (JSON snapshot) and,
// when enabled, /debug/pprof/.
//
// Handlers read the topology snapshot only; they are safe to call
// concurrently with everything else.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/switchyard/switchyard/health"
)

// Topology is what the admin endpoints need from health.
type Topology interface {
	Snapshot() *health.Topology
}

// Handler is the admin HTTP handler.
type Handler struct {
	mux      *http.ServeMux
	topo     Topology
	draining atomic.Bool
}

// New returns the admin handler. pprofOn exposes /debug/pprof/.
func New(topo Topology, pprofOn bool) *Handler {
	h := &Handler{mux: http.NewServeMux(), topo: topo}
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /topology", h.topology)
	if pprofOn {
		h.mux.HandleFunc("/debug/pprof/", pprof.Index)
		h.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		h.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		h.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return h
}

// Handle adds another endpoint (for example /metrics).
func (h *Handler) Handle(pattern string, hh http.Handler) { h.mux.Handle(pattern, hh) }

// SetDraining makes /readyz fail so that load balancers stop sending.
func (h *Handler) SetDraining(on bool) { h.draining.Store(on) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if h.draining.Load() {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	}
	if _, ok := h.topo.Snapshot().Primary(); !ok {
		http.Error(w, "no primary known\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (h *Handler) topology(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h.topo.Snapshot())
}
