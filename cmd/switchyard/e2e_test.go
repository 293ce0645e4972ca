package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/internal/testenv"
)

// These tests run the real binary against the real MariaDB topology.

// fastStop keeps test shutdowns short; the defaults are for load balancers.
const fastStop = "shutdown: {ready_delay: 200ms, drain_timeout: 2s}\n"

func runStatus(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(testenv.BuildSwitchyard(t), append([]string{"status"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func TestStatusShowsTheRealTopology(t *testing.T) {
	topo := testenv.Topology(t)
	const token = "status-test-token-0123456789"
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop+"admin_token: "+token+"\n")
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	c := heldConn(t, sy.Addr)
	for range 3 {
		var n int
		if err := c.QueryRowContext(context.Background(), "SELECT 40 + 2").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, err := runStatus(t, nil, "--admin", sy.AdminAddr, "--token", token)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, errOut)
	}
	t.Logf("switchyard status:\n%s", out)
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "primary db1") {
		t.Errorf("header %q does not name db1 as primary", lines[0])
	}
	for _, row := range [][]string{
		{"db1", "primary", "yes", topo.Primary},
		{"db2", "replica", "yes", topo.Replica1},
		{"db3", "replica", "yes", topo.Replica2},
	} {
		found := false
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) >= 4 && f[0] == row[0] && f[1] == row[1] && f[2] == row[2] && f[3] == row[3] {
				found = true
			}
		}
		if !found {
			t.Errorf("no row %v in:\n%s", row, out)
		}
	}
	if !strings.Contains(out, "busiest statements") || !strings.Contains(out, "SELECT") {
		t.Errorf("no digest of the statements run:\n%s", out)
	}

	// The token from the environment; a wrong one is refused with advice.
	if _, errOut, err := runStatus(t, []string{tokenEnv + "=" + token}, "--admin", sy.AdminAddr); err != nil {
		t.Errorf("status with %s: %v\n%s", tokenEnv, err, errOut)
	}
	if _, errOut, err := runStatus(t, nil, "--admin", sy.AdminAddr, "--token", "wrong-token-0123456789"); err == nil ||
		!strings.Contains(errOut, "refused the token") {
		t.Errorf("wrong token: %v %q", err, errOut)
	}
}

// heldConn is one client connection that must survive what the test does.
func heldConn(t *testing.T, addr string) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", testenv.DSN(addr, "app", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Not CONNECTION_ID(): it would pin the session to one backend.
	var one int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	return c
}

func stillWorks(t *testing.T, c *sql.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var one int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("held client connection broke: %v", err)
	}
}

