package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestBackendTLS restarts the primary of a private topology with a
// certificate signed by a test CA (the replicas stay without TLS) and runs
// one proxy per backend_tls policy. Then it turns on the primary's
// require_secure_transport, so that only encrypted connections get in, and
// checks that every connection the proxy opens to it follows db1's policy:
// the health probes (the primary is up, with its role), the monitor session
// of KILL QUERY, and the data path; with a CA that did not sign the
// server's certificate, the probe reports it down with the TLS error.
func TestBackendTLS(t *testing.T) {
	topo := testenv.NewTopology(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	other := testenv.NewCA(t, dir, "other-ca")
	cert, key := ca.Issue(t, dir, "db1.test")
	topo.EnableTLS(t, topo.Primary, ca.File, cert, key)

	// start starts a switchyard whose db1 has the TLS policy db1TLS and
	// whose other backends follow global; proxy opens a handle on one that
	// serves a primary.
	start := func(t *testing.T, global, db1TLS string, requireReady bool) *testenv.Switchyard {
		yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "backend_tls: "+global+"\nhealth: {interval: 100ms}\n")
		if db1TLS != "" {
			yaml = strings.Replace(yaml, "region: local}", "region: local, tls: "+db1TLS+"}", 1)
		}
		return testenv.StartSwitchyard(t, yaml, addr, admin, requireReady)
	}
	proxy := func(t *testing.T, global, db1TLS string) *sql.DB {
		return open(t, start(t, global, db1TLS, true).Addr, "")
	}
	cipherOn := func(t *testing.T, db *sql.DB, hint string) (string, error) {
		// A SELECT, not SHOW STATUS: the proxy sends SHOW of one server's
		// state to the primary whatever the hint says.
		var cipher string
		err := db.QueryRow(fmt.Sprintf("/* switchyard: %s */ SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "+
			"WHERE VARIABLE_NAME = 'Ssl_cipher'", hint)).Scan(&cipher)
		return cipher, err
	}
	encrypted := func(t *testing.T, db *sql.DB, hint string, want bool) {
		t.Helper()
		cipher, err := cipherOn(t, db, hint)
		if err != nil {
			t.Fatalf("Ssl_cipher on the %s: %v", hint, err)
		}
		if (cipher != "") != want {
			t.Fatalf("Ssl_cipher on the %s = %q; want encrypted = %v", hint, cipher, want)
		}
	}
	// rejected checks that the probes of backend name fail under its
	// policy: it is down in /topology, its last error saying why. The
	// proxy routes nothing to it (the data path would be refused the
	// same way).
	rejected := func(t *testing.T, s *testenv.Switchyard, name string, wants ...string) {
		t.Helper()
		v := waitServer(t, s, name, func(v admin.ServerView) bool { return !v.Up && v.LastError != "not probed yet" })
		for _, w := range wants {
			if !strings.Contains(v.LastError, w) {
				t.Errorf("%s's last error %q does not mention %q", name, v.LastError, w)
			}
		}
	}

	// replicasServe waits until the proxy sees both replicas replicating
	// with a known lag: EnableTLS restarted the primary, and until their
	// I/O threads reconnect a read hinted to a replica goes to the primary.
	replicasServe := func(t *testing.T, s *testenv.Switchyard) {
		t.Helper()
		for _, name := range []string{"db2", "db3"} {
			waitServer(t, s, name, func(v admin.ServerView) bool {
				return v.Up && v.Replicating && v.ReplicationError == "" && v.LagSeconds != nil
			})
		}
	}

	t.Run("verify_ca with the server's CA", func(t *testing.T) {
		s := start(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", ca.File), true)
		db := open(t, s.Addr, "")
		encrypted(t, db, "primary", true)
		replicasServe(t, s)
		encrypted(t, db, "replica", false)
	})
	t.Run("verify_identity with the certificate's name", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_identity, ca: %q, server_name: db1.test}", ca.File))
		encrypted(t, db, "primary", true)
	})
	t.Run("verify_identity with another name", func(t *testing.T) {
		s := start(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_identity, ca: %q, server_name: db9.test}", ca.File), false)
		rejected(t, s, "db1", "TLS", "verify_identity", "db9.test")
	})
	t.Run("verify_ca with another CA", func(t *testing.T) {
		s := start(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", other.File), false)
		rejected(t, s, "db1", "TLS", "verify_ca", "certificate")
		// The replicas still serve reads.
		replicasServe(t, s)
		encrypted(t, open(t, s.Addr, ""), "replica", false)
	})
	t.Run("required on servers without TLS", func(t *testing.T) {
		s := start(t, "{mode: required}", "", true)
		encrypted(t, open(t, s.Addr, ""), "primary", true)
		rejected(t, s, "db2", "backend_tls.mode required", "does not offer TLS")
	})
	t.Run("preferred by default", func(t *testing.T) {
		db := proxy(t, "{}", "")
		encrypted(t, db, "primary", true)
		encrypted(t, db, "replica", false)
	})
	t.Run("disabled", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", "")
		encrypted(t, db, "primary", false)
	})

	// From here on db1 refuses plain connections: the monitor account's
	// connections (probes, KILL) get in only under db1's policy.
	requireSecureTransport(t, topo.Primary)
	t.Run("require_secure_transport: verify_ca with the server's CA", func(t *testing.T) {
		s := start(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", ca.File), true)
		db1 := waitServer(t, s, "db1", func(v admin.ServerView) bool { return v.Up })
		if v := db1; v.Role != "primary" || v.LastError != "" {
			t.Fatalf("db1 in /topology: up, role %q, last error %q; want the primary without error", v.Role, v.LastError)
		}

		db := open(t, s.Addr, "")
		var cipher string
		if err := db.QueryRow("/* switchyard: primary */ SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS " +
			"WHERE VARIABLE_NAME = 'Ssl_cipher'").Scan(&cipher); err != nil || cipher == "" {
			t.Fatalf("data path to the primary: Ssl_cipher %q, err %v; want an encrypted session", cipher, err)
		}
		mustExec(t, db, "CREATE TABLE IF NOT EXISTS montls (id INT PRIMARY KEY)")
		mustExec(t, db, "REPLACE INTO montls VALUES (1)")

		// KILL QUERY by the proxy's connection id: the proxy kills the
		// backend thread through a monitor session of its own.
		victim, err := client.Connect(s.Addr, "app", "app", "test")
		if err != nil {
			t.Fatal(err)
		}
		defer victim.Close()
		done := make(chan error, 1)
		go func() {
			_, err := victim.Execute("/* switchyard: primary */ SELECT SLEEP(30)")
			done <- err
		}()
		waitRunning(t, db, "SLEEP(30)")
		mustExec(t, db, fmt.Sprintf("KILL QUERY %d", victim.GetConnectionID()))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("KILL QUERY through the proxy did not stop the statement on the TLS-only primary")
		}
	})

	t.Run("require_secure_transport: verify_ca with another CA", func(t *testing.T) {
		s := start(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", other.File), false)
		rejected(t, s, "db1", "TLS", "verify_ca", "certificate")
	})
}

