package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/testenv"
)

func runAction(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := realMain(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestActionsAgainstARealProxy: the operator's subcommands do what the
// admin API does, and what they set shows where an operator looks
// (status, /metrics).
func TestActionsAgainstARealProxy(t *testing.T) {
	topo := testenv.Topology(t)
	const token = "actions-test-token-0123456789"
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop+"admin_token: "+token+"\n")
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	auth := []string{"--admin", sy.AdminAddr, "--token", token}

	metric := func() string {
		resp, err := http.Get("http://" + sy.AdminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(l, `switchyard_backend_drained{backend="db3"}`) {
				return strings.TrimSpace(l)
			}
		}
		return ""
	}
	if out, errOut, code := runAction(t, append([]string{"drain", "db3"}, auth...)...); code != 0 || !strings.Contains(out, "db3 drained") {
		t.Fatalf("drain: %d %q %q", code, out, errOut)
	}
	if out, _, _ := runAction(t, append([]string{"status", "--digests", "0"}, auth...)...); !strings.Contains(out, "DRAINED") {
		t.Errorf("status does not show the drain:\n%s", out)
	}
	if m := metric(); m != `switchyard_backend_drained{backend="db3"} 1` {
		t.Errorf("metric after drain: %q", m)
	}
	if _, errOut, code := runAction(t, append([]string{"drain", "db3", "--undo"}, auth...)...); code != 0 {
		t.Fatalf("undrain: %d %q", code, errOut)
	}
	if m := metric(); m != `switchyard_backend_drained{backend="db3"} 0` {
		t.Errorf("metric after undrain: %q", m)
	}
	if out, errOut, code := runAction(t, append([]string{"reset-cooldown"}, auth...)...); code != 0 || !strings.Contains(out, "cooldown reset") {
		t.Errorf("reset-cooldown: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(readFile(t, sy.LogPath), "failover: cooldown reset by an operator") {
		t.Error("the monitor did not log the cooldown reset")
	}
	// Refusals exit 1 with the server's reason; nothing is switched.
	if _, errOut, code := runAction(t, append([]string{"switchover", "--to", "db9"}, auth...)...); code != 1 || !strings.Contains(errOut, `no backend named \"db9\"`) && !strings.Contains(errOut, `no backend named "db9"`) {
		t.Errorf("switchover to an unknown backend: %d %q", code, errOut)
	}
	if _, errOut, code := runAction(t, append([]string{"switchover", "--to", "db1"}, auth...)...); code != 1 || !strings.Contains(errOut, "db1 is already the primary") {
		t.Errorf("switchover to the primary: %d %q", code, errOut)
	}
	if _, _, code := runAction(t, "drain"); code != 2 {
		t.Errorf("drain without a name: exit %d, want 2", code)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