func scrapeMetrics(t *testing.T, admin string) testenv.Metrics {
	t.Helper()
	m, err := testenv.ScrapeMetrics(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	_, body := get(t, "http://"+admin+"/metrics")
	return body
}

func TestSIGHUPWithABrokenFileChangesNothing(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop)
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	c := heldConn(t, sy.Addr)
	_, before := get(t, "http://"+adm+"/topology")

	if err := os.WriteFile(sy.ConfigPath, []byte(yaml+"backends: oops\nlisten_on: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sy.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the refused reload in the metrics", func() bool {
		return strings.Contains(scrape(t, adm), `switchyard_config_reloads_total{result="failure"} 1`+"\n")
	})
	if !strings.Contains(scrape(t, adm), "switchyard_config_last_reload_successful 0\n") {
		t.Errorf("last reload not marked failed")
	}
	stillWorks(t, c)
	if code, _ := get(t, "http://"+adm+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d after a refused reload", code)
	}
	_, after := get(t, "http://"+adm+"/topology")
	if strings.Count(before, `"name"`) != strings.Count(after, `"name"`) {
		t.Errorf("topology changed:\nbefore %s\nafter %s", before, after)
	}
	logs, _ := os.ReadFile(sy.LogPath)
	for _, want := range []string{"backends: set twice", `unknown field \"listen_on\"`, "problems=2", "running config stays"} {
		if !bytes.Contains(logs, []byte(want)) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestSIGHUPAddsABackend starts with the primary alone, where reads have
// nowhere to go but the primary, then adds the replicas by SIGHUP: a
// connection opened before the reload must stay up and its reads must move
// to a replica.
func TestSIGHUPAddsABackend(t *testing.T) {
	topo := testenv.Topology(t)
	addrs := topo.Addrs()
	yaml, addr, adm := testenv.ProxyConfig(t, addrs[:1], fastStop)
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	c := heldConn(t, sy.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	readPort := func() string {
		var port string
		if err := c.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil {
			t.Fatalf("read on the held connection: %v", err)
		}
		return port
	}
	_, primaryPort, _ := net.SplitHostPort(topo.Primary)
	if p := readPort(); p != primaryPort {
		t.Fatalf("with the primary alone a read ran on port %s, want the primary's %s", p, primaryPort)
	}

	full, _, _ := testenv.ProxyConfig(t, addrs, fastStop)
	// Same listeners as the running instance: only the backends differ.
	full = strings.Replace(full, firstLine(full), firstLine(yaml), 1)
	full = strings.Replace(full, secondLine(full), secondLine(yaml), 1)
	if err := os.WriteFile(sy.ConfigPath, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sy.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	client, err := admin.NewClient(adm, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "db2 and db3 to be probed as replicas", func() bool {
		v, err := client.Topology(ctx)
		if err != nil || len(v.Servers) != 3 {
			return false
		}
		for _, s := range v.Servers[1:] {
			if s.Role != "replica" {
				return false
			}
		}
		return true
	})
	if !strings.Contains(scrape(t, adm), `switchyard_config_reloads_total{result="success"} 1`+"\n") {
		t.Errorf("reload not counted as a success")
	}
	eventually(t, 15*time.Second, "reads on the held connection to reach a replica", func() bool {
		return readPort() != primaryPort
	})
	stillWorks(t, c)
}

func firstLine(s string) string  { return strings.SplitN(s, "\n", 2)[0] }
func secondLine(s string) string { return strings.SplitN(s, "\n", 3)[1] }

// TestSIGTERMFailsReadinessBeforeClosing runs the binary itself, to see its
// exit status and timing.
func TestSIGTERMFailsReadinessBeforeClosing(t *testing.T) {
	topo := testenv.Topology(t)
	const readyDelay = 1500 * time.Millisecond
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), "shutdown: {ready_delay: 1500ms, drain_timeout: 5s}\n")
	dir := t.TempDir()
	path, logPath := filepath.Join(dir, "switchyard.yaml"), filepath.Join(dir, "switchyard.log")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.BuildSwitchyard(t), "--config", path, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when cmd.Wait returned waitErr
	var waitErr error
	go func() { waitErr = cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("switchyard log:\n%s", b)
		}
	})
	eventually(t, 30*time.Second, "/readyz", func() bool {
		code, _, err := tryGet("http://" + adm + "/readyz")
		return err == nil && code == 200
	})
	// A transaction open across the stop.
	c := heldConn(t, addr)
	ctx := context.Background()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "/readyz to fail", func() bool {
		code, body, err := tryGet("http://" + adm + "/readyz")
		return err == nil && code == 503 && strings.Contains(body, "draining")
	})
	if time.Since(sent) < readyDelay {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("the listener closed before ready_delay: %v", err)
		}
		conn.Close()
	} else {
		t.Logf("readyz flip seen only after %s; the listener check is skipped", time.Since(sent))
	}

	// Past ready_delay the open transaction still finishes ...
	time.Sleep(time.Until(sent.Add(readyDelay + 300*time.Millisecond)))
	if _, err := tx.ExecContext(ctx, "SELECT 2"); err != nil {
		t.Errorf("open transaction cut during drain: %v", err)
	}
	// ... while new connections are refused ...
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("new connections still accepted after ready_delay")
	}
	// ... and the process waits for it.
	select {
	case <-exited:
		t.Fatalf("switchyard exited with a transaction open, %s after SIGTERM", time.Since(sent))
	default:
	}
	if err := tx.Commit(); err != nil {
		t.Errorf("commit during drain: %v", err)
	}

	select {
	case <-exited:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			t.Errorf("exit status %d, want 0", ee.ExitCode())
		} else if waitErr != nil {
			t.Error(waitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("switchyard did not exit within 20s of SIGTERM")
	}
	if d := time.Since(sent); d < readyDelay {
		t.Errorf("exited %s after SIGTERM, before ready_delay (%s)", d, readyDelay)
	}
	logs, _ := os.ReadFile(logPath)
	for _, want := range []string{`"msg":"draining: /readyz now fails"`, `"msg":"switchyard stopped"`} {
		if !bytes.Contains(logs, []byte(want)) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// tryGet is get without failing the test: the server may be going away.
func tryGet(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}

// TestMetricsMoveWithTraffic scrapes the real binary before and after some
// statements: the proxy's and health's series are wired in, move, and
// every switchyard_* family passes promlint.
func TestMetricsMoveWithTraffic(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop)
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	before := scrapeMetrics(t, adm)
	for _, m := range []string{"switchyard_build_info", "switchyard_config_last_reload_successful", "go_goroutines", "process_cpu_seconds_total"} {
		if !before.Has(m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	c := heldConn(t, sy.Addr)
	ctx := context.Background()
	for range 20 {
		var s string
		if err := c.QueryRowContext(ctx, "SELECT REPEAT('x', 1000)").Scan(&s); err != nil {
			t.Fatal(err)
		}
	}
	after := scrapeMetrics(t, adm)

	for _, m := range []string{"switchyard_statements_total", "switchyard_statement_duration_seconds",
		"switchyard_client_connections_accepted_total", "switchyard_relayed_bytes_total"} {
		if after.Value(m) <= before.Value(m) {
			t.Errorf("%s did not move with traffic: %v -> %v", m, before.Value(m), after.Value(m))
		}
	}
	if n := after.Value("switchyard_client_connections"); n < 1 {
		t.Errorf("switchyard_client_connections = %v with a client connected", n)
	}
	if n := after.Value("switchyard_backend_up"); n != 3 {
		t.Errorf("switchyard_backend_up sums to %v, want 3 backends up", n)
	}

	problems, err := promlint.New(strings.NewReader(scrape(t, adm))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "switchyard_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestSIGHUPRotatesAPassword changes a user's password on the servers and
// in the file: after SIGHUP, new backend connections log in with the new
// password (the pools learned it), not only new client logins.
func TestSIGHUPRotatesAPassword(t *testing.T) {
	topo := testenv.Topology(t)
	user := fmt.Sprintf("rot%d", os.Getpid())
	root := topo.DB(t, topo.Primary, "root", "", "")
	for _, q := range []string{
		"CREATE USER '" + user + "'@'%' IDENTIFIED BY 'one'",
		"GRANT SELECT ON test.* TO '" + user + "'@'%'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	withUser := func(yaml, pass string) string {
		return strings.Replace(yaml, "users:\n", fmt.Sprintf("users:\n  - {name: %s, password: %s}\n", user, pass), 1)
	}
	base, addr, adm := testenv.ProxyConfig(t, topo.Addrs(), fastStop)
	sy := testenv.StartSwitchyard(t, withUser(base, "one"), addr, adm, true)
	query := func(pass string) error {
		db, err := sql.Open("mysql", testenv.DSN(sy.Addr, user, pass, "test"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var one int
		return db.QueryRow("SELECT 1").Scan(&one)
	}
	eventually(t, 10*time.Second, "the new user on every server", func() bool { return query("one") == nil })

	if _, err := root.Exec("ALTER USER '" + user + "'@'%' IDENTIFIED BY 'two'"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sy.ConfigPath, []byte(withUser(base, "two")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sy.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the reload in the metrics", func() bool {
		return strings.Contains(scrape(t, adm), `switchyard_config_reloads_total{result="success"} 1`+"\n")
	})
	// Close the pooled connections the old password opened, on every
	// server, so that the next statement must dial.
	for _, a := range topo.Addrs() {
		db := topo.DB(t, a, "root", "", "")
		rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			_, _ = db.Exec(fmt.Sprintf("KILL %d", id))
		}
	}
	time.Sleep(300 * time.Millisecond) // past the pool's 100ms trust window for idle connections
	if err := query("two"); err != nil {
		t.Fatalf("after the rotation, a statement that needs a new backend connection fails: %v", err)
	}
	if err := query("one"); err == nil {
		t.Fatal("the old password still logs in to the proxy")
	}
}

// TestSIGHUPResizesPools shrinks pool.max_per_backend from 10 to 1 by
// SIGHUP: before, a second client runs while a first holds a transaction
// open; after, the second waits pool.wait_timeout and gets 1429 naming the
// busy pool, and runs again once the transaction ends.
func TestSIGHUPResizesPools(t *testing.T) {
	topo := testenv.Topology(t)
	pool := func(max int) string { return fmt.Sprintf("pool: {max_per_backend: %d, wait_timeout: 300ms}\n", max) }
	yaml, addr, adm := testenv.ProxyConfig(t, topo.Addrs()[:1], fastStop+pool(10))
	sy := testenv.StartSwitchyard(t, yaml, addr, adm, true)
	a, b := heldConn(t, sy.Addr), heldConn(t, sy.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// secondWhileFirstInTx runs a statement on b while a holds a backend
	// connection in a transaction.
	secondWhileFirstInTx := func() error {
		t.Helper()
		var one int
		if _, err := a.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if err := a.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := a.ExecContext(ctx, "COMMIT"); err != nil {
				t.Fatal(err)
			}
		}()
		return b.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	if err := secondWhileFirstInTx(); err != nil {
		t.Fatalf("with 10 connections per backend: %v", err)
	}

	if err := os.WriteFile(sy.ConfigPath, []byte(strings.Replace(yaml, pool(10), pool(1), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sy.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the reload", func() bool {
		return strings.Contains(scrape(t, adm), `switchyard_config_reloads_total{result="success"} 1`+"\n")
	})
	err := secondWhileFirstInTx()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1429 || !strings.Contains(me.Message, "busy") {
		t.Fatalf("with 1 connection per backend, while another client holds it: %v; want 1429 saying the pool is busy", err)
	}
	stillWorks(t, b)
	stillWorks(t, a)
}
