package testenv

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestMain(m *testing.M) { Main(m) }

// TestReplication proves the topology is real: a row written on the primary
// reaches both GTID replicas, and the replicas refuse app's writes.
func TestReplication(t *testing.T) {
	topo := Topology(t)
	primary := topo.DB(t, topo.Primary, "app", "app", "test")

	// The topology may be shared with other packages: a table of our own.
	table := fmt.Sprintf("testenv_%d_%d", os.Getpid(), time.Now().UnixNano())
	mustExec(t, primary, "CREATE TABLE "+table+" (id INT PRIMARY KEY, v VARCHAR(20))")
	t.Cleanup(func() { mustExec(t, primary, "DROP TABLE IF EXISTS "+table) })
	mustExec(t, primary, "INSERT INTO "+table+" VALUES (1, 'replicated')")

	for name, addr := range map[string]string{"replica1": topo.Replica1, "replica2": topo.Replica2} {
		t.Run(name, func(t *testing.T) {
			replica := topo.DB(t, addr, "app", "app", "test")
			deadline := time.Now().Add(10 * time.Second)
			for {
				var v string
				err := replica.QueryRow("SELECT v FROM " + table + " WHERE id = 1").Scan(&v)
				if err == nil && v == "replicated" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("row not on %s within 10s: v=%q err=%v", addr, v, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, err := replica.Exec("INSERT INTO " + table + " VALUES (2, 'not here')")
			if !isReadOnly(err) {
				t.Fatalf("write on replica %s: want ER_OPTION_PREVENTS_STATEMENT (1290), got %v", addr, err)
			}
		})
	}
}

// TestKillAndStart: a private topology's server dies by SIGKILL and comes
// back with its data, as failover tests need.
func TestKillAndStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private topology")
	}
	topo := NewTopology(t)
	topo.Kill(t, topo.Primary)
	if err := WaitTCP(topo.Primary, 0); err == nil {
		t.Fatalf("%s still accepts connections after Kill", topo.Primary)
	}
	topo.Start(t)
	var n int
	if err := topo.DB(t, topo.Primary, "app", "app", "test").QueryRow("SELECT 1").Scan(&n); err != nil {
		t.Fatalf("primary after Start: %v", err)
	}
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func isReadOnly(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1290 // ER_OPTION_PREVENTS_STATEMENT
}
