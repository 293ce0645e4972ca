package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/health"
)

type fakeUpgrader struct {
	binary string
	err    error
	last   *UpgradeResponse
}

func (f *fakeUpgrader) Upgrade(_ context.Context, binary string) (UpgradeResponse, error) {
	f.binary = binary
	res := UpgradeResponse{Result: "ok", Binary: binary, NewPID: 42, Moved: 3}
	if f.err != nil {
		res.Result = "failed"
	}
	f.last = &res
	return res, f.err
}

func (f *fakeUpgrader) UpgradeStatus() *UpgradeResponse { return f.last }

func TestUpgradeEndpoint(t *testing.T) {
	topo := newTopo(&health.Topology{})
	const token = "0123456789abcdef0123"
	for _, tc := range []struct {
		name, token, target string
		err                 error
		want                int
		body                string
	}{
		{"ok", token, "/upgrade", nil, http.StatusOK, `"new_pid": 42`},
		{"another binary with a token", token, "/upgrade?binary=/opt/new", nil, http.StatusOK, `"binary": "/opt/new"`},
		{"failed and rolled back", token, "/upgrade", errors.New("state version differs"), http.StatusConflict, "state version differs"},
		{"no token", "", "/upgrade", nil, http.StatusUnauthorized, "admin token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &fakeUpgrader{err: tc.err}
			h := New(Options{Topology: topo, Token: token, Upgrader: up})
			r := do(t, h, "POST", tc.target, tc.token)
			if r.code != tc.want || !strings.Contains(r.body, tc.body) {
				t.Fatalf("POST %s: %d %s, want %d with %q", tc.target, r.code, r.body, tc.want, tc.body)
			}
		})
	}
	t.Run("another binary needs a token", func(t *testing.T) {
		up := &fakeUpgrader{}
		h := New(Options{Topology: topo, Upgrader: up})
		if r := do(t, h, "POST", "/upgrade?binary=/tmp/evil", ""); r.code != http.StatusForbidden || up.binary != "" {
			t.Fatalf("without admin_token: %d %s (upgrader called with %q), want 403", r.code, r.body, up.binary)
		}
		if r := do(t, h, "POST", "/upgrade", ""); r.code != http.StatusOK {
			t.Fatalf("the running binary without admin_token: %d %s", r.code, r.body)
		}
	})
	t.Run("not available", func(t *testing.T) {
		if r := do(t, New(Options{Topology: topo}), "POST", "/upgrade", ""); r.code != http.StatusNotImplemented {
			t.Fatalf("no upgrader: %d", r.code)
		}
	})
}