// requireSecureTransport turns on require_secure_transport on the server
// at addr (of a NewTopology, stopped with it), and checks that a plain
// connection is then refused.
func requireSecureTransport(t *testing.T, addr string) {
	t.Helper()
	db, err := sql.Open("mysql", testenv.DSN(addr, "root", "", "")+"&tls=skip-verify")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plain := func() error {
		c, err := client.Connect(addr, "root", "", "")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := plain(); err != nil {
		t.Fatalf("a plain connection to %s: %v", addr, err)
	}
	mustExec(t, db, "SET GLOBAL require_secure_transport = ON")
	// MariaDB 10.11 refuses it as 1045 Access denied.
	if err := plain(); err == nil {
		t.Fatalf("a plain connection to %s with require_secure_transport=ON succeeded; want it refused", addr)
	}
}

// waitServer polls s's /topology until backend name satisfies ok, and
// returns it.
func waitServer(t *testing.T, s *testenv.Switchyard, name string, ok func(admin.ServerView) bool) admin.ServerView {
	t.Helper()
	c, err := admin.NewClient(s.AdminAddr, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last admin.ServerView
	for {
		v, err := c.Topology(ctx)
		if err == nil {
			for _, sv := range v.Servers {
				if sv.Name == name {
					last = sv
				}
			}
			if last.Name != "" && ok(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s in /topology never reached the expected state; last seen %+v (err %v)", name, last, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitRunning polls the primary's process list through db until a
// statement containing text runs.
func waitRunning(t *testing.T, db *sql.DB, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := db.QueryRow("/* switchyard: primary */ SELECT COUNT(*) FROM information_schema.PROCESSLIST "+
			"WHERE INFO LIKE ? AND INFO NOT LIKE '%PROCESSLIST%'", "%"+text+"%").Scan(&n)
		if err == nil && n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never showed in the primary's process list", text)
}
