package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// digestErrors returns the count and errors of the digest whose sample
// contains sub, from the proxy's /digests.
func digestErrors(t *testing.T, p *testenv.Switchyard, sub string) (count, errs uint64) {
	t.Helper()
	resp, err := http.Get("http://" + p.AdminAddr + "/digests?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Digests []struct {
			Sample string `json:"sample"`
			Count  uint64 `json:"count"`
			Errors uint64 `json:"errors"`
		} `json:"digests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Digests {
		if strings.Contains(d.Sample, sub) {
			return d.Count, d.Errors
		}
	}
	return 0, 0
}

// statementErrors sums switchyard_statements_total{result="error"}.
func statementErrors(t *testing.T, p *testenv.Switchyard) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for l := range strings.Lines(string(b)) {
		if strings.HasPrefix(l, "switchyard_statements_total{") && strings.Contains(l, `result="error"`) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// TestProxyMadeErrorsAreCounted: errors the proxy makes itself (1429 when
// no primary is known, 1158 when a backend connection is lost) are counted
// like a server's, in /digests and switchyard_statements_total.
func TestProxyMadeErrorsAreCounted(t *testing.T) {
	topo := testenv.Topology(t)
	t.Run("1429", func(t *testing.T) {
		yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "failover: {hold_writes_timeout: 100ms}\n")
		yaml = strings.Replace(yaml, `monitor: {user: root, password: ""}`, `monitor: {user: root, password: "wrong"}`, 1)
		p := testenv.StartSwitchyard(t, yaml, addr, admin, false)
		db := open(t, p.Addr, "")
		for range 5 {
			var me *mysql.MySQLError
			if _, err := db.Exec("INSERT INTO test.errcount_1429 VALUES (1)"); !errors.As(err, &me) || me.Number != 1429 {
				t.Fatalf("want 1429, got %v", err)
			}
		}
		if n, e := digestErrors(t, p, "errcount_1429"); n != 5 || e != 5 {
			t.Errorf("/digests: count %d errors %d, want 5 and 5", n, e)
		}
		if got := statementErrors(t, p); got != 5 {
			t.Errorf(`switchyard_statements_total{result="error"} sums to %v, want 5`, got)
		}
	})
	t.Run("1158", func(t *testing.T) {
		p := topo.Proxy(t, "")
		db := open(t, p.Addr, "")
		root := topo.DB(t, topo.Primary, "root", "", "")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := db.ExecContext(ctx, "DO SLEEP(10) /* errcount_1158 */")
			done <- err
		}()
		var id int64
		for id == 0 {
			err := root.QueryRowContext(ctx, "SELECT id FROM information_schema.processlist WHERE info LIKE 'DO SLEEP(10)%errcount_1158%'").Scan(&id)
			if err != nil && ctx.Err() != nil {
				t.Fatal("the statement never showed in the processlist")
			}
			time.Sleep(20 * time.Millisecond)
		}
		mustExec(t, root, "KILL CONNECTION "+strconv.FormatInt(id, 10))
		var me *mysql.MySQLError
		if err := <-done; !errors.As(err, &me) || me.Number != 1158 {
			t.Fatalf("want 1158 for the lost backend connection, got %v", err)
		}
		if n, e := digestErrors(t, p, "SLEEP"); n != 1 || e != 1 {
			t.Errorf("/digests: count %d errors %d, want 1 and 1", n, e)
		}
		if got := statementErrors(t, p); got != 1 {
			t.Errorf(`switchyard_statements_total{result="error"} sums to %v, want 1`, got)
		}
	})
}
