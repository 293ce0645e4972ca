package proxy_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestMariaDBCLIMatchesDirect runs the same script with the mariadb
// command-line client direct to the primary and through the proxy: the
// outputs must be identical, errors included.
func TestMariaDBCLIMatchesDirect(t *testing.T) {
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Skip("mariadb client not installed")
	}
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	script := strings.Join([]string{
		"DROP TABLE IF EXISTS cli_t",
		"CREATE TABLE cli_t (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2), d DATE)",
		"INSERT INTO cli_t VALUES (1, 'a', 1.50, '2020-01-02'), (2, NULL, 2.25, NULL), (3, 'ünïcødé', 0, '1999-12-31')",
		"SELECT * FROM cli_t ORDER BY id",
		"SELECT COUNT(*), SUM(price) FROM cli_t",
		"SELECT 1; SELECT 2, 'two'",
		"SHOW COLUMNS FROM cli_t",
		"SELECT * FROM no_such_table",
		"SELECT DATABASE(), @@autocommit",
		"BEGIN",
		"UPDATE cli_t SET price = price * 2",
		"SELECT id, price FROM cli_t ORDER BY id",
		"ROLLBACK",
		"SELECT id, price FROM cli_t ORDER BY id",
		"USE mysql",
		"SELECT DATABASE()",
		"DROP TABLE test.cli_t",
	}, ";\n") + ";\n"
	run := func(addr string) string {
		host, port, _ := strings.Cut(addr, ":")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "mariadb", "--force", "--table", "-h"+host, "-P"+port, "-uapp", "-papp", "test")
		cmd.Stdin = strings.NewReader(script)
		out, _ := cmd.CombinedOutput() // --force: errors are part of the output to compare
		return string(out)
	}
	direct := run(topo.Primary)
	proxied := run(p.Addr)
	if direct != proxied {
		t.Fatalf("output differs\n--- direct ---\n%s\n--- through switchyard ---\n%s", direct, proxied)
	}
	if !strings.Contains(direct, "ünïcødé") || !strings.Contains(direct, "1146") {
		t.Fatalf("the script did not run as expected:\n%s", direct)
	}
}

// TestMariaDBCLIShowsProxyErrors checks that the proxy's own errors reach
// the mariadb CLI whole: libmariadb replaces a server error whose code is
// in the client's range (2000-2999) by "2027 Malformed packet" and drops
// its message, so the proxy must not use such a code.
func TestMariaDBCLIShowsProxyErrors(t *testing.T) {
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Skip("mariadb client not installed")
	}
	dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // nothing listens there
	yaml, addr, admin := testenv.ProxyConfig(t, []string{dead}, "failover: {hold_writes_timeout: 1s}\n")
	testenv.StartSwitchyard(t, yaml, addr, admin, false)
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mariadb", "-h"+host, "-P"+port, "-uapp", "-papp", "test", "-e", "SELECT 1").CombinedOutput()
	if err == nil {
		t.Fatalf("SELECT 1 with no backend up succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "ERROR 1429 (HY000)") || !strings.Contains(string(out), "switchyard") {
		t.Fatalf("the CLI shows %q, want ERROR 1429 (HY000) with switchyard's message", out)
	}
}
