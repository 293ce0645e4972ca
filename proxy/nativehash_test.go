package proxy_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestNativeHashPassword configures app with only the mysql_native_password
// hash of its password. A client that knows the password logs in, and its
// statements run on the primary and on a replica, whose connections the
// proxy opens with SHA1(password) recovered from the client's login. A
// wrong password, or the hash itself, is refused with 1045.
func TestNativeHashPassword(t *testing.T) {
	topo := testenv.Topology(t)
	hash := gomysql.EncodePasswordHex(gomysql.NativePasswordHash([]byte("app")))
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "{name: app, password: app}", fmt.Sprintf("{name: app, password: %q}", hash), 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)

	db := open(t, s.Addr, "")
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS native_hash (id INT PRIMARY KEY)")
	mustExec(t, db, "REPLACE INTO native_hash VALUES (1)")
	primaryID, replicaID := serverID(t, db, "primary"), serverID(t, db, "replica")
	if primaryID == replicaID {
		t.Fatalf("the primary and replica hints reached the same server (server_id %d)", primaryID)
	}
	var user string
	if err := db.QueryRow("/* switchyard: replica */ SELECT CURRENT_USER()").Scan(&user); err != nil || user != "app@%" {
		t.Fatalf("CURRENT_USER() on a replica = %q, %v; want app@%%", user, err)
	}

	for _, password := range []string{"wrong", hash} {
		bad := openAs(t, s.Addr, "app", password)
		wantCode(t, bad.Ping(), 1045)
	}
}

func serverID(t *testing.T, db *sql.DB, hint string) int {
	t.Helper()
	var id int
	if err := db.QueryRow(fmt.Sprintf("/* switchyard: %s */ SELECT @@server_id", hint)).Scan(&id); err != nil {
		t.Fatalf("server_id on the %s: %v", hint, err)
	}
	return id
}

// openAs opens a pool to the proxy as user with password.
func openAs(t *testing.T, addr, user, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/test", user, password, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
