package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// A sweep (Config.Sweep) runs the same scenarios at several connection
// counts. This file folds its results into one table per scenario, checks
// them against a bar, and (chart.go) draws them.

// sweepScenario is one scenario's results over the connection counts.
type sweepScenario struct {
	name   string
	conns  []int                   // ascending
	at     map[int]*ScenarioResult // by connection count
	target []string                // in the order they ran
}

// sweepScenarios groups a sweep's results by scenario, in the order the
// scenarios first ran. Results outside a sweep (Conns 0) are left out.
func (r *Report) sweepScenarios() []*sweepScenario {
	var out []*sweepScenario
	by := map[string]*sweepScenario{}
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if s.Conns == 0 || s.Name == ScFailover {
			continue
		}
		ss := by[s.Name]
		if ss == nil {
			ss = &sweepScenario{name: s.Name, at: map[int]*ScenarioResult{}}
			by[s.Name] = ss
			out = append(out, ss)
		}
		if _, dup := ss.at[s.Conns]; !dup {
			ss.conns = append(ss.conns, s.Conns)
		}
		ss.at[s.Conns] = s
		for _, res := range s.Results {
			if !slices.Contains(ss.target, res.Target) {
				ss.target = append(ss.target, res.Target)
			}
		}
	}
	for _, ss := range out {
		slices.Sort(ss.conns)
	}
	return out
}

// result is target's result at n connections, or nil.
func (ss *sweepScenario) result(n int, target string) *Result {
	s := ss.at[n]
	if s == nil {
		return nil
	}
	for i := range s.Results {
		if s.Results[i].Target == target && s.Results[i].Queries > 0 {
			return &s.Results[i]
		}
	}
	return nil
}

// reference is the target a scenario's ratios are read against: the first
// --compare target that ran it (HAProxy's read port for reads, its primary
// port for the read-write mix), else the baseline.
func (r *Report) reference(ss *sweepScenario) string {
	for _, c := range r.Compare {
		if slices.Contains(ss.target, c) {
			return c
		}
	}
	return r.Baseline
}

// ratioAt is target/ref for field at n connections, or nil.
func (ss *sweepScenario) ratioAt(n int, target, ref string, field func(*Result) *float64) *float64 {
	a, b := ss.result(n, target), ss.result(n, ref)
	if a == nil || b == nil {
		return nil
	}
	fa, fb := field(a), field(b)
	if fa == nil || fb == nil {
		return nil
	}
	return ratio(*fa, *fb)
}

func qpsOf(r *Result) *float64 { return &r.QPS }
func p99Of(r *Result) *float64 { return &r.Latency.P99 }
func cpuOf(r *Result) *float64 { return r.CPUSecPer1kQueries }

// directAt is the connection count whose baseline throughput the table
// compares every row with: 32, what the server direct is measured at in
// the issue, when the sweep has it.
const directAt = 32

// WriteSweepMarkdown writes one table per scenario of a sweep: every
// target at every count, with its ratios to the reference and to the
// baseline at 32 connections.
func (r *Report) WriteSweepMarkdown(w io.Writer) {
	for _, ss := range r.sweepScenarios() {
		ref := r.reference(ss)
		head := []string{"conns", "target", "qps", "p99 ms", "cpu s/1k q"}
		if ref != "" {
			head = append(head, "qps vs "+ref, "p99 vs "+ref, "cpu/query vs "+ref)
		}
		base := ""
		if r.Baseline != "" && slices.Contains(ss.conns, directAt) {
			base = r.Baseline
			head = append(head, fmt.Sprintf("qps vs %s at %d", base, directAt))
		}
		t := columns{head: head}
		for _, n := range ss.conns {
			for _, name := range ss.target {
				res := ss.result(n, name)
				if res == nil {
					continue
				}
				row := []string{fmt.Sprint(n), name, fmt.Sprintf("%.0f", res.QPS), fmt.Sprintf("%.2f", res.Latency.P99), fmtF(res.CPUSecPer1kQueries, "%.4f")}
				if ref != "" {
					if name == ref {
						row = append(row, "", "", "")
					} else {
						row = append(row, fmtX(ss.ratioAt(n, name, ref, qpsOf)), fmtX(ss.ratioAt(n, name, ref, p99Of)), fmtX(ss.ratioAt(n, name, ref, cpuOf)))
					}
				}
				if base != "" {
					cell := "-"
					if b := ss.result(directAt, base); b != nil {
						cell = fmtX(ratio(res.QPS, b.QPS))
					}
					row = append(row, cell)
				}
				t.rows = append(t.rows, row)
			}
		}
		fmt.Fprintf(w, "### %s\n\n", ss.name)
		if s := ss.at[ss.conns[0]]; s != nil {
			desc := strings.Replace(s.Description, fmt.Sprintf(", %d conns", s.Conns), "", 1)
			fmt.Fprintf(w, "%s; at each connection count.\n\n", desc)
		}
		t.writeMarkdown(w)
		fmt.Fprintln(w)
		for _, n := range ss.conns {
			for _, res := range ss.at[n].Results {
				for _, m := range res.ErrorSamples {
					fmt.Fprintf(w, "- %d conns, %s error: `%s`\n", n, res.Target, m)
				}
			}
		}
	}
}

