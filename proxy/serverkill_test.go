package proxy_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestServerKilledConnectionEndsSession has sessions kill their own backend
// thread (KILL CONNECTION_ID(), which the proxy sends to the server): the
// server answers ER_CONNECTION_KILLED and closes the connection. The client
// must see exactly that, as it does direct: the error, then a lost
// connection, not a session carried over to another backend connection.
func TestServerKilledConnectionEndsSession(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)

	t.Run("mariadb CLI", func(t *testing.T) {
		if _, err := exec.LookPath("mariadb"); err != nil {
			t.Skip("mariadb client not installed")
		}
		// --force goes on after errors: the statements after the kill show
		// whether the connection survived it.
		script := "SELECT 1;\nKILL CONNECTION_ID();\nSELECT 2;\nSELECT 3;\n"
		direct, proxied := cliRun(t, topo.Primary, script, "--force"), cliRun(t, p.Addr, script, "--force")
		if direct != proxied {
			t.Fatalf("output differs\n--- direct ---\n%s\n--- through switchyard ---\n%s", direct, proxied)
		}
		if !strings.Contains(direct, "ERROR 1927 (70100)") || strings.Contains(direct, "\n2\n") {
			t.Fatalf("the script did not run as expected direct:\n%s", direct)
		}
	})

	directDB := topo.DB(t, topo.Primary, "root", "", "test")
	mustExec(t, directDB, "CREATE TABLE IF NOT EXISTS killed_tx (id INT PRIMARY KEY)")
	mustExec(t, directDB, "TRUNCATE TABLE killed_tx")
	for _, tc := range []struct {
		name  string
		setup []string
	}{
		{"autocommit", nil},
		{"in a transaction", []string{"BEGIN", "INSERT INTO killed_tx VALUES (1)"}},
	} {
		t.Run("go-sql-driver "+tc.name, func(t *testing.T) {
			db := open(t, p.Addr, "")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, q := range tc.setup {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err = conn.ExecContext(ctx, "KILL CONNECTION_ID()")
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1927 || string(me.SQLState[:]) != "70100" {
				t.Fatalf("KILL CONNECTION_ID(): %v, want ERROR 1927 (70100)", err)
			}
			_, err = conn.ExecContext(ctx, "SELECT 1")
			if !errors.Is(err, mysql.ErrInvalidConn) && !errors.Is(err, driver.ErrBadConn) {
				t.Fatalf("the statement after the kill: %v, want the connection lost (as direct)", err)
			}
			var n int
			if err := directDB.QueryRow("SELECT COUNT(*) FROM killed_tx").Scan(&n); err != nil || n != 0 {
				t.Fatalf("the killed transaction's row: count %d, %v; want 0 (rolled back)", n, err)
			}
			var one int
			if err := db.QueryRowContext(ctx, "/* switchyard: primary */ SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("a new session after the kill: %v", err)
			}
		})
	}
}

// cliRun runs script on the mariadb CLI's standard input against addr,
// within 20s, and returns what it printed, errors included.
func cliRun(t *testing.T, addr, script string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append(args, "-h"+host, "-P"+port, "-uapp", "-papp", "test")
	cmd := exec.CommandContext(ctx, "mariadb", args...)
	cmd.Stdin = strings.NewReader(script)
	out, _ := cmd.CombinedOutput() // errors are part of the output to compare
	if ctx.Err() != nil {
		t.Fatalf("mariadb against %s did not finish within 20s:\n%s", addr, out)
	}
	return string(out)
}
