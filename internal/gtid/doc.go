// Package gtid owns what differs between MariaDB and MySQL about global
// transaction ids: one position type for both (MariaDB's
// domain-server-seq positions, MySQL's uuid:interval sets) with
// Parse/Covers/Merge/String, a monotone concurrent holder of one (Known),
// and the table of each flavor's GTID SQL (Dialect: the wait statement and
// how to read its answer, the applied-position expression, how a write's
// GTID is learned). The router, the proxy and health all take positions
// and GTID SQL from here; it imports nothing of the project.
//
// A Position is an immutable value: methods never modify their receiver,
// so one may be shared between goroutines. Known is safe for concurrent
// use.
package gtid
