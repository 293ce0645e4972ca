package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config is one invocation. Run reads it and never changes it.
type Config struct {
	Targets   []Target
	Baseline  string   // ratios are printed against this target ("" = none)
	Compare   []string // and against each of these, e.g. haproxy
	Scenarios []string

	Rounds   int           // per scenario, each target runs this many times, interleaved
	Duration time.Duration // measured time of one round
	Warmup   time.Duration // unmeasured load before each round's window
	Conns    int           // concurrent client connections
	// Sweep, when set, runs every scenario at each of these connection
	// counts in turn instead of at Conns (the curve of qps and p99
	// against connections, SweepSVG).
	Sweep []int

	Tables        int    // sbtest1..Tables
	TableSize     int    // rows per table
	Prepare       bool   // drop and create the tables first
	PrepareTarget string // where to prepare ("" = baseline, else the first target)

	IdleConns     int           // idle_conns: connections held open
	IdleActive    int           // idle_conns: point-select workers running meanwhile
	IdleOpenLimit time.Duration // idle_conns: time allowed to open them all

	LargeBytes    int64         // large_result: column bytes per result
	LargeRowBytes int           // large_result: bytes per row
	LargeTimeout  time.Duration // large_result: time allowed for one result

	KillCmd         string        // failover: run with sh -c after the warmup ("" = kill nothing)
	KillTimeout     time.Duration // failover: time allowed for the kill command
	FailoverTargets []string      // failover: targets to drill ("" = all), one after the other
	FailoverWriters int           // failover: concurrent autocommit writers
	FailoverRate    int           // failover: writes per second, all writers together
	FailoverWarmup  time.Duration // failover: writes before the kill
	FailoverTimeout time.Duration // failover: time after the kill for writes to come back
	FailoverSettle  time.Duration // failover: error-free time that ends the drill
	OpTimeout       time.Duration // any single statement or connect

	Log io.Writer // progress lines; nil discards them
}

// DefaultConfig holds every default.
func DefaultConfig() Config {
	return Config{
		Scenarios:       DefaultScenarios(),
		Rounds:          3,
		Duration:        10 * time.Second,
		Warmup:          1 * time.Second, // connections, prepares, caches: not measured
		Conns:           32,              // the bar in the issue is stated at 32 client connections
		Tables:          4,
		TableSize:       10000, // fits any buffer pool: the bench measures the path, not the disk
		IdleConns:       10000,
		IdleActive:      4,
		IdleOpenLimit:   2 * time.Minute,
		LargeBytes:      1 << 30,
		LargeRowBytes:   1000,
		LargeTimeout:    5 * time.Minute,
		KillTimeout:     30 * time.Second,
		FailoverWriters: 4,
		FailoverRate:    2000, // 0.5 ms resolution on the outage, 10+ minutes within the write budget
		FailoverWarmup:  5 * time.Second,
		FailoverTimeout: 60 * time.Second,
		FailoverSettle:  5 * time.Second,
		OpTimeout:       10 * time.Second,
	}
}

// Scenario names.
const (
	ScPointSelect     = "point_select"
	ScPointSelectPrep = "point_select_prepared"
	ScReadOnly        = "read_only"
	ScReadOnlyPrep    = "read_only_prepared"
	ScReadWrite       = "read_write"
	ScReadWritePrep   = "read_write_prepared"
	// ScReadWriteAuto is the read-write mix without BEGIN/COMMIT (sysbench's
	// --skip-trx), each event ending with a read of the row it inserted:
	// autocommit reads after writes, which a proxy sending reads to
	// replicas must make see those writes (read-your-writes).
	ScReadWriteAuto = "read_write_autocommit"
	ScConnectStorm  = "connect_storm"
	ScIdleConns     = "idle_conns"
	ScLargeResult   = "large_result"
	ScFailover      = "failover"
)

// AllScenarios lists every scenario in the order a full run uses.
// idle_conns comes after large_result because a process seldom gives back
// the memory 10,000 connections took, which would hide what streaming
// costs; failover is last because a real kill leaves the topology changed.
func AllScenarios() []string {
	return []string{
		ScPointSelect, ScPointSelectPrep,
		ScReadOnly, ScReadOnlyPrep,
		ScReadWrite, ScReadWritePrep, ScReadWriteAuto,
		ScConnectStorm, ScLargeResult, ScIdleConns,
		ScFailover,
	}
}

// DefaultScenarios is every scenario but the failover drill, which must be
// asked for by name.
func DefaultScenarios() []string {
	all := AllScenarios()
	return all[:len(all)-1]
}

// ExpandScenarios turns a comma list into scenario names: "all", "default"
// and "oltp" are groups, and a "_text" suffix is accepted for the text
// variants. Unknown names are an error.
func ExpandScenarios(list string) ([]string, error) {
	var out []string
	var errs []error
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		switch s {
		case "":
			continue
		case "all":
			out = append(out, AllScenarios()...)
			continue
		case "default":
			out = append(out, DefaultScenarios()...)
			continue
		case "oltp":
			out = append(out, AllScenarios()[:7]...)
			continue
		}
		s = strings.TrimSuffix(s, "_text")
		if !slices.Contains(AllScenarios(), s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (known: %s, and the groups all, default, oltp)", s, strings.Join(AllScenarios(), ", ")))
			continue
		}
		out = append(out, s)
	}
	// Keep the first occurrence of each.
	seen := map[string]bool{}
	uniq := out[:0]
	for _, s := range out {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	return uniq, errors.Join(errs...)
}

