package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Upgrader starts the new binary and hands it this process's listeners
// and sessions (switchyard upgrade): cmd/switchyard implements it.
type Upgrader interface {
	// Upgrade returns when the new process serves every session that
	// could move, or when the upgrade failed and this process kept
	// serving (rolled back); the error is nil exactly when the new
	// process took over.
	Upgrade(ctx context.Context, binary string) (UpgradeResponse, error)
	// UpgradeStatus is the last upgrade's outcome, for /topology.
	UpgradeStatus() *UpgradeResponse
}

// UpgradeResponse is the body of POST /upgrade, whatever happened, and
// the upgrade field of /topology: in the old process the upgrade it ran,
// in the new one the handoff it came from (moved: the sessions it adopted,
// failed: those it refused).
type UpgradeResponse struct {
	Result  string    `json:"result"`          // "ok", "failed" (rolled back: the old process serves), "running"
	Error   string    `json:"error,omitempty"` // why it failed
	Binary  string    `json:"binary"`
	OldPID  int       `json:"old_pid"`
	NewPID  int       `json:"new_pid,omitempty"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	// Sessions: moved to the new process; tls and failed stay in the old
	// one until they end (at most upgrade.window, then drained); left
	// were still mid-command when the window ended: each moves at its
	// next command, within one more upgrade.window.
	Moved  int `json:"moved"`
	TLS    int `json:"tls"`
	Failed int `json:"failed"`
	Left   int `json:"left"`
}

func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request) {
	if h.opts.Upgrader == nil {
		writeError(w, http.StatusNotImplemented, "upgrade is not available in this build")
		return
	}
	binary := r.URL.Query().Get("binary")
	if binary != "" && *h.token.Load() == "" {
		// Without a token any local user could have the proxy run a file
		// of their choosing.
		writeError(w, http.StatusForbidden, "naming a binary to upgrade to needs admin_token to be set; without it only the running binary's path may be upgraded to (omit binary)")
		return
	}
	log := h.log.With("binary", binary, "remote", r.RemoteAddr)
	log.Info("upgrade requested")
	res, err := h.opts.Upgrader.Upgrade(r.Context(), binary)
	code := http.StatusOK
	if err != nil {
		code = http.StatusConflict
		res.Result, res.Error = "failed", err.Error()
	}
	log.Info("upgrade answered", "status", code, "result", res.Result, "new_pid", res.NewPID, "moved", res.Moved, "err", err)
	writeJSON(w, code, res)
}

// Upgrade calls POST /upgrade[?binary=PATH] and returns the answer; the
// error is non-nil when the new process did not take over.
func (c *Client) Upgrade(ctx context.Context, binary string) (UpgradeResponse, error) {
	var v UpgradeResponse
	path := "/upgrade"
	if binary != "" {
		path += "?binary=" + url.QueryEscape(binary)
	}
	code, err := c.post(ctx, path, &v)
	if err == nil && code != http.StatusOK {
		msg := v.Error
		if msg == "" {
			msg = "no reason given"
		}
		err = fmt.Errorf("upgrade failed, the running process keeps serving: %s (HTTP %d)", msg, code)
	}
	return v, err
}
