// Command switchyard-bench drives MySQL-protocol targets with the same
// workloads, interleaved, and reports throughput, latency, errors, and the
// CPU and memory of the processes behind them. See package bench.
//
//	switchyard-bench --prepare \
//	  --target direct='app:app@tcp(127.0.0.1:3411)/test' \
//	  --target haproxy='app:app@tcp(127.0.0.1:6034)/test' --pid haproxy=1234 \
//	  --target switchyard='app:app@tcp(127.0.0.1:6033)/test' --pid switchyard=5678 \
//	  --baseline direct --compare haproxy --json bench.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/switchyard/switchyard/bench"
)

// kvList collects repeated name=value flags, in order.
type kvList struct {
	keys, vals []string
}

func (l *kvList) String() string {
	var b strings.Builder
	for i := range l.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l.keys[i] + "=" + l.vals[i])
	}
	return b.String()
}

func (l *kvList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	l.keys = append(l.keys, k)
	l.vals = append(l.vals, v)
	return nil
}

// names splits a comma list, dropping blanks.
func names(list string) []string {
	var out []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// setTarget applies set to the target called name; false if there is none.
func setTarget(targets []bench.Target, name string, set func(*bench.Target)) bool {
	for i := range targets {
		if targets[i].Name == name {
			set(&targets[i])
			return true
		}
	}
	return false
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg := bench.DefaultConfig()
	var targets, pids kvList
	fs := flag.NewFlagSet("switchyard-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: switchyard-bench --target NAME=DSN [--target NAME=DSN …] [flags]

Runs the same workloads against every target, interleaved round by round, and
reports throughput, latency percentiles, errors, and the CPU and RSS of the
processes given with --pid. Example:

  switchyard-bench --prepare --target direct='app:app@tcp(127.0.0.1:3411)/test' \
    --target haproxy='app:app@tcp(127.0.0.1:6034)/test' --pid haproxy=$(pidof haproxy) \
    --baseline direct --scenarios point_select,point_select_prepared --json out.json

Flags:
`)
		fs.PrintDefaults()
	}
	fs.Var(&targets, "target", "`name=DSN` of a target (go-sql-driver/mysql DSN); repeat, in the order to interleave")
	fs.Var(&pids, "pid", "`name=PID` of the process behind a target, to sample its CPU and RSS from /proc; repeatable")
	fs.StringVar(&cfg.Baseline, "baseline", "", "target the ratios are computed against (e.g. direct)")
	compare := fs.String("compare", "", "comma list of further reference targets for ratios (e.g. haproxy,haproxy-read)")
	readsOnly := fs.String("reads-only", "", "comma list of targets that take no writes (e.g. HAProxy's read port over the replicas): they run only the scenarios that only read")
	scen := fs.String("scenarios", "default", "comma list of scenarios: "+strings.Join(bench.AllScenarios(), ", ")+"; groups: default (all but failover), oltp, all")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds per scenario and target, interleaved across targets")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of one round")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured load at the start of each round")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "concurrent client connections")
	sweep := fs.String("sweep", "", "comma list of connection counts (e.g. 8,32,128,256,1000): run every scenario at each, instead of at --conns")
	writesOnly := fs.String("writes-only", "", "comma list of targets that run only the scenarios that write (e.g. HAProxy's port to the primary beside its read port)")
	svgOut := fs.String("svg", "", "with --sweep: draw qps and p99 against connections to `FILE` (SVG)")
	sweepMD := fs.String("sweep-markdown", "", "with --sweep: write one table per scenario over the counts to `FILE`")
	barTarget := fs.String("bar", "", "with --sweep: check `TARGET`'s ratios against issue 15's bar, into --bar-markdown")
	barMD := fs.String("bar-markdown", "", "with --bar: write the bar's checks to `FILE`")
	fs.IntVar(&cfg.Tables, "tables", cfg.Tables, "number of sbtest tables")
	fs.IntVar(&cfg.TableSize, "table-size", cfg.TableSize, "rows per sbtest table")
	fs.BoolVar(&cfg.Prepare, "prepare", false, "drop and create sbtest1..N and bench_seq before running")
	fs.StringVar(&cfg.PrepareTarget, "prepare-target", "", "target to prepare through (default: --baseline, else the first target)")
	fs.IntVar(&cfg.IdleConns, "idle-conns", cfg.IdleConns, "idle_conns: connections held open")
	fs.IntVar(&cfg.IdleActive, "idle-active", cfg.IdleActive, "idle_conns: active point-select connections meanwhile")
	fs.DurationVar(&cfg.IdleOpenLimit, "idle-open-timeout", cfg.IdleOpenLimit, "idle_conns: time allowed to open the idle connections")
	fs.Int64Var(&cfg.LargeBytes, "large-bytes", cfg.LargeBytes, "large_result: bytes of column data per result")
	fs.IntVar(&cfg.LargeRowBytes, "large-row-bytes", cfg.LargeRowBytes, "large_result: bytes per row")
	fs.DurationVar(&cfg.LargeTimeout, "large-timeout", cfg.LargeTimeout, "large_result: time allowed for one result")
	fs.StringVar(&cfg.KillCmd, "kill-cmd", "", "failover: shell command run after the warmup (e.g. 'kill -9 $(cat db1.pid)'); empty kills nothing")
	fs.DurationVar(&cfg.KillTimeout, "kill-timeout", cfg.KillTimeout, "failover: time allowed for the kill command")
	failTargets := fs.String("failover-target", "", "failover: comma list of targets to drill, one after the other (default: all)")
	fs.IntVar(&cfg.FailoverWriters, "failover-writers", cfg.FailoverWriters, "failover: concurrent autocommit writers")
	fs.IntVar(&cfg.FailoverRate, "failover-rate", cfg.FailoverRate, "failover: writes per second, all writers together")
	fs.DurationVar(&cfg.FailoverWarmup, "failover-warmup", cfg.FailoverWarmup, "failover: writing time before the kill")
	fs.DurationVar(&cfg.FailoverTimeout, "failover-timeout", cfg.FailoverTimeout, "failover: time after the kill for writes to succeed again")
	fs.DurationVar(&cfg.FailoverSettle, "failover-settle", cfg.FailoverSettle, "failover: error-free writing that ends the drill")
	fs.DurationVar(&cfg.OpTimeout, "op-timeout", cfg.OpTimeout, "timeout of any single statement or connect")
	jsonOut := fs.String("json", "", "write the report as JSON to `FILE`")
	mdOut := fs.String("markdown", "", "write the result tables as Markdown to `FILE`")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "switchyard-bench: unexpected arguments: %q\n", fs.Args())
		return 2
	}

	var errs []error
	for i, name := range targets.keys {
		cfg.Targets = append(cfg.Targets, bench.Target{Name: name, DSN: targets.vals[i]})
	}
	for i, name := range pids.keys {
		pid, err := strconv.Atoi(pids.vals[i])
		if err != nil || pid <= 0 {
			errs = append(errs, fmt.Errorf("--pid %s=%s: not a process id", name, pids.vals[i]))
			continue
		}
		if !setTarget(cfg.Targets, name, func(t *bench.Target) { t.PID = pid }) {
			errs = append(errs, fmt.Errorf("--pid %s: no target has that name", name))
		}
	}
	var err error
	if cfg.Scenarios, err = bench.ExpandScenarios(*scen); err != nil {
		errs = append(errs, fmt.Errorf("--scenarios: %w", err))
	}
	for _, c := range names(*sweep) {
		n, err := strconv.Atoi(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("--sweep %s: not a connection count", c))
			continue
		}
		cfg.Sweep = append(cfg.Sweep, n)
	}
	for _, n := range names(*writesOnly) {
		if !setTarget(cfg.Targets, n, func(t *bench.Target) { t.WritesOnly = true }) {
			errs = append(errs, fmt.Errorf("--writes-only %s: no target has that name", n))
		}
	}
	cfg.FailoverTargets = names(*failTargets)
	cfg.Compare = names(*compare)
	for _, n := range names(*readsOnly) {
		if !setTarget(cfg.Targets, n, func(t *bench.Target) { t.ReadsOnly = true }) {
			errs = append(errs, fmt.Errorf("--reads-only %s: no target has that name", n))
		}
	}
	if !*quiet {
		cfg.Log = os.Stderr
	}
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "switchyard-bench: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(os.Stderr, "switchyard-bench: %v\n", err)
		return 1
	}
	rep.Command = os.Args
	code := 0
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchyard-bench: %v; the report holds what was measured\n", err)
		code = 1
	}
	rep.WriteText(os.Stdout)
	if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
			fmt.Fprintf(os.Stderr, "switchyard-bench: %v\n", err)
			code = 1
		}
	}
	if *mdOut != "" {
		if err := writeFile(*mdOut, func(f *os.File) error { rep.WriteMarkdown(f); return nil }); err != nil {
			fmt.Fprintf(os.Stderr, "switchyard-bench: %v\n", err)
			code = 1
		}
	}
	outs := []struct {
		path  string
		write func(*os.File) error
	}{
		{*svgOut, func(f *os.File) error { return rep.WriteSweepSVG(f) }},
		{*sweepMD, func(f *os.File) error { rep.WriteSweepMarkdown(f); return nil }},
		{*barMD, func(f *os.File) error { rep.WriteSweepBar(f, *barTarget, bench.Issue15Bar); return nil }},
	}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		if err := writeFile(o.path, o.write); err != nil {
			fmt.Fprintf(os.Stderr, "switchyard-bench: %v\n", err)
			code = 1
		}
	}
	return code
}

func writeFile(path string, fn func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
