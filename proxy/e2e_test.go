package proxy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// These tests drive a real switchyard process in front of the real MariaDB
// topology with real clients, and compare with what the server does direct.

var (
	proxyOnce sync.Once
	shared    *testenv.Switchyard
)

// sharedProxy is one switchyard for the tests that do not restart it. Its
// reads that must see a write wait on a replica (read_primary_below: 0):
// its tests assert that reads run on replicas, and with consistency global
// a read right after any test's write would otherwise run on the idle
// primary (TestReadYourWritesOnPrimaryWithRoom covers that path).
func sharedProxy(t *testing.T) *testenv.Switchyard {
	t.Helper()
	proxyOnce.Do(func() { shared = testenv.Proxy(&noCleanup{T: t}, "routing: {read_primary_below: 0}\n") })
	if shared == nil {
		t.Fatal("shared switchyard failed to start")
	}
	return shared
}

// noCleanup lets the shared proxy outlive the first test that asks for it;
// the process is stopped by the testenv watchdog with the test binary.
type noCleanup struct{ *testing.T }

func (n *noCleanup) Cleanup(func()) {}

func open(t *testing.T, addr, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("app:app@tcp(%s)/test?%s", addr, params)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	Exec(string, ...any) (sql.Result, error)
}, q string, args ...any) sql.Result {
	t.Helper()
	r, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

func TestTextAndPreparedProtocol(t *testing.T) {
	p := sharedProxy(t)
	for _, tc := range []struct{ name, params string }{
		{"text", "interpolateParams=true&parseTime=true"},
		{"prepared", "parseTime=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, p.Addr, tc.params)
			table := "proto_" + tc.name
			mustExec(t, db, "DROP TABLE IF EXISTS "+table)
			mustExec(t, db, "CREATE TABLE "+table+" (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50), score DOUBLE, born DATETIME, data BLOB)")
			born := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for i := range 20 {
				res := mustExec(t, db, "INSERT INTO "+table+" (name, score, born, data) VALUES (?, ?, ?, ?)",
					fmt.Sprintf("n%d", i), float64(i)+0.5, born, []byte{byte(i), 0, 0xFE, 0xFF})
				if id, _ := res.LastInsertId(); id != int64(i+1) {
					t.Fatalf("LastInsertId = %d, want %d", id, i+1)
				}
			}
			rows, err := db.Query("SELECT id, name, score, born, data FROM "+table+" WHERE id > ? ORDER BY id", 10)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var id int
				var name string
				var score float64
				var gotBorn time.Time
				var data []byte
				if err := rows.Scan(&id, &name, &score, &gotBorn, &data); err != nil {
					t.Fatal(err)
				}
				i := id - 1
				if name != fmt.Sprintf("n%d", i) || score != float64(i)+0.5 || !bytes.Equal(data, []byte{byte(i), 0, 0xFE, 0xFF}) {
					t.Fatalf("row %d = %q %v %v", id, name, score, data)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != 10 {
				t.Fatalf("got %d rows, want 10", n)
			}
		})
	}
}

func TestTransactions(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	mustExec(t, db, "DROP TABLE IF EXISTS tx")
	mustExec(t, db, "CREATE TABLE tx (id INT PRIMARY KEY) ENGINE=InnoDB")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO tx VALUES (1)")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx, err = db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO tx VALUES (2)")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var ids []int
	rows, err := db.Query("SELECT id FROM tx")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[2]" {
		t.Fatalf("after rollback and commit: ids %v, want [2]", ids)
	}
}

func TestMultiStatementsAndMultipleResultSets(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "multiStatements=true")
	mustExec(t, db, "DROP PROCEDURE IF EXISTS two_sets")
	mustExec(t, db, "CREATE PROCEDURE two_sets() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END")
	for _, q := range []string{"SELECT 1 AS a; SELECT 2 AS b, 3 AS c", "CALL two_sets()"} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var got []string
		for {
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%v=%v", cols, vals))
			}
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if want := "[[a]=[1] [b c]=[2 3]]"; fmt.Sprint(got) != want {
			t.Fatalf("%s: got %v, want %s", q, got, want)
		}
	}
	// An error in the middle stops the batch, and the connection stays usable.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "DO 1; SELECT * FROM no_such_table; DO 2")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("error in batch: got %v, want 1146", err)
	}
	var one int
	if err := conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after a failed batch: %v %d", err, one)
	}
}

