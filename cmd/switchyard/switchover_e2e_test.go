package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/internal/testenv"
)

// postSwitchover posts a switchover to a real proxy and decodes its answer.
func postSwitchover(t *testing.T, adminAddr, target string) (int, admin.SwitchoverResponse) {
	t.Helper()
	resp, err := http.Post("http://"+adminAddr+"/switchover?target="+target, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v admin.SwitchoverResponse
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

// switchoverCount reads switchyard_switchovers_total{result=result}.
func switchoverCount(t *testing.T, adminAddr, result string) string {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `switchyard_switchovers_total{result="` + result + `"} `
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return "absent"
}

// TestSwitchoverAnswerMetricAndLogAgree: a real switchyard in front of its
// own topology, driven as the README says. Without a replication account
// the switchover answers 409 with outcome refused, counts refused, logs
// "nothing changed", and db1 stays the primary; after a reload that adds
// the account it answers 200, counts success, and db2 is the primary. On
// today's main the first answered 409 "failed" after promoting db2.
func TestSwitchoverAnswerMetricAndLogAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers")
	}
	topo := testenv.NewTopology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop)
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)

	code, v := postSwitchover(t, sy.AdminAddr, "db2")
	if code != http.StatusConflict || v.Outcome != "refused" || !strings.Contains(v.Error, "nothing changed") ||
		!strings.Contains(v.Error, "failover.replication_user") {
		t.Fatalf("without a replication account: %d %+v", code, v)
	}
	if got := switchoverCount(t, sy.AdminAddr, "refused"); got != "1" {
		t.Errorf(`switchovers_total{result="refused"} = %s, want 1`, got)
	}
	if got := switchoverCount(t, sy.AdminAddr, "success"); got != "0" {
		t.Errorf(`switchovers_total{result="success"} = %s, want 0`, got)
	}
	if tv := topologyOf(t, sy.AdminAddr); tv.Primary != "db1" || tv.Epoch != 0 {
		t.Fatalf("after a refused switchover: primary %q epoch %d, want db1 and 0", tv.Primary, tv.Epoch)
	}
	logs := readFile(t, sy.LogPath)
	if !strings.Contains(logs, "switchover refused; nothing changed") || strings.Contains(logs, "switchover: done") {
		t.Errorf("the log does not match the answer:\n%s", logs)
	}

	withRepl := yaml + "failover: {replication_user: repl, replication_password: repl}\n"
	if err := os.WriteFile(sy.ConfigPath, []byte(withRepl), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Post("http://"+sy.AdminAddr+"/reload", "", nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %v %v", resp, err)
	}
	code, v = postSwitchover(t, sy.AdminAddr, "db2")
	if code != http.StatusOK || v.Outcome != "success" || v.Epoch != 1 || len(v.Warnings) != 0 {
		t.Fatalf("with the account: %d %+v", code, v)
	}
	if got := switchoverCount(t, sy.AdminAddr, "success"); got != "1" {
		t.Errorf(`switchovers_total{result="success"} = %s, want 1`, got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tv := topologyOf(t, sy.AdminAddr)
		if tv.Primary == "db2" && tv.Epoch == 1 && tv.Servers[0].Role == "replica" && tv.Servers[0].Source == topo.Replica1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the switchover: primary %q epoch %d, db1 %s from %q", tv.Primary, tv.Epoch, tv.Servers[0].Role, tv.Servers[0].Source)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func topologyOf(t *testing.T, adminAddr string) admin.TopologyView {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/topology")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v admin.TopologyView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