// Validate returns every problem at once, each naming its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Targets) == 0 {
		bad("--target: at least one target is required (name=DSN)")
	}
	names := map[string]bool{}
	for _, t := range c.Targets {
		if !namePattern.MatchString(t.Name) {
			bad("--target %q: the name must be 1-32 letters, digits, '_', '-', '.'", t.Name)
		}
		if names[t.Name] {
			bad("--target %s: given twice", t.Name)
		}
		names[t.Name] = true
		if t.DSN == "" {
			bad("--target %s: empty DSN", t.Name)
		} else if _, err := mysql.ParseDSN(t.DSN); err != nil {
			bad("--target %s: %v (want a go-sql-driver DSN like app:app@tcp(127.0.0.1:3306)/test)", t.Name, err)
		}
		if t.PID < 0 {
			bad("--pid %s: %d is not a process id", t.Name, t.PID)
		}
	}
	for flag, n := range map[string]string{"--baseline": c.Baseline, "--prepare-target": c.PrepareTarget} {
		if n != "" && !names[n] {
			bad("%s %s: no target has that name", flag, n)
		}
	}
	for _, n := range c.Compare {
		if !names[n] {
			bad("--compare %s: no target has that name", n)
		}
	}
	for _, n := range c.Sweep {
		if n < 1 {
			bad("--sweep: %d connections; give counts of at least 1", n)
		}
	}
	readsOnly := c.readsOnly()
	for _, n := range c.FailoverTargets {
		if !names[n] {
			bad("--failover-target %s: no target has that name", n)
		} else if readsOnly[n] && slices.Contains(c.Scenarios, ScFailover) {
			bad("--failover-target %s: the target takes reads only, the drill writes", n)
		}
	}
	if pt := c.prepareTarget(); readsOnly[pt] && c.Prepare {
		bad("--prepare through %s: the target takes reads only; name another with --prepare-target", pt)
	}
	if len(readsOnly) == len(c.Targets) && len(c.Targets) > 0 {
		bad("--reads-only: every target takes reads only; nothing could prepare or write")
	}
	if len(c.Scenarios) == 0 {
		bad("--scenarios: nothing to run")
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios(), s) {
			bad("--scenarios: unknown scenario %q", s)
		}
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"--rounds", int64(c.Rounds)},
		{"--conns", int64(c.Conns)},
		{"--tables", int64(c.Tables)},
		{"--table-size", int64(c.TableSize)},
		{"--idle-conns", int64(c.IdleConns)},
		{"--idle-active", int64(c.IdleActive)},
		{"--large-bytes", c.LargeBytes},
		{"--large-row-bytes", int64(c.LargeRowBytes)},
		{"--failover-writers", int64(c.FailoverWriters)},
		{"--failover-rate", int64(c.FailoverRate)},
		{"--duration", int64(c.Duration)},
		{"--idle-open-timeout", int64(c.IdleOpenLimit)},
		{"--large-timeout", int64(c.LargeTimeout)},
		{"--kill-timeout", int64(c.KillTimeout)},
		{"--failover-warmup", int64(c.FailoverWarmup)},
		{"--failover-timeout", int64(c.FailoverTimeout)},
		{"--failover-settle", int64(c.FailoverSettle)},
		{"--op-timeout", int64(c.OpTimeout)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad("%s: must be positive", p.name)
		}
	}
	if c.Warmup < 0 {
		bad("--warmup: must not be negative")
	}
	if c.Rounds > 100 {
		bad("--rounds %d: at most 100", c.Rounds)
	}
	if c.Conns > 4096 {
		bad("--conns %d: at most 4096", c.Conns)
	}
	if c.IdleConns > 100000 {
		bad("--idle-conns %d: at most 100000", c.IdleConns)
	}
	if c.LargeRowBytes > 1<<20 {
		bad("--large-row-bytes %d: at most 1 MiB", c.LargeRowBytes)
	}
	if c.LargeRowBytes > 0 && c.LargeBytes/int64(c.LargeRowBytes) > maxLargeRows {
		bad("--large-bytes %d: more than %d rows of --large-row-bytes %d", c.LargeBytes, maxLargeRows, c.LargeRowBytes)
	}
	return errors.Join(errs...)
}

// readsOnly is the set of targets that take no writes.
func (c *Config) readsOnly() map[string]bool {
	m := map[string]bool{}
	for _, t := range c.Targets {
		if t.ReadsOnly {
			m[t.Name] = true
		}
	}
	return m
}

// Writes reports whether a scenario writes, which a reads-only target is
// spared.
func Writes(scenario string) bool {
	switch scenario {
	case ScReadWrite, ScReadWritePrep, ScReadWriteAuto, ScFailover:
		return true
	}
	return false
}

// prepareTarget is where --prepare and the schema check go.
func (c *Config) prepareTarget() string {
	switch {
	case c.PrepareTarget != "":
		return c.PrepareTarget
	case c.Baseline != "":
		return c.Baseline
	case len(c.Targets) > 0:
		return c.Targets[0].Name
	}
	return ""
}
