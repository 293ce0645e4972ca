package classify

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// The fast path and a cache hit must not allocate: they run on every
// statement.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := New(100)
	for _, sql := range []string{
		"SELECT c FROM sbtest1 WHERE id=123",
		"/* switchyard: replica, max_staleness=2s */ SELECT c FROM t WHERE email = 'a@b.c'",
		"SELECT * FROM t WHERE a = @x",
		"INSERT INTO t VALUES (1, 'x', LAST_INSERT_ID())",
		"UPDATE t SET a = 1 WHERE id = 2",
		"BEGIN", "START TRANSACTION READ ONLY", "COMMIT", "ROLLBACK", "SAVEPOINT a",
		"SET autocommit=0", "SET NAMES utf8mb4", "SET SESSION TRANSACTION READ ONLY",
		"LOCK TABLES t READ", "UNLOCK TABLES", "XA START 'x'",
		"EXPLAIN SELECT 1", "SHOW WARNINGS", "SELECT * FROM t WHERE id = 3 FOR UPDATE",
		"SET sql_mode = ''", "SELECT GET_LOCK('a', 1)",
	} {
		c.Classify(sql) // warm the cache
		if n := testing.AllocsPerRun(100, func() { c.Classify(sql) }); n != 0 {
			t.Errorf("%q: %v allocs per call", sql, n)
		}
	}
}

// No string in a Statement may alias the caller's text: the proxy may pass
// a string that views a reused buffer.
func TestNoAliasing(t *testing.T) {
	c := New(100)
	for _, sql := range []string{
		"USE shop", "USE `shop`", "HANDLER t OPEN AS h", "HANDLER h CLOSE",
		"PREPARE s FROM 'SELECT 1'", "DEALLOCATE PREPARE s",
		"CREATE TEMPORARY TABLE tmp (a INT)", "DROP TABLE d.tmp",
		"SET sql_mode = ''", "SELECT * FROM t FOR UPDATE",
		"/* switchyard: nonsense */ SELECT 1", "SELECT 1; USE shop",
		"SET time_zone = 'UTC', NAMES utf8mb4",
	} {
		buf := []byte(sql)
		view := unsafe.String(&buf[0], len(buf))
		st := c.Classify(view)
		want := comparable(New(0).Classify(sql))
		for i := range buf {
			buf[i] = '#'
		}
		if got := comparable(st); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: after the buffer changed: %+v, want %+v", sql, got, want)
		}
		if strings.Contains(st.Digest, "#") {
			t.Errorf("%q: digest %q aliases the text", sql, st.Digest)
		}
	}
}

// Hostile inputs cost linear time and bounded stack; the test timeout is
// the assertion.
func TestHostileInputs(t *testing.T) {
	for name, sql := range map[string]string{
		"nested analyze":  strings.Repeat("ANALYZE ", 100000) + "SELECT 1",
		"nested explain":  strings.Repeat("EXPLAIN ANALYZE ", 50000) + "SELECT 1",
		"set statement":   strings.Repeat("SET STATEMENT a=1 FOR ", 50000) + "SELECT 1",
		"many statements": strings.Repeat("SET a = 1; DROP TABLE t; ", 20000),
		"many variables":  "SET " + strings.Repeat("a = 1, b = @x, ", 20000) + "c = 2",
		"many comments":   strings.Repeat("/* switchyard: primary */ -- x\n", 20000) + "SELECT 1",
		"deep parens":     "SELECT " + strings.Repeat("(", 3000) + "1" + strings.Repeat(")", 3000) + " FOR UPDATE",
		"long in list":    "SELECT * FROM t WHERE id IN (" + strings.Repeat("1,", 50000) + "1) FOR UPDATE",
		"unterminated":    "SELECT '" + strings.Repeat("x", 100000),
		"exec comments":   strings.Repeat("/*!40101 ", 10000) + "SELECT 1",
	} {
		st := New(10).Classify(sql)
		checkInvariants(t, name, st)
	}
}