func TestLargePackets(t *testing.T) {
	p := sharedProxy(t)
	for _, params := range []string{"", "interpolateParams=true"} {
		db := open(t, p.Addr, params)
		mustExec(t, db, "DROP TABLE IF EXISTS big"+fmt.Sprint(len(params)))
		table := "big" + fmt.Sprint(len(params))
		mustExec(t, db, "CREATE TABLE "+table+" (id INT PRIMARY KEY, b LONGBLOB)")
		// 20 MiB crosses the 16 MiB frame boundary in both directions.
		blob := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
		blob[12345] = 0xFE
		mustExec(t, db, "INSERT INTO "+table+" VALUES (1, ?)", blob)
		var got []byte
		if err := db.QueryRow("SELECT b FROM " + table + " WHERE id = 1").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, blob) {
			t.Fatalf("blob of %d bytes came back as %d bytes, different", len(blob), len(got))
		}
		// Exactly one full frame: the packet ends with an empty frame.
		exact := strings.Repeat("z", 1<<24-1-len("SELECT '")-len("'")-1)
		var s string
		if err := db.QueryRow("SELECT '" + exact + "'").Scan(&s); err != nil || s != exact {
			t.Fatalf("query of exactly one full frame: %v (len %d)", err, len(s))
		}
	}
}

func TestLoadDataLocalInfile(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "allowAllFiles=true")
	mustExec(t, db, "DROP TABLE IF EXISTS loaded")
	mustExec(t, db, "CREATE TABLE loaded (id INT PRIMARY KEY, v VARCHAR(20))")
	var buf bytes.Buffer
	for i := range 50000 {
		fmt.Fprintf(&buf, "%d\tvalue%d\n", i, i)
	}
	mysql.RegisterReaderHandler("rows", func() io.Reader { return bytes.NewReader(buf.Bytes()) })
	defer mysql.DeregisterReaderHandler("rows")
	res := mustExec(t, db, "LOAD DATA LOCAL INFILE 'Reader::rows' INTO TABLE loaded")
	if n, _ := res.RowsAffected(); n != 50000 {
		t.Fatalf("loaded %d rows, want 50000", n)
	}
	var sum int64
	if err := db.QueryRow("SELECT SUM(id) FROM loaded").Scan(&sum); err != nil || sum != 49999*50000/2 {
		t.Fatalf("sum %d, %v", sum, err)
	}
}

func TestErrorsKeepConnection(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("SELEKT 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1064 || string(me.SQLState[:]) != "42000" {
		t.Fatalf("syntax error: got %v", err)
	}
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
}

func TestAuthErrors(t *testing.T) {
	p := sharedProxy(t)
	for _, tc := range []struct {
		name, dsn string
		code      uint16
		state     string
	}{
		{"wrong password", "app:nope@tcp(%s)/test", 1045, "28000"},
		{"unknown user", "ghost:nope@tcp(%s)/test", 1045, "28000"},
		{"unknown database", "app:app@tcp(%s)/no_such_db", 1049, "42000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("mysql", fmt.Sprintf(tc.dsn, p.Addr))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Ping()
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != tc.code || string(me.SQLState[:]) != tc.state {
				t.Fatalf("got %v, want %d (%s)", err, tc.code, tc.state)
			}
		})
	}
}

func TestCachingSha2Password(t *testing.T) {
	topo := testenv.Topology(t)
	root := topo.DB(t, topo.Primary, "root", "", "")
	mustExec(t, root, "CREATE USER IF NOT EXISTS sha2user@'%' IDENTIFIED BY 'sha2pass'")
	mustExec(t, root, "GRANT ALL ON test.* TO sha2user@'%'")
	// The account was made on the primary directly, not through the proxy:
	// a replica that has not applied it yet would refuse the proxy's login.
	syncReplicas(context.Background(), t, topo, root)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n  - {name: sha2user, password: sha2pass, auth_plugin: caching_sha2_password}\n", 1)
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	for range 2 { // the first login takes the full path, the second the fast one
		db, err := sql.Open("mysql", fmt.Sprintf("sha2user:sha2pass@tcp(%s)/test", s.Addr))
		if err != nil {
			t.Fatal(err)
		}
		var u string
		err = db.QueryRow("SELECT CURRENT_USER()").Scan(&u)
		db.Close()
		if err != nil || !strings.HasPrefix(u, "sha2user@") {
			t.Fatalf("caching_sha2_password login: %v %q", err, u)
		}
	}
}

func TestKillQueryOfAnotherClient(t *testing.T) {
	p := sharedProxy(t)
	db := open(t, p.Addr, "")
	victim, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	var threadID int64
	if err := victim.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&threadID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		var r int
		done <- victim.QueryRowContext(context.Background(), "SELECT SLEEP(30)").Scan(&r)
	}()
	time.Sleep(300 * time.Millisecond)
	mustExec(t, db, fmt.Sprintf("KILL QUERY %d", threadID))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not stop the statement")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("statement was not interrupted")
	}
	var one int
	if err := victim.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("victim connection after KILL QUERY: %v", err)
	}
}

func TestMaxConnections(t *testing.T) {
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "limits: {max_connections: 2}\n")
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	db := open(t, s.Addr, "")
	var conns []*sql.Conn
	for range 2 {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	_, err := db.Conn(context.Background())
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1040 {
		t.Fatalf("third connection: got %v, want 1040", err)
	}
	conns[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := db.Conn(context.Background())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a slot did not free up after a close: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
