package proxy_test

import (
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestPreparedStatementsStayInTheirDatabase has two sessions with different
// default databases prepare and execute the same statement text through a
// proxy with one backend connection per server, so that both use the same
// connection. The server binds a prepared statement's tables to the
// database current at PREPARE: each session's rows must land in its own
// database, as direct, never in the other's through a shared statement.
func TestPreparedStatementsStayInTheirDatabase(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "pool: {max_per_backend: 1}\n")
	direct := topo.DB(t, topo.Primary, "root", "", "")
	suffix := time.Now().UnixNano()
	dbs := []string{fmt.Sprintf("stmt_a_%d", suffix), fmt.Sprintf("stmt_b_%d", suffix)}
	for _, name := range dbs {
		mustExec(t, direct, "CREATE DATABASE "+name)
		t.Cleanup(func() { _, _ = direct.Exec("DROP DATABASE IF EXISTS " + name) })
		mustExec(t, direct, "CREATE TABLE "+name+".t (id INT)")
	}
	// Session a prepares; session b prepares the same text (on the same
	// backend connection, now in b) and executes; then a executes its
	// statement, which the proxy runs on that connection from its cache.
	a, b := openDB(t, p.Addr, dbs[0]), openDB(t, p.Addr, dbs[1])
	a.SetMaxOpenConns(1)
	b.SetMaxOpenConns(1)
	const insert = "INSERT INTO t VALUES (?)"
	// A read lets the session give back the connection its write kept
	// (for LAST_INSERT_ID()), so that the other session gets it.
	release := func(db *sql.DB) {
		t.Helper()
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	stmt, err := a.Prepare(insert)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for round := range 2 {
		mustExec(t, b, insert, 10*round+1)
		release(b)
		if _, err := stmt.Exec(10 * round); err != nil {
			t.Fatalf("%s in %s: %v", insert, dbs[0], err)
		}
		release(a)
	}
	for i, name := range dbs {
		var got []int
		rows, err := direct.Query("SELECT id FROM " + name + ".t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		rows.Close()
		if want := []int{i, 10 + i}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s.t holds %v, want %v", name, got, want)
		}
	}
}

// openDB opens a go-sql-driver handle on addr with default database name.
func openDB(t *testing.T, addr, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/%s", addr, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
