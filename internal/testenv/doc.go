// Package testenv gives tests the real parts they run against: a MariaDB
// primary with two GTID replicas on loopback (started by scripts/topology.sh),
// a race-enabled switchyard binary, free ports and database handles.
//
// # Topologies
//
// Topology returns the topology shared by every test of the process. When
// SWITCHYARD_TEST_TOPOLOGY is set ("primary,replica1,replica2" host:port
// addresses, as `make test` does) it is used as is and shared by every
// package of the run, so tests must not kill its servers, change their roles
// or rely on the tables of other tests: such tests call NewTopology, which
// starts a private topology that the test owns (Kill, Start) and that is
// stopped when the test ends.
//
// Without the variable, Topology starts one topology per test process, in a
// directory under os.TempDir() named after the package and the pid, on free
// ports. Main (or Run) in TestMain stops it when the tests end. A watchdog process
// stops it too if the test binary dies without running Main (a timeout
// panic, SIGKILL): it waits for EOF on a pipe whose write end only this
// process holds, so it needs no polling and cannot outlive its duty.
//
// # Concurrency
//
// Every function may be called from parallel tests. Topology and
// BuildSwitchyard do their work once per process; callers that arrive while
// it runs wait for it.
package testenv
