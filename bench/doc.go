// Package bench is the load generator and failover drill that prove
// Switchyard's numbers: it drives named targets (MariaDB direct, HAProxy,
// Switchyard, any MySQL-protocol endpoint given as a go-sql-driver DSN) with
// the same workload, interleaved round by round (A, B, C, A, B, C …) so that
// on a shared, noisy machine the ratios between targets hold even when the
// absolute numbers drift.
//
// What it measures, per scenario and target: throughput (queries and
// transactions per second), latency percentiles (p50, p95, p99, p99.9) from a
// fixed-size log-linear histogram, errors, and, for a target whose PID is
// given, the CPU seconds it burned per 1,000 queries and its peak RSS, read
// from /proc (Linux only). The failover drill measures how long writes fail
// after a kill command and counts acknowledged writes that are missing.
//
// Scenarios are sysbench-like (the tables have sysbench's schema, so sysbench
// can run on what --prepare creates) in text and prepared protocol, plus a
// connection storm, many idle connections, a large streamed result and the
// failover drill. Latency is per event: one query for point_select and
// connect_storm, one transaction for read_only and read_write, one whole
// result for large_result.
//
// A sweep (Config.Sweep) runs the scenarios at several connection counts
// and shows the curve: one table per scenario over the counts (sweep.go),
// a bar checked per count, and an SVG of qps and p99 against connections
// drawn here without a plotting library (chart.go).
//
// bench/cmd holds measuring tools, not the product: tcprelay (the floor of
// a Go TCP relay, goroutines or epoll loops) and evproto (Switchyard's
// per-statement work on epoll loops, a prototype).
//
// Concurrency: Run owns every goroutine it starts (one per worker, one RSS
// poller per measured window) and waits for all of them before it returns.
// Every loop is bounded by a deadline and by a count. The package keeps no
// global state; a Config is read-only once Run starts.
package bench
