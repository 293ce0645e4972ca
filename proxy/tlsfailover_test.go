package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestFailoverOverTLS gives all three servers of a private topology a
// certificate from a test CA and makes the proxy's monitor account require
// TLS (REQUIRE SSL: a plain login is refused), with backend_tls verify_ca.
// Killing the primary must still promote a replica and repoint the other:
// every statement of the failover (catch-up checks, promotion, the epoch
// record, CHANGE MASTER on the other replica) goes over the monitor's
// encrypted connections. Writes through the proxy then run on the new
// primary, encrypted.
func TestFailoverOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the primary of a private topology")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	topo := testenv.NewTopology(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	for i, addr := range topo.Addrs() {
		cert, key := ca.Issue(t, dir, fmt.Sprintf("db%d.test", i+1))
		topo.EnableTLS(t, addr, ca.File, cert, key)
	}
	primary := topo.DB(t, topo.Primary, "root", "", "")
	mustExec(t, primary, "CREATE USER mon@'%' IDENTIFIED BY 'mon' REQUIRE SSL")
	mustExec(t, primary, "GRANT ALL ON *.* TO mon@'%' WITH GRANT OPTION")
	for _, r := range []string{topo.Replica1, topo.Replica2} { // the account reaches the replicas by replication
		db := topo.DB(t, r, "root", "", "")
		waitFor(t, 20*time.Second, "the monitor account on "+r, func() (bool, string) {
			var n int
			err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE user = 'mon'").Scan(&n)
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
	}
	plain, err := sql.Open("mysql", testenv.DSN(topo.Replica1, "mon", "mon", "")) // go-sql-driver: no TLS unless asked
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.PingContext(ctx); err == nil {
		t.Fatal("a plain login of the monitor account succeeded; want it refused")
	}

	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), fmt.Sprintf(
		"backend_tls: {mode: verify_ca, ca: %q}\nhealth: {interval: 500ms, timeout: 1s}\nfailover: {cooldown: 2s}\n", ca.File))
	yaml = strings.Replace(yaml, `monitor: {user: root, password: ""}`, "monitor: {user: mon, password: mon}", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	db := open(t, s.Addr, "timeout=5s")
	mustExec(t, db, "CREATE TABLE tlsfo (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO tlsfo VALUES (1)")

	topo.Kill(t, topo.Primary)
	killed := time.Now()
	var promoted string
	waitFor(t, 40*time.Second, "a new primary in the proxy", func() (bool, string) {
		p, err := proxyPrimary(s)
		promoted = p
		return err == nil && p != topo.Primary, fmt.Sprintf("%s %v", p, err)
	})
	waitFor(t, 20*time.Second, "a write through the proxy", func() (bool, string) {
		_, err := db.ExecContext(ctx, "INSERT INTO tlsfo VALUES (2)")
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("primary killed; %s promoted over TLS, writes back %v after the kill", promoted, time.Since(killed).Round(time.Millisecond))

	var cipher string
	if err := db.QueryRowContext(ctx, "/* switchyard: primary */ SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'").Scan(&cipher); err != nil || cipher == "" {
		t.Errorf("Ssl_cipher on the new primary = %q, %v; want an encrypted connection", cipher, err)
	}
	// The other replica follows the new primary: repointed by the monitor,
	// it gets the write made there. (Row 1 may be gone everywhere: without
	// semi-sync a kill right after its commit can beat its replication.)
	other := topo.Replica1
	if promoted == topo.Replica1 {
		other = topo.Replica2
	}
	odb := topo.DB(t, other, "root", "", "")
	waitFor(t, 30*time.Second, other+" replicating from "+promoted, func() (bool, string) {
		var n int
		err := odb.QueryRowContext(ctx, "SELECT COUNT(*) FROM test.tlsfo WHERE id = 2").Scan(&n)
		return err == nil && n == 1, fmt.Sprintf("%d rows with id 2, %v", n, err)
	})
}
