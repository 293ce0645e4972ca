package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestReadAfterCreateDatabaseWaitsBeforeSync is the regression-suite
// pattern of issue 13: one connection drops and creates a database, another
// (whose default database it is) creates a table in it, inserts and reads.
// The read goes to a replica that must first catch up (the replicas are
// held back by a global read lock for a moment), and the session's default
// database does not exist there yet: the replica must wait for the read's
// GTID before it is given the database, not fail the read with 1049
// (Unknown database) or 1146 (Table doesn't exist).
func TestReadAfterCreateDatabaseWaitsBeforeSync(t *testing.T) {
	topo := testenv.Topology(t)
	p := topo.Proxy(t, "routing: {gtid_wait: 20s, max_replica_lag: 1h}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := open(t, p.Addr, "")
	for i := range 3 {
		name := fmt.Sprintf("ryw_%d_%d", time.Now().UnixNano(), i)
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name) })
		unlock := holdReplicas(ctx, t, topo)
		mustExec(t, admin, "DROP DATABASE IF EXISTS "+name)
		mustExec(t, admin, "CREATE DATABASE "+name)
		db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/%s", p.Addr, name))
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "CREATE TABLE t1 (a INT)")
		mustExec(t, db, "INSERT INTO t1 VALUES (1), (2)")
		// The replicas apply nothing until released, after the read
		// was routed and waits there.
		released := make(chan struct{})
		go func() {
			defer close(released)
			time.Sleep(300 * time.Millisecond)
			unlock()
		}()
		var n int
		err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t1").Scan(&n)
		<-released
		db.Close()
		if err != nil || n != 2 {
			t.Fatalf("iteration %d: SELECT COUNT(*) right after CREATE DATABASE, CREATE TABLE and INSERT: %d, %v; want 2", i, n, err)
		}
	}
}

// holdReplicas takes FLUSH TABLES WITH READ LOCK on both replicas, which
// stops their SQL threads from applying anything (they still run, so the
// proxy keeps routing reads there); unlock releases them.
func holdReplicas(ctx context.Context, t *testing.T, topo *testenv.Topo) (unlock func()) {
	t.Helper()
	var conns []*sql.Conn
	for _, addr := range []string{topo.Replica1, topo.Replica2} {
		c, err := topo.DB(t, addr, "root", "", "").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			for _, c := range conns {
				_, _ = c.ExecContext(context.Background(), "UNLOCK TABLES")
				c.Close()
			}
		})
	}
	t.Cleanup(unlock)
	return unlock
}
