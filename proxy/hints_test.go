package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/testenv"
)

// explainRow runs EXPLAIN ROUTE stmt on c and returns its row by column.
func explainRow(t *testing.T, c *sql.Conn, stmt string) map[string]string {
	t.Helper()
	rows, err := c.QueryContext(context.Background(), "EXPLAIN ROUTE "+stmt)
	if err != nil {
		t.Fatalf("EXPLAIN ROUTE %s: %v", stmt, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatalf("EXPLAIN ROUTE %s returned no row", stmt)
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i, c := range cols {
		got[c] = vals[i].String
	}
	return got
}

// TestHintsAreVisible: EXPLAIN ROUTE shows the hint it applied and why the
// session is pinned; a hint that cannot be read is shown as ignored,
// counted and logged instead of silently dropped.
func TestHintsAreVisible(t *testing.T) {
	p := testenv.Proxy(t, "") // its own: the test reads its log
	db := open(t, p.Addr, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if r := explainRow(t, c, "/* switchyard: primary */ SELECT 1"); r["hint"] != "primary" || r["role"] != "primary" || r["reason"] != "hint_primary" {
		t.Errorf("a primary hint: %v", r)
	}
	if r := explainRow(t, c, "/* switchyard: replica, max_staleness=2s */ SELECT 1"); r["hint"] != "replica,max_staleness=2s" {
		t.Errorf("a replica hint: hint %q", r["hint"])
	}
	before := hintsInvalid(t, p.AdminAddr)
	if r := explainRow(t, c, "/* switchyard: primry */ SELECT 1"); r["hint"] != "ignored=primry" || r["role"] != "replica" {
		t.Errorf("a misspelt hint: %v", r)
	}
	if _, err := c.ExecContext(ctx, "/* switchyard: primry */ SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if got := hintsInvalid(t, p.AdminAddr); got < before+2 {
		t.Errorf("switchyard_hints_invalid_total went from %v to %v, want +2", before, got)
	}
	if !strings.Contains(readLog(t, p), `hint=primry`) {
		t.Error("the misspelt hint was not logged")
	}

	if r := explainRow(t, c, "SELECT 1"); r["session_pins"] != "none" {
		t.Errorf("before SET @x: session_pins %q", r["session_pins"])
	}
	if _, err := c.ExecContext(ctx, "SET @x = 1"); err != nil {
		t.Fatal(err)
	}
	if r := explainRow(t, c, "SELECT @x"); r["session_pins"] != "user_variable" || r["reason"] != "pinned" {
		t.Errorf("after SET @x = 1: session_pins %q reason %q, want user_variable and pinned", r["session_pins"], r["reason"])
	}
}

func hintsInvalid(t *testing.T, admin string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "switchyard_hints_invalid_total "); ok {
			var f float64
			_, _ = fmt.Sscan(strings.TrimSpace(v), &f)
			return f
		}
	}
	t.Fatal("no switchyard_hints_invalid_total in /metrics")
	return 0
}
