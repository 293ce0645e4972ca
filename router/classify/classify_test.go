package classify

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// want builds an expected Statement: kind plus modifiers.
func want(k Kind, mods ...func(*Statement)) Statement {
	st := newStatement(k)
	for _, m := range mods {
		m(&st)
	}
	return st
}

func tx(op TxOp) func(*Statement)  { return func(s *Statement) { s.Tx = op } }
func pin(p Pin) func(*Statement)   { return func(s *Statement) { s.Pin |= p } }
func unpin(p Pin) func(*Statement) { return func(s *Statement) { s.Unpin |= p } }
func drop(p Pin) func(*Statement)  { return func(s *Statement) { s.Drop |= p } }
func autocommit(v int8) func(*Statement) {
	return func(s *Statement) { s.Tx, s.Autocommit = TxSetAutocommit, v }
}
func objects(o ...string) func(*Statement) { return func(s *Statement) { s.Objects = o } }
func vars(n ...string) func(*Statement) {
	return func(s *Statement) { s.SetsSessionVars, s.SessionVarNames = true, n }
}
func names(n ...string) func(*Statement) { return func(s *Statement) { s.SessionVarNames = n } }
func useDB(db string) func(*Statement)   { return func(s *Statement) { s.UseDB = db } }
func hint(h Hint) func(*Statement)       { return func(s *Statement) { s.Hint = h } }

var (
	sessFunc = func(s *Statement) { s.UsesSessionFunc = true }
	unparsed = func(s *Statement) { s.Unparsed, s.Unknown = true, true }
	unknown  = func(s *Statement) { s.Unknown = true }
)

// comparable strips what the table does not pin down: the digest (tested
// separately) and nil-vs-empty slices.
func comparable(s Statement) Statement {
	s.Digest = ""
	if len(s.Objects) == 0 {
		s.Objects = nil
	}
	if len(s.SessionVarNames) == 0 {
		s.SessionVarNames = nil
	}
	return s
}

type classifyCase struct {
	name string
	sql  string
	want Statement
}

