package proxy_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// cursorLoopProcs are issue 13's procedures: proc_loop walks a cursor (a
// FOR loop) and calls proc_one for each row, which returns two result sets.
// While the loop's cursor is open the server sets SERVER_STATUS_CURSOR_EXISTS
// in the status of every result it sends, rows following.
var cursorLoopProcs = []string{
	"DROP TABLE IF EXISTS proc_words",
	"DROP PROCEDURE IF EXISTS proc_one",
	"DROP PROCEDURE IF EXISTS proc_loop",
	"CREATE TABLE proc_words (word TEXT, category TEXT)",
	"INSERT INTO proc_words VALUES ('create','a'), ('year','b')",
	`CREATE PROCEDURE proc_one(query TEXT, var TEXT) BEGIN
	  DECLARE errmsg TEXT DEFAULT '';
	  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION
	    BEGIN GET DIAGNOSTICS CONDITION 1 errmsg = MESSAGE_TEXT; END;
	  SET query = REPLACE(query, '$(VAR)', var);
	  EXECUTE IMMEDIATE query;
	  SELECT CONCAT(query, '; -- ', LEFT(COALESCE(errmsg,''),40));
	END`,
	`CREATE PROCEDURE proc_loop(query TEXT) BEGIN
	  FOR row IN (SELECT word FROM proc_words ORDER BY category, word)
	  DO CALL proc_one(query, row.word); END FOR;
	END`,
}

// TestCallInCursorLoopAnswers runs a CALL whose result sets carry the
// status of the procedure's own open cursor, with every client and
// protocol: it must answer as it does direct, and the connection must
// serve the next statement. It hung through the proxy, which took that
// status for a cursor opened for COM_STMT_FETCH and stopped relaying.
func TestCallInCursorLoopAnswers(t *testing.T) {
	p := sharedProxy(t)
	topo := testenv.Topology(t)
	direct := topo.DB(t, topo.Primary, "app", "app", "test")
	for _, q := range cursorLoopProcs {
		mustExec(t, direct, q)
	}
	want := [][]string{{"1"}, {"SELECT 1; -- "}, {"1"}, {"SELECT 1; -- "}}

	t.Run("mariadb CLI", func(t *testing.T) {
		if _, err := exec.LookPath("mariadb"); err != nil {
			t.Skip("mariadb client not installed")
		}
		script := "CALL proc_loop('SELECT 1'); SELECT 'after'"
		d, proxied := cliOutput(t, topo.Primary, script), cliOutput(t, p.Addr, script)
		if d != proxied {
			t.Fatalf("output differs\n--- direct ---\n%s\n--- through switchyard ---\n%s", d, proxied)
		}
		if strings.Count(d, "SELECT 1; --") != 2 || !strings.Contains(d, "after") {
			t.Fatalf("the CALL did not run as expected:\n%s", d)
		}
	})
	for _, tc := range []struct{ name, params, query string }{
		{"text", "multiStatements=true", "CALL proc_loop('SELECT 1')"},
		{"prepared", "", "CALL proc_loop(?)"},
	} {
		t.Run("go-sql-driver "+tc.name, func(t *testing.T) {
			db := open(t, p.Addr, tc.params)
			db.SetMaxOpenConns(1) // the statement after runs on the same connection
			var args []any
			if strings.Contains(tc.query, "?") {
				args = append(args, "SELECT 1")
			}
			got, err := resultSets(db, tc.query, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("result sets %q, want %q", got, want)
			}
			var one int
			if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("the connection after the CALL: %v", err)
			}
		})
	}
	// An execute that asks for a cursor, of a statement for which the
	// server opens none (a CALL): its rows follow each result at once.
	t.Run("execute asking for a cursor", func(t *testing.T) {
		d, err := executeWithCursor(topo.Primary, "CALL proc_loop('SELECT 1')")
		if err != nil {
			t.Fatalf("direct: %v", err)
		}
		proxied, err := executeWithCursor(p.Addr, "CALL proc_loop('SELECT 1')")
		if err != nil {
			t.Fatalf("through switchyard: %v", err)
		}
		if d != proxied || d != 4 {
			t.Fatalf("%d result sets through switchyard, %d direct, want 4", proxied, d)
		}
	})
}

// cliOutput runs script with the mariadb CLI against addr, within 20s.
func cliOutput(t *testing.T, addr, script string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mariadb", "-h"+host, "-P"+port, "-uapp", "-papp", "test", "-e", script).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mariadb against %s did not finish within 20s:\n%s", addr, out)
	}
	if err != nil {
		t.Fatalf("mariadb against %s: %v\n%s", addr, err, out)
	}
	return string(out)
}

// resultSets runs query within 10s and returns each result set's rows, as
// strings, one cell per row (the procedures return one column).
func resultSets(db *sql.DB, query string, args ...any) ([][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sets [][]string
	for {
		var set []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return sets, err
			}
			set = append(set, v)
		}
		if set != nil {
			sets = append(sets, set)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return sets, rows.Err()
}

// executeWithCursor prepares query on addr and executes it with
// CURSOR_TYPE_READ_ONLY, reading the whole response (5s at most); it
// returns the number of result sets.
func executeWithCursor(addr, query string) (int, error) {
	c, err := client.Connect(addr, "app", "app", "test", func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		if err := c.SetCapability(mysql.CLIENT_MULTI_RESULTS); err != nil {
			return err
		}
		return c.SetCapability(mysql.CLIENT_PS_MULTI_RESULTS)
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return 0, err
	}
	stmt, err := c.Prepare(query)
	if err != nil {
		return 0, err
	}
	exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1 /* CURSOR_TYPE_READ_ONLY */, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(exec[1:5], stmt.ID)
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), exec...)); err != nil {
		return 0, err
	}
	sets := 0
	for {
		b, err := c.ReadPacket()
		if err != nil {
			return sets, fmt.Errorf("after %d result sets: %w", sets, err)
		}
		switch {
		case b[0] == mysql.ERR_HEADER:
			return sets, fmt.Errorf("server error: %s", b[9:])
		case b[0] == mysql.OK_HEADER:
			return sets, nil // a CALL ends with an OK
		}
		sets++
		columns := int(b[0])
		for range columns + 1 { // definitions, EOF
			if _, err := c.ReadPacket(); err != nil {
				return sets, err
			}
		}
		for { // rows, EOF
			b, err := c.ReadPacket()
			if err != nil {
				return sets, err
			}
			if b[0] == mysql.EOF_HEADER && len(b) < 9 {
				if binary.LittleEndian.Uint16(b[3:5])&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
					return sets, nil
				}
				break
			}
		}
	}
}
