package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestStatementOnFormerPrimaryEnds freezes the primary (SIGSTOP: its
// sockets stay open and nothing answers, as when its host hangs) while a
// write and a read run on it. Once a replica is promoted, instead of
// waiting on the frozen server for as long as it stays frozen, the write
// must end with 1158 saying its outcome is unknown, and the read, of which
// nothing was sent yet, must run again on the new primary.
func TestStatementOnFormerPrimaryEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes the primary of a private topology")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	topo := testenv.NewTopology(t)
	s := topo.Proxy(t, "health: {interval: 500ms, timeout: 1s}\nfailover: {cooldown: 2s}\n")
	db := open(t, s.Addr, "timeout=5s") // no read timeout: the client waits as long as the proxy does

	wrote := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "DO SLEEP(600)") // DO is routed as a write
		wrote <- err
	}()
	type answer struct {
		port string
		err  error
	}
	read := make(chan answer, 1)
	go func() {
		var slept int
		var port string
		err := db.QueryRowContext(ctx, "/* switchyard: primary */ SELECT SLEEP(5), @@port").Scan(&slept, &port)
		read <- answer{port, err}
	}()
	primary := topo.DB(t, topo.Primary, "root", "", "")
	waitFor(t, 15*time.Second, "both statements running on the primary", func() (bool, string) {
		var n int
		err := primary.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(%' AND INFO NOT LIKE '%PROCESSLIST%'").Scan(&n)
		return err == nil && n == 2, fmt.Sprintf("%d running, %v", n, err)
	})

	topo.Freeze(t, topo.Primary)
	frozen := time.Now()
	var promoted string
	waitFor(t, 40*time.Second, "a new primary in the proxy", func() (bool, string) {
		p, err := proxyPrimary(s)
		promoted = p
		return err == nil && p != topo.Primary, fmt.Sprintf("%s %v", p, err)
	})
	promotedAt := time.Now()
	select {
	case err := <-wrote:
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1158 || !strings.Contains(me.Message, "outcome is unknown") {
			t.Fatalf("the write on the frozen primary ended with %v, want 1158 saying its outcome is unknown", err)
		}
		t.Logf("frozen; promoted after %v; the write ended %v after the promotion: %v",
			promotedAt.Sub(frozen).Round(time.Millisecond), time.Since(promotedAt).Round(time.Millisecond), err)
	case <-time.After(20 * time.Second):
		t.Fatal("the write on the former primary still waits 20s after the promotion")
	}
	select {
	case a := <-read:
		if a.err != nil || !strings.HasSuffix(promoted, ":"+a.port) {
			t.Fatalf("the read on the frozen primary: port %q, %v; want an answer from the new primary %s", a.port, a.err, promoted)
		}
		t.Logf("the read ran again on the new primary: answered %v after the promotion", time.Since(promotedAt).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the read on the former primary still waits 20s after the promotion")
	}
	m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"switchyard_statements_ended_on_former_primary_total": 2,
		"switchyard_reads_retried_total":                      1,
	} {
		if v := m.Value(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("the next statement after the promotion: %v", err)
	}
}

// TestReadRunsAgainWhenItsReplicaFails runs a read on a replica that then
// hangs (SIGSTOP: its sockets stay open and nothing answers), and a read on
// the other replica that then crashes (SIGKILL: its connections reset).
// Neither read may fail or wait on the dead server: before any of its
// answer reached the client, it runs again where the router sends it next
// (the other replica, then the primary).
func TestReadRunsAgainWhenItsReplicaFails(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes and kills the replicas of a private topology")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	topo := testenv.NewTopology(t)
	s := topo.Proxy(t, "health: {interval: 500ms, timeout: 1s}\nfailover: {auto: false}\n")
	db := open(t, s.Addr, "timeout=5s") // no read timeout: the client waits as long as the proxy does
	ports := map[string]string{}
	for _, addr := range topo.Addrs() {
		ports[addr[strings.LastIndexByte(addr, ':')+1:]] = addr
	}

	// readWhile runs a slow read through the proxy, does what to the
	// replica it runs on, and returns the server that answered.
	failed := map[string]bool{}
	readWhile := func(what string, do func(addr string)) string {
		t.Helper()
		type answer struct {
			port string
			err  error
		}
		done := make(chan answer, 1)
		start := time.Now()
		go func() {
			var slept int
			var port string
			err := db.QueryRowContext(ctx, "SELECT SLEEP(3), @@port").Scan(&slept, &port)
			done <- answer{port, err}
		}()
		var on string
		waitFor(t, 15*time.Second, "the read running on a replica", func() (bool, string) {
			for _, addr := range []string{topo.Replica1, topo.Replica2} {
				if failed[addr] {
					continue // frozen: it would not answer
				}
				var n int
				err := topo.DB(t, addr, "root", "", "").QueryRowContext(ctx,
					"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(3)%'").Scan(&n)
				if err == nil && n == 1 {
					on = addr
					return true, ""
				}
			}
			return false, "not seen on a replica"
		})
		do(on)
		failed[on] = true
		select {
		case a := <-done:
			if a.err != nil {
				t.Fatalf("%s: the read failed: %v", what, a.err)
			}
			if ports[a.port] == on {
				t.Fatalf("%s: the read was answered by %s, the replica it failed on", what, on)
			}
			t.Logf("%s on %s: answered by %s after %v", what, on, ports[a.port], time.Since(start).Round(time.Millisecond))
			return ports[a.port]
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the read still waits 30s after its replica %s failed", what, on)
		}
		return ""
	}

	readWhile("hung replica", func(addr string) { topo.Freeze(t, addr) })
	if by := readWhile("crashed replica", func(addr string) { topo.Kill(t, addr) }); by != topo.Primary {
		t.Errorf("with both replicas gone the read was answered by %s, want the primary %s", by, topo.Primary)
	}

	m, err := testenv.ScrapeMetrics(ctx, s.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"switchyard_statements_ended_on_down_replica_total": 1, // the hung one; the crashed one reset its own
		"switchyard_reads_retried_total":                    2,
	} {
		if v := m.Value(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