var classifyCases = []classifyCase{
	// Plain reads.
	{"point select", "SELECT c FROM sbtest1 WHERE id=123", want(Read)},
	{"lower case", "select c from sbtest1 where id = 5", want(Read)},
	{"leading whitespace and comments", " \n\t/* app: list */ -- note\n# more\nSELECT 1", want(Read)},
	{"trailing semicolon", "SELECT 1;", want(Read)},
	{"trailing semicolon and comment", "SELECT 1; -- done", want(Read)},
	{"parenthesized union", "(SELECT a FROM t) UNION (SELECT a FROM u)", want(Read)},
	{"with select", "WITH a AS (SELECT 1 AS x) SELECT x FROM a", want(Read)},
	{"with recursive select", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 5) SELECT n FROM r", want(Read)},
	{"table statement", "TABLE t", want(Read)},
	{"values statement", "VALUES ROW(1, 2), ROW(3, 4)", want(Read)},
	{"join and subquery", "SELECT t.a, (SELECT MAX(b) FROM u WHERE u.id = t.id) FROM t JOIN v ON v.id = t.id WHERE t.x IN (1, 2, 3) ORDER BY 1 LIMIT 10", want(Read)},
	{"information_schema is not FOR", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'db'", want(Read)},
	{"updated_at is not UPDATE", "WITH x AS (SELECT updated_at FROM t) SELECT * FROM x", want(Read)},
	{"placeholders", "SELECT c FROM sbtest1 WHERE id = ? AND k BETWEEN ? AND ?", want(Read)},
	{"risky words in a string go to the parser", "SELECT * FROM t WHERE note = 'for update' AND x = 'sleep(1)'", want(Read)},
	{"email in a string is not a user variable", "SELECT * FROM users WHERE email = 'bob@example.com'", want(Read)},
	{"REPLACE() function", "SELECT REPLACE(name, 'a', 'b') FROM t", want(Read)},
	{"system variable", "SELECT @@version", want(Read)},
	{"session system variables", "SELECT @@session.auto_increment_increment AS a, @@character_set_client, @@global.read_only", want(Read)},
	{"sleep is harmless", "SELECT SLEEP(1)", want(Read)},
	{"show tables", "SHOW TABLES", want(Read)},
	{"show full tables", "SHOW FULL TABLES FROM db LIKE 'x%'", want(Read)},
	{"show databases", "SHOW DATABASES", want(Read)},
	{"show create table", "SHOW CREATE TABLE t", want(Read)},
	{"show columns", "SHOW COLUMNS FROM t", want(Read)},
	{"show index", "SHOW INDEX FROM t", want(Read)},
	{"show grants", "SHOW GRANTS", want(Read)},
	{"describe", "DESCRIBE t", want(Read)},
	{"desc", "desc t", want(Read)},
	{"describe column", "DESCRIBE t col", want(Read)},
	{"explain select", "EXPLAIN SELECT * FROM t WHERE a = 1", want(Read)},
	{"explain format", "EXPLAIN FORMAT=JSON SELECT * FROM t", want(Read)},
	// EXPLAIN of a write writes nothing, but a read-only session (every
	// replica connection) refuses it with 1792: the primary.
	{"explain update runs where writes run", "EXPLAIN UPDATE t SET a = 1", want(Write)},
	{"explain delete runs where writes run", "EXPLAIN DELETE FROM t WHERE a = 1", want(Write)},
	{"explain insert runs where writes run", "EXPLAIN INSERT INTO t VALUES (1)", want(Write)},
	{"explain replace runs where writes run", "EXPLAIN FORMAT=JSON REPLACE INTO t VALUES (1)", want(Write)},
	{"explain locking select does not lock", "EXPLAIN SELECT * FROM t FOR UPDATE", want(Read)},
	{"explain analyze select", "EXPLAIN ANALYZE SELECT * FROM t", want(Read)},
	{"help", "HELP 'contents'", want(Read)},
	{"mariadb analyze select runs a read", "ANALYZE SELECT * FROM t", want(Read)},
	{"nested explain analyze", "EXPLAIN ANALYZE EXPLAIN ANALYZE SELECT 1", want(Read)},
	{"deep nesting goes to the parser", "ANALYZE ANALYZE ANALYZE ANALYZE ANALYZE SELECT 1", want(Write, unparsed)},
	{"string with escaped quote", `SELECT 'it\'s' FROM t`, want(Read)},

	// Writes.
	{"insert", "INSERT INTO t (a, b) VALUES (1, 'x')", want(Write)},
	{"insert select", "INSERT INTO t SELECT * FROM u", want(Write)},
	{"update", "UPDATE t SET a = a + 1 WHERE id = 3", want(Write)},
	{"delete", "DELETE FROM t WHERE id = 3", want(Write)},
	{"replace", "REPLACE INTO t VALUES (1)", want(Write)},
	{"insert on duplicate key", "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)", want(Write)},
	{"for update", "SELECT * FROM t WHERE id = 1 FOR UPDATE", want(Write)},
	{"for update lower case and spacing", "select * from t where id = 1 for\n\t  update", want(Write)},
	{"for share", "SELECT * FROM t For Share", want(Write)},
	{"lock in share mode", "SELECT * FROM t WHERE a = 1 LOCK   IN\nSHARE MODE", want(Write)},
	{"for update nowait", "SELECT * FROM t FOR UPDATE NOWAIT", want(Write)},
	{"for update skip locked", "SELECT * FROM t FOR UPDATE SKIP LOCKED", want(Write)},
	{"for update of", "SELECT * FROM t1 JOIN t2 USING (a) FOR UPDATE OF t1", want(Write)},
	{"locking subquery", "SELECT * FROM (SELECT * FROM t FOR UPDATE) x", want(Write)},
	{"locking union branch", "(SELECT 1) UNION (SELECT a FROM t FOR UPDATE)", want(Write)},
	{"for update in executable comment", "SELECT * FROM t /*!40001 FOR UPDATE */", want(Write)},
	{"for update in mariadb executable comment", "SELECT * FROM t /*M!100301 FOR UPDATE */", want(Write)},
	{"into outfile", "SELECT * FROM t INTO OUTFILE '/tmp/t.csv'", want(Write)},
	{"into outfile before from", "SELECT * INTO OUTFILE '/tmp/t.csv' FROM t", want(Write, unparsed)},
	{"into dumpfile", "SELECT a FROM t INTO DUMPFILE '/tmp/a'", want(Write, unparsed)},
	{"into user variable", "SELECT a INTO @x FROM t WHERE id = 1", want(Write, unparsed, pin(PinUserVariable))},
	{"with update", "WITH a AS (SELECT 1 AS x) UPDATE t SET y = 1", want(Write)},
	{"with delete", "WITH a AS (SELECT 1 AS x) DELETE FROM t", want(Write)},
	{"with delete after a latin1 nbsp", "WITH A AS(SELECT 0)\xa0DELETE FROM A", want(Write)},
	{"for update after a latin1 nbsp", "SELECT * FROM t\xa0FOR UPDATE", want(Write, unparsed)},
	{"for update glued to a number", "SELECT 1FOR UPDATE", want(Write, unparsed)},
	{"nextval", "SELECT NEXTVAL(s)", want(Write)},
	{"next value for", "SELECT NEXT VALUE FOR s", want(Write)},
	{"lastval", "SELECT LASTVAL(s)", want(Write)},
	{"setval", "SELECT SETVAL(s, 100)", want(Write)},
	{"previous value for (mariadb)", "SELECT PREVIOUS VALUE FOR s", want(Write, unparsed)},
	{"get_lock", "SELECT GET_LOCK('job', 10)", want(Write, pin(PinNamedLock))},
	{"release_lock", "SELECT RELEASE_LOCK('job')", want(Write)},
	{"release_all_locks", "SELECT RELEASE_ALL_LOCKS()", want(Write, unpin(PinNamedLock))},
	{"is_used_lock", "SELECT IS_USED_LOCK('job')", want(Write)},
	{"is_free_lock", "SELECT IS_FREE_LOCK('job')", want(Write)},
	{"master_pos_wait", "SELECT MASTER_POS_WAIT('bin.000001', 4)", want(Write)},
	{"do", "DO 1 + 1", want(Write)},
	{"do sleep", "DO SLEEP(1)", want(Write)},
	{"do get_lock", "DO GET_LOCK('job', 1)", want(Write, pin(PinNamedLock))},
	{"sleep in an update", "UPDATE t SET a = SLEEP(1)", want(Write)},
	{"call", "CALL p(1, 2)", want(Write)},
	{"call with out variable", "CALL p(@out)", want(Write, pin(PinUserVariable))},
	{"load data", "LOAD DATA INFILE '/tmp/x' INTO TABLE t", want(Write)},
	{"load data local", "LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t", want(Write)},
	{"kill", "KILL 12", want(Write)},
	{"kill query", "KILL QUERY 12", want(Write)},
	{"flush", "FLUSH TABLES", want(Write)},
	{"flush privileges", "FLUSH PRIVILEGES", want(Write)},
	{"flush tables with read lock", "FLUSH TABLES WITH READ LOCK", want(Write, pin(PinLockTables))},
	{"grant", "GRANT SELECT ON db.* TO 'u'@'%'", want(Write)},
	{"revoke", "REVOKE SELECT ON db.* FROM 'u'@'%'", want(Write)},
	{"create user", "CREATE USER 'u'@'%' IDENTIFIED BY 'p'", want(Write)},
	{"set password", "SET PASSWORD = 'x'", want(Write)},
	{"analyze table", "ANALYZE TABLE t", want(Write)},
	{"analyze local table", "ANALYZE LOCAL TABLE t", want(Write)},
	{"analyze update (mariadb)", "ANALYZE UPDATE t SET a = 1", want(Write)},
	{"explain analyze update", "EXPLAIN ANALYZE UPDATE t SET a = 1", want(Write)},
	{"explain for connection", "EXPLAIN FOR CONNECTION 12", want(Write)},
	{"explain analyze of a string", `EXPLAIN ANALYZE ""`, want(Write, unparsed)},
	{"optimize table", "OPTIMIZE TABLE t", want(Write)},
	{"create table", "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))", want(Write)},
	{"alter table", "ALTER TABLE t ADD COLUMN b INT", want(Write)},
	{"create index", "CREATE INDEX i ON t (a)", want(Write)},
	{"truncate", "TRUNCATE TABLE t", want(Write)},
	{"rename table", "RENAME TABLE a TO b", want(Write)},
	{"drop table may drop a temporary one", "DROP TABLE t", want(Write, drop(PinTempTable), objects("t"))},
	{"create view", "CREATE VIEW v AS SELECT a FROM t", want(Write)},
	{"create sequence (parsed by TiDB)", "CREATE SEQUENCE s START WITH 1", want(Write)},
	{"insert returning (mariadb) is decided by keyword", "INSERT INTO t (a) VALUES (1) RETURNING id", want(Write)},
	{"delete returning with a variable: pins from tokens", "DELETE FROM t WHERE a = @x RETURNING id", want(Write, pin(PinUserVariable))},
	{"insert with an email is no user variable", "INSERT INTO users (email, note) VALUES ('bob@example.com', 'last_insert_id()')", want(Write)},
	{"insert get_lock pins", "INSERT INTO t VALUES (GET_LOCK('a', 1))", want(Write, pin(PinNamedLock))},
	{"insert with found_rows goes to the parser", "INSERT INTO t VALUES (FOUND_ROWS())", want(Write, sessFunc, unpin(PinFoundRows))},
	{"update with backslash and user variable", `UPDATE t SET a = 'x\y' WHERE b = @v`, want(Write, pin(PinUserVariable))},
	{"show master status", "SHOW MASTER STATUS", want(Write)},
	{"show binary log status", "SHOW BINARY LOG STATUS", want(Write)},
	{"show slave status", "SHOW SLAVE STATUS", want(Write)},
	{"show replica status", "SHOW REPLICA STATUS", want(Write)},
	{"show binlog events", "SHOW BINLOG EVENTS", want(Write, unparsed)},
	{"show processlist", "SHOW PROCESSLIST", want(Write)},
	{"show full processlist", "SHOW FULL PROCESSLIST", want(Write)},
	{"show global status", "SHOW GLOBAL STATUS", want(Write)},
	{"show status", "SHOW STATUS LIKE 'Threads%'", want(Write)},
	{"show global variables", "SHOW GLOBAL VARIABLES LIKE 'read_only'", want(Write)},
	{"show variables", "SHOW VARIABLES LIKE 'server_id'", want(Write)},
	{"show all slaves status (mariadb)", "SHOW ALL SLAVES STATUS", want(Write, unparsed)},
	{"show engine innodb status", "SHOW ENGINE INNODB STATUS", want(Write, unparsed)},
	{"backup stage (mariadb)", "BACKUP STAGE START", want(Write, unparsed)},
	{"set global", "SET GLOBAL max_connections = 100", want(Write)},
	{"set @@global", "SET @@global.max_connections = 100", want(Write)},
	{"set global and session is not replayed", "SET GLOBAL a = 1, SESSION b = 2", want(Write, names("b"), pin(PinSessionState))},
	{"global carries to later assignments", "SET GLOBAL a = 1, b = 2", want(Write, names("b"), pin(PinSessionState))},
	{"set persist (mysql 8)", "SET PERSIST max_connections = 100", want(Write, unparsed, pin(PinSessionState))},
	{"set list the parser cannot read", "SET NAMES latin2, time_zone = 'UTC'", want(Write, unparsed, pin(PinSessionState))},
	{"set global transaction", "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", want(Write)},
	{"start slave", "START SLAVE", want(Write, unparsed)},
	{"change master", "CHANGE MASTER TO MASTER_HOST = 'h'", want(Write, unparsed)},
	{"handler open", "HANDLER t OPEN", want(Write, pin(PinHandler), objects("t"))},
	{"handler open as", "HANDLER db.t OPEN AS h", want(Write, pin(PinHandler), objects("h"))},
	{"handler read", "HANDLER h READ FIRST", want(Write)},
	{"handler close", "HANDLER h CLOSE", want(Write, drop(PinHandler), objects("h"))},
	{"garbage", "THIS IS NOT SQL", want(Write, unparsed)},
	{"garbage select", "SELECT FROM WHERE FOR", want(Write, unparsed)},
	{"empty", "", want(Write, unknown)},
	{"only a comment", "/* ping */", want(Write, unknown)},
	{"only a semicolon", ";", want(Write, unknown)},

	// Transaction control.
	{"begin", "BEGIN", want(Transaction, tx(TxBegin))},
	{"begin lower with semicolon", "begin;", want(Transaction, tx(TxBegin))},
	{"begin work", "BEGIN WORK", want(Transaction, tx(TxBegin))},
	{"start transaction", "START TRANSACTION", want(Transaction, tx(TxBegin))},
	{"start transaction read write", "START TRANSACTION READ WRITE", want(Transaction, tx(TxBegin))},
	{"start transaction consistent snapshot", "START TRANSACTION WITH CONSISTENT SNAPSHOT", want(Transaction, tx(TxBegin))},
	{"start transaction read only", "START TRANSACTION READ ONLY", want(Transaction, tx(TxBeginReadOnly))},
	{"start transaction read only, snapshot", "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT", want(Transaction, tx(TxBeginReadOnly))},
	{"start transaction snapshot, read only", "start transaction with consistent snapshot, read only", want(Transaction, tx(TxBeginReadOnly))},
	{"commit", "COMMIT", want(Transaction, tx(TxCommit))},
	{"commit work", "COMMIT WORK", want(Transaction, tx(TxCommit))},
	{"commit and no chain release", "COMMIT AND NO CHAIN NO RELEASE", want(Transaction, tx(TxCommit))},
	{"commit release", "COMMIT RELEASE", want(Transaction, tx(TxCommit))},
	{"commit and chain stays in a transaction", "COMMIT AND CHAIN", want(Transaction, tx(TxOther))},
	{"rollback", "ROLLBACK", want(Transaction, tx(TxRollback))},
	{"rollback work", "ROLLBACK WORK", want(Transaction, tx(TxRollback))},
	{"rollback and chain", "ROLLBACK AND CHAIN", want(Transaction, tx(TxOther))},
	{"rollback to savepoint", "ROLLBACK TO SAVEPOINT sp1", want(Transaction, tx(TxOther))},
	{"rollback to", "ROLLBACK TO sp1", want(Transaction, tx(TxOther))},
	{"rollback work to savepoint", "ROLLBACK WORK TO SAVEPOINT sp1", want(Transaction, tx(TxOther))},
	{"savepoint", "SAVEPOINT sp1", want(Transaction, tx(TxOther))},
	{"release savepoint", "RELEASE SAVEPOINT sp1", want(Transaction, tx(TxOther))},
	{"xa start", "XA START 'x1'", want(Transaction, tx(TxBegin))},
	{"xa begin", "XA BEGIN 'x1', 'b', 1", want(Transaction, tx(TxBegin))},
	{"xa end", "XA END 'x1'", want(Transaction, tx(TxOther))},
	{"xa prepare", "XA PREPARE 'x1'", want(Transaction, tx(TxOther))},
	{"xa commit", "XA COMMIT 'x1' ONE PHASE", want(Transaction, tx(TxCommit))},
	{"xa rollback", "XA ROLLBACK 'x1'", want(Transaction, tx(TxRollback))},
	{"xa recover", "XA RECOVER", want(Transaction, tx(TxOther))},
	{"set autocommit 0", "SET autocommit=0", want(Transaction, autocommit(0))},
	{"set autocommit 1", "SET autocommit = 1", want(Transaction, autocommit(1))},
	{"set autocommit on", "set AUTOCOMMIT = ON", want(Transaction, autocommit(1))},
	{"set autocommit off", "SET autocommit=OFF", want(Transaction, autocommit(0))},
	{"set autocommit 'off'", "SET autocommit='OFF'", want(Transaction, autocommit(0))},
	{"set autocommit true", "SET autocommit := true", want(Transaction, autocommit(1))},
	{"set @@autocommit", "SET @@autocommit=0", want(Transaction, autocommit(0))},
	{"set @@session.autocommit", "SET @@SESSION.autocommit = 1", want(Transaction, autocommit(1))},
	{"set session autocommit", "SET SESSION autocommit = 0", want(Transaction, autocommit(0))},
	{"set autocommit from a variable is assumed off", "SET autocommit = @saved", want(Transaction, autocommit(0), pin(PinUserVariable))},
	{"set autocommit default is assumed off", "SET autocommit = DEFAULT", want(Transaction, autocommit(0))},
	{"set autocommit with another variable", "SET autocommit = 0, sql_mode = ''", want(Transaction, autocommit(0), vars("sql_mode"))},
	{"set transaction", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", want(Transaction, tx(TxOther))},
	{"set transaction read only", "SET TRANSACTION READ ONLY", want(Transaction, tx(TxOther))},
	{"set transaction two characteristics", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE", want(Transaction, tx(TxOther))},

	// Session state.
	{"use", "USE shop", want(Session, useDB("shop"))},
	{"use quoted", "USE `my``db`", want(Session, useDB("my`db"))},
	{"use with semicolon", "use shop ;", want(Session, useDB("shop"))},
	{"set names", "SET NAMES utf8mb4", want(Session, vars("names"))},
	{"set names collate", "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", want(Session, vars("names"))},
	{"set names default", "SET NAMES DEFAULT", want(Session, vars("names"))},
	{"set character set", "SET CHARACTER SET utf8", want(Session, vars("charset"))},
	{"set charset", "SET CHARSET utf8mb4", want(Session, vars("charset"))},
	{"set names in executable comment", "/*!40101 SET NAMES utf8 */", want(Session, vars("names"))},
	{"set sql_mode", "SET sql_mode = 'STRICT_TRANS_TABLES'", want(Session, vars("sql_mode"))},
	{"set session time_zone", "SET SESSION time_zone = '+00:00'", want(Session, vars("time_zone"))},
	{"set local", "SET LOCAL wait_timeout = 10", want(Session, vars("wait_timeout"))},
	{"set @@session", "SET @@session.sql_mode = '', @@SESSION.TIME_ZONE = 'UTC'", want(Session, vars("sql_mode", "time_zone"))},
	{"set @@var", "SET @@max_execution_time = 100", want(Session, vars("max_execution_time"))},
	{"set var and names", "SET time_zone = '+00:00', NAMES utf8mb4", want(Session, vars("time_zone", "names"))},
	{"set user variable", "SET @x = 1", want(Session, pin(PinUserVariable))},
	{"set user variable :=", "SET @x := (SELECT MAX(id) FROM t)", want(Session, pin(PinUserVariable))},
	{"set user and session variables", "SET @a = 1, sql_mode = ''", want(Session, pin(PinUserVariable), vars("sql_mode"))},
	{"set session variable from user variable", "SET sql_mode = @old_mode", want(Session, pin(PinUserVariable), vars("sql_mode"))},
	{"set user variable to get_lock", "SET @l = GET_LOCK('a', 1)", want(Write, pin(PinUserVariable|PinNamedLock))},
	{"set user variable to last_insert_id", "SET @id = LAST_INSERT_ID()", want(Session, pin(PinUserVariable), sessFunc)},
	{"set session transaction isolation", "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", want(Session, vars("transaction_isolation"))},
	{"set session transaction read only", "SET SESSION TRANSACTION READ ONLY", want(Session, vars("transaction_read_only"))},
	{"set role", "SET ROLE app_reader", want(Session, vars("role"))},
	{"prepare", "PREPARE Stmt1 FROM 'SELECT * FROM t WHERE id = ?'", want(Session, pin(PinSQLPrepare), objects("stmt1"))},
	{"prepare from variable", "PREPARE s FROM @sql", want(Session, pin(PinSQLPrepare|PinUserVariable), objects("s"))},
	{"execute", "EXECUTE s", want(Session)},
	{"execute using", "EXECUTE s USING @a, @b", want(Session, pin(PinUserVariable))},
	{"deallocate prepare", "DEALLOCATE PREPARE s", want(Session, drop(PinSQLPrepare), objects("s"))},
	{"drop prepare", "DROP PREPARE s", want(Session, drop(PinSQLPrepare), objects("s"))},
	{"lock tables", "LOCK TABLES t READ", want(Session, pin(PinLockTables))},
	{"lock table", "lock table t write", want(Session, pin(PinLockTables))},
	{"lock tables list", "LOCK TABLES t1 READ LOCAL, t2 AS x WRITE", want(Session, pin(PinLockTables))},
	{"unlock tables", "UNLOCK TABLES", want(Session, unpin(PinLockTables))},

	// Pins and session functions.
	{"create temporary table", "CREATE TEMPORARY TABLE tmp (a INT)", want(Write, pin(PinTempTable), objects("tmp"))},
	{"create temporary table select", "CREATE TEMPORARY TABLE db.Tmp SELECT 1 AS a", want(Write, pin(PinTempTable), objects("db.Tmp"))},
	{"create or replace temporary table (mariadb)", "CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)", want(Write, unparsed, pin(PinTempTable))},
	{"drop temporary table", "DROP TEMPORARY TABLE tmp", want(Write, drop(PinTempTable), objects("tmp"))},
	{"drop temporary tables", "DROP TEMPORARY TABLE IF EXISTS a, b", want(Write, drop(PinTempTable), objects("a", "b"))},
	{"select user variable", "SELECT @x", want(Read, pin(PinUserVariable))},
	{"select assigns user variable", "SELECT @x := MAX(id) FROM t", want(Read, pin(PinUserVariable))},
	{"user variable in where", "SELECT * FROM t WHERE a = @x", want(Read, pin(PinUserVariable))},
	{"quoted user variable", "SELECT @`my var`", want(Read, pin(PinUserVariable))},
	{"last_insert_id", "SELECT LAST_INSERT_ID()", want(Read, sessFunc)},
	{"@@identity", "SELECT @@IDENTITY", want(Read, sessFunc)},
	{"@@last_insert_id", "SELECT @@session.last_insert_id", want(Read, sessFunc)},
	{"found_rows", "SELECT FOUND_ROWS()", want(Read, sessFunc, unpin(PinFoundRows))},
	{"row_count", "SELECT ROW_COUNT()", want(Read, sessFunc)},
	{"sql_calc_found_rows", "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", want(Read, pin(PinFoundRows))},
	{"show warnings", "SHOW WARNINGS", want(Read, sessFunc)},
	{"show errors", "SHOW ERRORS", want(Read, sessFunc)},
	{"show count warnings", "SHOW COUNT(*) WARNINGS", want(Read, sessFunc)},
	{"@@warning_count", "SELECT @@warning_count", want(Read, sessFunc)},
	{"get diagnostics", "GET DIAGNOSTICS @n = NUMBER", want(Read, sessFunc, pin(PinUserVariable))},
	{"get current diagnostics condition", "GET CURRENT DIAGNOSTICS CONDITION 1 @s = RETURNED_SQLSTATE", want(Read, sessFunc, pin(PinUserVariable))},
	{"insert last_insert_id", "INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())", want(Write, sessFunc)},
	{"insert user variable", "INSERT INTO t VALUES (@x)", want(Write, pin(PinUserVariable))},
	{"update assigns user variable", "UPDATE t SET a = (@n := @n + 1)", want(Write, pin(PinUserVariable))},
	{"last_insert_id(expr) sequence idiom", "UPDATE seq SET id = LAST_INSERT_ID(id + 1)", want(Write, sessFunc)},
	{"insert select sql_calc_found_rows", "INSERT INTO t SELECT SQL_CALC_FOUND_ROWS a FROM u", want(Write, pin(PinFoundRows))},
	{"create procedure does not pin", "CREATE PROCEDURE p() BEGIN SELECT @x; SET @y = 1; END", want(Write)},

	// MariaDB SET STATEMENT ... FOR follows the inner statement.
	{"set statement select", "SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", want(Read)},
	{"set statement update", "SET STATEMENT sql_mode = '' FOR UPDATE t SET a = 1", want(Write)},
	{"set statement for update", "SET STATEMENT lock_wait_timeout = 1 FOR SELECT * FROM t FOR UPDATE", want(Write)},
	{"set statement list with user variable", "SET STATEMENT a = 1, b = @v FOR SELECT 1", want(Read, pin(PinUserVariable))},

	// Multi-statement strings: the most restrictive part wins, pins add up.
	{"two reads", "SELECT 1; SELECT 2", want(Read)},
	{"read then write", "SELECT 1; UPDATE t SET a = 1", want(Write)},
	{"semicolon in a string", "SELECT ';' ; SELECT 'a;b'", want(Read)},
	{"transaction batch", "BEGIN; INSERT INTO t VALUES (1); COMMIT", want(Write, tx(TxCommit))},
	{"begin then read", "START TRANSACTION READ ONLY; SELECT * FROM t", want(Transaction, tx(TxBeginReadOnly))},
	{"set names then read is not replayable", "SET NAMES utf8mb4; SELECT 1", want(Session, names("names"), pin(PinSessionState))},
	{"set batch is replayable", "SET NAMES utf8mb4; SET sql_mode = ''; SET @a = 1, time_zone = 'UTC'", want(Session, vars("names", "sql_mode", "time_zone"), pin(PinUserVariable))},
	{"mysqldump preamble", "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!40101 SET NAMES utf8mb4 */;", want(Session, names("names"), pin(PinUserVariable|PinSessionState))},
	{"use then read", "USE shop; SELECT * FROM t", want(Session, useDB("shop"))},
	{"lock, read, unlock", "LOCK TABLES t READ; SELECT * FROM t; UNLOCK TABLES", want(Session, unpin(PinLockTables))},
	{"pins add up", "SELECT GET_LOCK('a', 1); SELECT @x", want(Write, pin(PinNamedLock|PinUserVariable))},
	{"autocommit then read", "SET autocommit = 0; SELECT 1", want(Transaction, autocommit(0))},
	{"write hidden after a string in no-backslash mode", `SELECT 'a\' ; DELETE FROM t; -- '`, want(Write, unknown)},
	{"for update hidden after a string in no-backslash mode", `SELECT 'a\' FOR UPDATE -- '`, want(Write, unknown)},
	{"comment inside executable comment", "SELECT * FROM t /*!50000 -- */ FOR UPDATE", want(Write, unknown)},
	{"temporary table batch", "CREATE TEMPORARY TABLE x (a INT); INSERT INTO x VALUES (1); SELECT * FROM x", want(Write, pin(PinTempTable), objects("x"))},

	// Hints.
	{"hint primary", "/* switchyard: primary */ SELECT 1", want(Read, hint(Hint{Route: HintPrimary}))},
	{"hint replica", "/*switchyard:replica*/SELECT 1", want(Read, hint(Hint{Route: HintReplica}))},
	{"hint consistency", "/* switchyard: consistency=session */ SELECT 1", want(Read, hint(Hint{Consistency: "session"}))},
	{"hint max staleness", "/* switchyard: max_staleness=2s */ SELECT 1", want(Read, hint(Hint{MaxStaleness: 2 * time.Second}))},
	{"hint combined", "/* switchyard: replica, max_staleness=500ms, consistency=EVENTUAL */ SELECT 1", want(Read, hint(Hint{Route: HintReplica, MaxStaleness: 500 * time.Millisecond, Consistency: "eventual"}))},
	{"hint with spaces around =", "/* switchyard: max_staleness = 3 */ SELECT 1", want(Read, hint(Hint{MaxStaleness: 3 * time.Second}))},
	{"hint route=", "/* switchyard: route=master */ SELECT 1", want(Read, hint(Hint{Route: HintPrimary}))},
	{"trailing hint", "SELECT 1 /* switchyard: primary */", want(Read, hint(Hint{Route: HintPrimary}))},
	{"hash comment hint", "SELECT 1 # switchyard: replica", want(Read, hint(Hint{Route: HintReplica}))},
	{"maxscale master", "-- maxscale route to master\nSELECT 1", want(Read, hint(Hint{Route: HintPrimary}))},
	{"maxscale slave trailing", "SELECT * FROM t -- maxscale route to slave", want(Read, hint(Hint{Route: HintReplica}))},
	{"maxscale server is not supported", "SELECT 1 -- maxscale route to server db3", want(Read, hint(Hint{Invalid: "route to server db3"}))},
	{"hint on a write", "/* switchyard: replica */ UPDATE t SET a = 1", want(Write, hint(Hint{Route: HintReplica}))},
	{"hint on a transaction statement", "BEGIN /* switchyard: consistency=primary */", want(Transaction, tx(TxBegin), hint(Hint{Consistency: "primary"}))},
	{"hint on a locking read", "/* switchyard: replica */ SELECT * FROM t FOR UPDATE", want(Write, hint(Hint{Route: HintReplica}))},
	{"bad consistency", "/* switchyard: consistency=strong, primary */ SELECT 1", want(Read, hint(Hint{Route: HintPrimary, Invalid: "consistency=strong"}))},
	{"bad duration", "/* switchyard: max_staleness=soon */ SELECT 1", want(Read, hint(Hint{Invalid: "max_staleness=soon"}))},
	{"unknown hint word", "/* switchyard: fastest */ SELECT 1", want(Read, hint(Hint{Invalid: "fastest"}))},
	{"not a hint without colon", "/* switchyard is great */ SELECT 1", want(Read)},
	{"hint text in a string is not a hint", "SELECT '/* switchyard: primary */'", want(Read)},
	{"later hint wins", "/* switchyard: primary */ SELECT 1 /* switchyard: replica */", want(Read, hint(Hint{Route: HintReplica}))},
	{"hint in a batch", "/* switchyard: primary */ SELECT 1; SELECT 2", want(Read, hint(Hint{Route: HintPrimary}))},
}

func TestClassify(t *testing.T) {
	for _, cached := range []bool{false, true} {
		c := New(0)
		if cached {
			c = New(1000)
		}
		for _, tc := range classifyCases {
			t.Run(tc.name, func(t *testing.T) {
				// Twice: the second answer may come from the cache.
				for i := range 2 {
					got := comparable(c.Classify(tc.sql))
					if !reflect.DeepEqual(got, tc.want) {
						t.Fatalf("Classify(%q) (cached=%v, round %d)\n got %+v\nwant %+v", tc.sql, cached, i, got, tc.want)
					}
				}
			})
		}
	}
}

func TestClassifyInvariants(t *testing.T) {
	for _, tc := range classifyCases {
		st := Classify(tc.sql)
		checkInvariants(t, tc.sql, st)
	}
}

func checkInvariants(t *testing.T, sql string, st Statement) {
	t.Helper()
	if n := analyzePanics.Load(); n != 0 {
		t.Fatalf("%q: analyze panicked (%d so far)", sql, n)
	}
	if st.Kind > Session {
		t.Fatalf("%q: invalid kind %d", sql, st.Kind)
	}
	if (st.Unparsed || st.Unknown) && st.Kind != Write {
		t.Fatalf("%q: unparsed/unknown but %v", sql, st.Kind)
	}
	if st.Unparsed && !st.Unknown {
		t.Fatalf("%q: unparsed but not unknown", sql)
	}
	if (st.Tx == TxSetAutocommit) != (st.Autocommit != -1) && st.Autocommit != -1 && st.Tx == TxNone {
		t.Fatalf("%q: autocommit %d with tx %v", sql, st.Autocommit, st.Tx)
	}
	if st.Autocommit < -1 || st.Autocommit > 1 {
		t.Fatalf("%q: autocommit %d", sql, st.Autocommit)
	}
	if st.SetsSessionVars && len(st.SessionVarNames) == 0 || len(st.SessionVarNames) > 0 && !st.SetsSessionVars && st.Pin&PinSessionState == 0 {
		t.Fatalf("%q: SetsSessionVars=%v with names %v", sql, st.SetsSessionVars, st.SessionVarNames)
	}
}

func TestStrings(t *testing.T) {
	if got := (PinTempTable | PinNamedLock | PinSessionState).String(); got != "temp_table,named_lock,session_state" {
		t.Errorf("Pin.String = %q", got)
	}
	if got := Pin(0).String(); got != "none" {
		t.Errorf("Pin(0).String = %q", got)
	}
	for k := Read; k <= Session; k++ {
		if k.String() == "invalid" {
			t.Errorf("Kind %d has no name", k)
		}
	}
	for op := TxNone; op <= TxSetAutocommit; op++ {
		if op.String() == "invalid" {
			t.Errorf("TxOp %d has no name", op)
		}
	}
}

func TestDigest(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT c FROM sbtest1 WHERE id=123", "SELECT c FROM sbtest1 WHERE id=?"},
		{"  SELECT  c\n\tFROM t  WHERE a = 'x''y' AND b = \"z\" ;  ", "SELECT c FROM t WHERE a = ? AND b = ?"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3, 4)", "SELECT * FROM t WHERE id IN (?...)"},
		{"SELECT * FROM t WHERE id IN (1,2)", "SELECT * FROM t WHERE id IN (?...)"},
		{"SELECT * FROM t WHERE id IN (?, ?, ?)", "SELECT * FROM t WHERE id IN (?...)"},
		{"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (?...), (?...)"},
		{"SELECT /* c */ 1.5e3, 0x1F, X'1F', b'101', N'x', _utf8mb4'x', -7", "SELECT ?..., -?"},
		{"SELECT a FROM t1 WHERE b = 1abc", "SELECT a FROM t1 WHERE b = 1abc"},
		{"SELECT @x, @@session.sql_mode, `a b`", "SELECT @x, @@session.sql_mode, `a b`"},
		{"SELECT 1 -- c\n; SELECT 2 # d", "SELECT ? ; SELECT ?"},
		{"SELECT * FROM t /*!40001 FOR UPDATE */", "SELECT * FROM t FOR UPDATE"},
		// Digits that may be names stay: t.1, "0. x" (column x of table 0),
		// 0X1F (the hex prefix is lower-case only).
		{"SELECT t.1, 0. x, 0X1F, 0x1F, 1e5", "SELECT t.1, 0. x, 0X1F, ?..."},
		{"SELECT 'a' /* switchyard: primary */ FROM t", "SELECT ? FROM t"},
	} {
		if got := Digest(tc.sql); got != tc.want {
			t.Errorf("Digest(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestAppendDigest(t *testing.T) {
	sql := "SELECT * FROM t WHERE id IN (1, 2) /* x */ AND a = 'b'"
	if got, want := string(AppendDigest([]byte("x:"), sql)), "x:"+Digest(sql); got != want {
		t.Fatalf("AppendDigest = %q, want %q", got, want)
	}
	if !raceEnabled {
		buf := make([]byte, 0, 128)
		if n := testing.AllocsPerRun(100, func() { buf = AppendDigest(buf[:0], sql) }); n != 0 {
			t.Fatalf("AppendDigest: %v allocs", n)
		}
	}
}

// TiDB reads EXPLAIN [ANALYZE] '<digest>' as an ExplainStmt without a
// statement: analyze must not trip on it.
func TestExplainWithoutStatement(t *testing.T) {
	before := analyzePanics.Load()
	st, ok := parserOnly(`EXPLAIN ANALYZE ""`)
	if analyzePanics.Load() != before {
		t.Fatal("analyze panicked")
	}
	if ok && st.Kind != Write {
		t.Fatalf("kind %v", st.Kind)
	}
}

func TestPinBitsLeftToCallers(t *testing.T) {
	if PinSessionState >= 1<<8 {
		t.Fatalf("pins reach bit %v; callers own bits 8-15", PinSessionState)
	}
}

func TestDigestOnSlowPath(t *testing.T) {
	c := New(10)
	st := c.Classify("SELECT * FROM t WHERE id = 7 FOR UPDATE")
	if st.Digest != "SELECT * FROM t WHERE id = ? FOR UPDATE" {
		t.Fatalf("digest %q", st.Digest)
	}
	for _, sql := range []string{
		"SELECT c FROM t WHERE id = 7",
		"SELECT c FROM t WHERE email = 'bob@example.com' AND note = 'for update'",
		"SELECT c FROM t WHERE id = @x",
		"SELECT 1 /* switchyard: primary */",
		"SELECT c FROM t WHERE id = 7;",
		"INSERT INTO t VALUES ('a@b', LAST_INSERT_ID())",
	} {
		if st := c.Classify(sql); st.Digest != "" {
			t.Fatalf("%q: went to the parser (digest %q)", sql, st.Digest)
		}
	}
	st = c.Classify("SELECT 1; SELECT @x")
	if st.Digest != "SELECT ?; SELECT @x" {
		t.Fatalf("batch digest %q", st.Digest)
	}
}

// TestFastPathAgreesWithParser checks, for every case the fast path decides,
// that the parser-only answer is no more restrictive.
func TestFastPathAgreesWithParser(t *testing.T) {
	c := New(0)
	for _, tc := range classifyCases {
		fast, ok := c.fast(tc.sql, 0)
		if !ok {
			continue
		}
		p, ok := parserOnly(tc.sql)
		if !ok {
			continue
		}
		if p.Kind == Write && fast.Kind != Write {
			t.Errorf("%s: %q fast %v, parser %v", tc.name, tc.sql, fast.Kind, p.Kind)
		}
		if p.Pin&^fast.Pin != 0 {
			t.Errorf("%s: %q fast pins %v, parser %v", tc.name, tc.sql, fast.Pin, p.Pin)
		}
	}
}

// parserOnly classifies with the TiDB parser alone, in the default mode.
func parserOnly(sql string) (Statement, bool) {
	return parseAnalyze(sql, defaultMode)
}

func TestSessionVarNamesNotShared(t *testing.T) {
	c := New(100)
	a := c.Classify("SET sql_mode = ''; SET time_zone = 'UTC'")
	b := c.Classify("SET sql_mode = ''")
	if !slices.Equal(a.SessionVarNames, []string{"sql_mode", "time_zone"}) || !slices.Equal(b.SessionVarNames, []string{"sql_mode"}) {
		t.Fatalf("names a=%v b=%v: a merge wrote into a cached slice", a.SessionVarNames, b.SessionVarNames)
	}
}

func TestRiskWordsAllKnown(t *testing.T) {
	for _, w := range riskWords {
		if wordRisk(w) == 0 || wordRisk(strings.ToUpper(w)) == 0 {
			t.Errorf("%q is in riskWords but not found by wordRisk", w)
		}
	}
}
