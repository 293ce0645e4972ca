package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestUpgradeMovesPipelinedCommands: a client that sent its next command
// while the previous one still ran has those bytes in the session's read
// buffer when the upgrade moves it; they move with it, and the new process
// answers them.
func TestUpgradeMovesPipelinedCommands(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), "upgrade: {window: 10s, keep_parent: false}\n")
	s := testenv.StartSwitchyard(t, yaml, addr, adm, true)

	c := dialRaw(t, s.Addr)
	if _, err := c.nc.Write(packet(1, c.handshakeResponse("app", "app", "test"))); err != nil {
		t.Fatal(err)
	}
	if ok := c.read("the login's answer"); ok[0] != mysql.OK_HEADER {
		t.Fatalf("login: %q", ok)
	}
	both := append(packet(0, append([]byte{mysql.COM_QUERY}, "/* switchyard: primary */ SELECT SLEEP(1.5)"...)),
		packet(0, append([]byte{mysql.COM_QUERY}, "SELECT 'pipelined'"...))...)
	if _, err := c.nc.Write(both); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, topo.DB(t, topo.Primary, "root", "", ""), "SLEEP(1.5)")

	ac, err := admin.NewClient(adm, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := ac.Upgrade(ctx, "")
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	t.Cleanup(func() { testenv.StopPID(res.NewPID) })
	if res.Moved != 1 {
		t.Errorf("upgrade moved %d sessions, want the pipelining one (%+v)", res.Moved, res)
	}
	if v := c.singleValue(); v != "0" {
		t.Errorf("SLEEP answered %q", v)
	}
	if v := c.singleValue(); v != "pipelined" {
		t.Errorf("the pipelined query answered %q", v)
	}
	if v := c.query("SELECT 'after'"); v != "after" {
		t.Errorf("after the upgrade: %q", v)
	}
	m, err := testenv.ScrapeMetrics(ctx, adm)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Value("switchyard_upgrade_sessions_total", "result", "adopted"); got != 1 {
		t.Errorf("the new process adopted %v sessions, want 1", got)
	}
}
