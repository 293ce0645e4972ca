// Package parity holds the parity gate: tests only, no code. It runs
// MariaDB's own C API test program (mariadb-client-test, from Debian's
// mariadb-test package) against a primary directly and through a real
// switchyard process, and fails when a case that passes directly fails
// through the proxy. The program exercises the corners of the protocol an
// application may use (prepared statements, bulk execution, cursors,
// progress reports, COM_CHANGE_USER, the less common commands), so the gate
// catches a proxy that is not transparent there, with the case's name and
// the tail of its output.
//
// The gate starts its own topology (testenv.NewTopology): the cases change
// global variables (autocommit, max_join_size, ...) for a moment, which
// would leak into the tests of other packages sharing `make test`'s
// topology. Cases run one at a time, because they all share the database
// client_test_db, which the gate drops before each case so that a failure
// cannot cascade into the next case.
package parity
