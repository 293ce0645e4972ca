// Package parity holds the parity gates: tests only, no code. Each sends
// the same work to a primary directly and through a real switchyard
// process and fails where the answers differ, naming what differed.
//
// TestClientTestParity runs MariaDB's own C API test program
// (mariadb-client-test, from Debian's mariadb-test package), whose ~300
// cases exercise the corners of the protocol an application may use
// (prepared statements, bulk execution, cursors, progress reports,
// COM_CHANGE_USER, the less common commands): every case that passes
// directly must pass through the proxy. It prints both counts and fails
// naming each divergent case with the tail of its output, and names the
// case after which a replica holds a GTID of its own server id (a write
// ran there). It starts its own topology (testenv.NewTopology): the cases
// change global variables (autocommit, max_join_size, ...) for a moment,
// which would leak into the tests of other packages sharing `make test`'s
// topology. Cases run one at a time, because they all share the database
// client_test_db, which the gate drops before each case (and puts back the
// globals a failed case left) so that a failure cannot cascade.
//
// TestCorpusParity sends a script of raw commands (multi-statements,
// procedures, cursors, long data, warnings, transactions, every COM_*) and
// compares the answers command by command.
package parity