// BarRule is one line of a bar: field of the target's ratio to the
// scenario's reference, at the given counts (nil: every count), must be
// at least (AtLeast) or at most Limit.
type BarRule struct {
	Scenario string
	Conns    []int
	Field    string // qps, p99 or cpu/query
	AtLeast  bool
	Limit    float64
}

// Issue15Bar is the bar of issue 15 for Switchyard against HAProxy: point
// selects against its read port (leastconn over the replicas), the
// read-write mix against its port to the primary.
var Issue15Bar = []BarRule{
	{ScPointSelect, []int{8, 32}, "qps", true, 0.9},
	{ScPointSelect, []int{128, 256, 1000}, "qps", true, 1.05},
	{ScPointSelect, nil, "p99", false, 1.25},
	{ScPointSelect, []int{32}, "cpu/query", false, 1.35},
	{ScPointSelectPrep, []int{8, 32}, "qps", true, 0.9},
	{ScPointSelectPrep, []int{128, 256, 1000}, "qps", true, 1.05},
	{ScPointSelectPrep, nil, "p99", false, 1.25},
	{ScPointSelectPrep, []int{32}, "cpu/query", false, 1.35},
	{ScReadWrite, nil, "qps", true, 0.95},
	{ScReadWriteAuto, nil, "qps", true, 0.95},
}

// roundRatios is a's qps over b's in each round, the two measured next to
// each other (the targets run interleaved): their spread shows how much of
// a verdict is the machine's noise.
func roundRatios(a, b *Result) string {
	if a == nil || b == nil || len(a.RoundQPS) == 0 || len(a.RoundQPS) != len(b.RoundQPS) {
		return "-"
	}
	parts := make([]string, len(a.RoundQPS))
	for i := range a.RoundQPS {
		parts[i] = fmtX(ratio(a.RoundQPS[i], b.RoundQPS[i]))
	}
	return strings.Join(parts, ", ")
}

// WriteSweepBar checks target's ratios against rules, one row per rule
// and count the sweep measured.
func (r *Report) WriteSweepBar(w io.Writer, target string, rules []BarRule) {
	t := columns{head: []string{"scenario", "conns", "check", "measured", "bar", "verdict", "qps ratio per round"}}
	fields := map[string]func(*Result) *float64{"qps": qpsOf, "p99": p99Of, "cpu/query": cpuOf}
	for _, ss := range r.sweepScenarios() {
		ref := r.reference(ss)
		for _, rule := range rules {
			if rule.Scenario != ss.name {
				continue
			}
			for _, n := range ss.conns {
				if rule.Conns != nil && !slices.Contains(rule.Conns, n) {
					continue
				}
				op := "<="
				if rule.AtLeast {
					op = ">="
				}
				v := ss.ratioAt(n, target, ref, fields[rule.Field])
				verdict := "not measured"
				if v != nil {
					verdict = "**miss**"
					if rule.AtLeast && *v >= rule.Limit || !rule.AtLeast && *v <= rule.Limit {
						verdict = "pass"
					}
				}
				rounds := "-"
				if rule.Field == "qps" {
					rounds = roundRatios(ss.result(n, target), ss.result(n, ref))
				}
				t.rows = append(t.rows, []string{ss.name, fmt.Sprint(n), fmt.Sprintf("%s %s / %s", rule.Field, target, ref),
					fmtX(v), fmt.Sprintf("%s %.2fx", op, rule.Limit), verdict, rounds})
			}
		}
	}
	if len(t.rows) == 0 {
		fmt.Fprintln(w, "No sweep results to check.")
		return
	}
	t.writeMarkdown(w)
}
