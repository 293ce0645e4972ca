package proxy_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestBackendRefusesConfiguredPassword: the config holds a password the
// servers do not accept for a user. The client, whose own login to the
// proxy is right, gets 1429 saying the proxy's configured password was
// refused, not the 1045 a wrong client password gets, and the proxy logs
// it once with the field to fix, however many clients try.
func TestBackendRefusesConfiguredPassword(t *testing.T) {
	topo := testenv.Topology(t)
	root := topo.DB(t, topo.Primary, "root", "", "")
	mustExec(t, root, "CREATE USER IF NOT EXISTS 'stale'@'%' IDENTIFIED BY 'old'")
	mustExec(t, root, "GRANT ALL PRIVILEGES ON test.* TO 'stale'@'%'")
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: stale, password: new}\n", 1)
	p := testenv.StartSwitchyard(t, yaml, addr, admin, true)

	for range 3 {
		err := openAs(t, p.Addr, "stale", "new").Ping()
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1429 || !strings.Contains(me.Message, "switchyard's configured password for this user is refused by backend db1") ||
			!strings.Contains(me.Message, "users[].password") {
			t.Fatalf("login with a password the backend refuses: %v, want 1429 naming users[].password", err)
		}
	}
	// A wrong client password is still the client's 1045.
	var me *mysql.MySQLError
	if err := openAs(t, p.Addr, "stale", "nope").Ping(); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("wrong client password: %v, want 1045", err)
	}
	logs := readLog(t, p)
	if n := strings.Count(logs, "backend refused switchyard's configured password"); n != 1 {
		t.Errorf("logged %d times, want once per backend and user:\n%s", n, logs)
	}
	if !strings.Contains(logs, "field=users[].password") || !strings.Contains(logs, "user=stale") {
		t.Errorf("the log line does not name the user and the field:\n%s", logs)
	}
}

// TestMonitorLoginRefused: a monitor password the servers refuse shows as
// such in /topology, `switchyard status` does not say healthy, and a
// client's 1429 says what to fix first, within what the mariadb CLI
// prints (512 bytes).
func TestMonitorLoginRefused(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, `monitor: {user: root, password: ""}`, `monitor: {user: root, password: "wrong"}`, 1)
	p := testenv.StartSwitchyard(t, yaml, addr, admin, false)

	var topoView struct {
		Failover string `json:"failover"`
		Servers  []struct {
			Name      string `json:"name"`
			LastError string `json:"last_error"`
		} `json:"servers"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.AdminAddr + "/topology")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&topoView)
			resp.Body.Close()
		}
		if err == nil && len(topoView.Servers) == 3 && topoView.Servers[2].LastError != "" && strings.HasPrefix(topoView.Failover, "no primary") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/topology: %+v, %v", topoView, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range topoView.Servers {
		if !strings.HasPrefix(s.LastError, "monitor login refused: fix monitor.user/monitor.password") || strings.Contains(s.LastError, "handleAuthResult") {
			t.Errorf("%s last_error = %q, want the refusal named, advice first, no library internals", s.Name, s.LastError)
		}
	}
	out, err := exec.Command(p.Cmd.Path, "status", "--admin", p.AdminAddr, "--digests", "0").CombinedOutput()
	if err != nil || strings.Contains(string(out), "failover: healthy") || !strings.Contains(string(out), "failover: no primary known: fix monitor.user/monitor.password") {
		t.Errorf("switchyard status (%v):\n%s", err, out)
	}

	db := open(t, p.Addr, "")
	_, err = db.Exec("INSERT INTO test.t VALUES (1)")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1429 {
		t.Fatalf("a write without a primary: %v, want 1429", err)
	}
	if !strings.HasPrefix(me.Message, "switchyard knows no primary because the servers refuse its monitor login: an operator must fix monitor.user/monitor.password") || len(me.Message) >= 512 {
		t.Errorf("1429 message (%d bytes) = %q, want the advice first and under 512 bytes", len(me.Message), me.Message)
	}
}

func readLog(t *testing.T, p *testenv.Switchyard) string {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
