package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the whole outcome of a Run, written as JSON and rendered as
// tables.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Command   []string         `json:"command,omitempty"`
	Host      Host             `json:"host"`
	Settings  Settings         `json:"settings"`
	Targets   []TargetInfo     `json:"targets"`
	Baseline  string           `json:"baseline,omitempty"`
	Compare   []string         `json:"compare,omitempty"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Notes     []string         `json:"notes,omitempty"`
}

// Host is the machine the numbers were measured on.
type Host struct {
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Go       string `json:"go"`
}

// Settings are the knobs that shape the numbers.
type Settings struct {
	Rounds          int     `json:"rounds"`
	DurationSec     float64 `json:"duration_s"`
	WarmupSec       float64 `json:"warmup_s"`
	Conns           int     `json:"conns"`
	Sweep           []int   `json:"sweep,omitempty"`
	Tables          int     `json:"tables"`
	TableSize       int     `json:"table_size"`
	IdleConns       int     `json:"idle_conns"`
	IdleActive      int     `json:"idle_active"`
	LargeBytes      int64   `json:"large_bytes"`
	LargeRowBytes   int     `json:"large_row_bytes"`
	KillCmd         string  `json:"kill_cmd,omitempty"`
	FailoverWriters int     `json:"failover_writers"`
	FailoverRate    int     `json:"failover_rate"`
}

// TargetInfo names a target without its password.
type TargetInfo struct {
	Name string `json:"name"`
	DSN  string `json:"dsn"`
	PID  int    `json:"pid,omitempty"`
}

// ScenarioResult holds one scenario's results, one per target, and the
// ratios to the baseline and the compare target.
type ScenarioResult struct {
	Name        string   `json:"name"`
	Conns       int      `json:"conns,omitempty"` // the sweep's connection count (0: not a sweep)
	Description string   `json:"description"`
	Results     []Result `json:"results"`
	VsBaseline  []Ratio  `json:"vs_baseline,omitempty"`
	VsCompare   []Ratio  `json:"vs_compare,omitempty"`
}

func newReport(cfg Config, eps []*endpoint) *Report {
	r := &Report{
		Started:  time.Now(),
		Host:     hostInfo(),
		Baseline: cfg.Baseline,
		Compare:  cfg.Compare,
		Settings: Settings{
			Rounds:          cfg.Rounds,
			DurationSec:     seconds(cfg.Duration),
			WarmupSec:       seconds(cfg.Warmup),
			Conns:           cfg.Conns,
			Sweep:           cfg.Sweep,
			Tables:          cfg.Tables,
			TableSize:       cfg.TableSize,
			IdleConns:       cfg.IdleConns,
			IdleActive:      cfg.IdleActive,
			LargeBytes:      cfg.LargeBytes,
			LargeRowBytes:   cfg.LargeRowBytes,
			KillCmd:         cfg.KillCmd,
			FailoverWriters: cfg.FailoverWriters,
			FailoverRate:    cfg.FailoverRate,
		},
	}
	for _, e := range eps {
		r.Targets = append(r.Targets, TargetInfo{Name: e.Name, DSN: e.redacted, PID: e.PID})
	}
	return r
}

func hostInfo() Host {
	h := Host{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		h.CPUModel = parseCPUModel(b)
	}
	return h
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo.
func parseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// describe says in one line what a scenario does with the settings given.
func describe(sc string, c *Config) string {
	proto := "text protocol"
	if strings.HasSuffix(sc, "_prepared") {
		proto = "prepared statements"
	}
	rounds := fmt.Sprintf("%d rounds x %s per target, interleaved", c.Rounds, c.Duration)
	switch sc {
	case ScPointSelect, ScPointSelectPrep:
		return fmt.Sprintf("primary-key lookups, %s, %d conns, %s; latency per query", proto, c.Conns, rounds)
	case ScReadOnly, ScReadOnlyPrep:
		return fmt.Sprintf("oltp_read_only transactions (16 statements), %s, %d conns, %s; latency per transaction", proto, c.Conns, rounds)
	case ScReadWrite, ScReadWritePrep:
		return fmt.Sprintf("oltp_read_write transactions (20 statements), %s, %d conns, %s; latency per transaction", proto, c.Conns, rounds)
	case ScReadWriteAuto:
		return fmt.Sprintf("oltp_read_write statements in autocommit (no BEGIN/COMMIT), then a read of the row just inserted (19 statements), %s, %d conns, %s; latency per event", proto, c.Conns, rounds)
	case ScConnectStorm:
		return fmt.Sprintf("connect, SELECT 1, disconnect, %d conns, %s; latency per connection", c.Conns, rounds)
	case ScIdleConns:
		return fmt.Sprintf("%d idle connections held open while %d conns run point selects, %s", c.IdleConns, c.IdleActive, rounds)
	case ScLargeResult:
		return fmt.Sprintf("one %s result streamed and discarded (%d-byte rows), %d rounds per target, interleaved", byteSize(c.LargeBytes), c.LargeRowBytes, c.Rounds)
	case ScFailover:
		kill := c.KillCmd
		if kill == "" {
			kill = "(none: smoke test)"
		}
		return fmt.Sprintf("%d autocommit writers at %d writes/s in all, kill after %s: %s; ends after %s without errors or %s after the kill", c.FailoverWriters, c.FailoverRate, c.FailoverWarmup, kill, c.FailoverSettle, c.FailoverTimeout)
	}
	return sc
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// fmtF formats an optional number.
func fmtF(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func fmtMiB(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(*p)/(1<<20))
}

func fmtX(p *float64) string { return fmtF(p, "%.2fx") }

// columns is one table: a header and rows of cells.
type columns struct {
	head []string
	rows [][]string
}

// resultTable lays out a scenario's results; the columns depend on the
// scenario so that no table is full of dashes.
func resultTable(s *ScenarioResult) columns {
	switch s.Name {
	case ScFailover:
		t := columns{head: []string{"target", "acked", "errors", "first error s", "recovered s", "max gap s", "recovered", "missing", "unacked present", "verified"}}
		for _, r := range s.Results {
			d := r.Failover
			if d == nil {
				continue
			}
			verified := fmt.Sprint(d.Verified)
			if d.VerifyError != "" {
				verified += " (" + d.VerifyError + ")"
			}
			t.rows = append(t.rows, []string{r.Target, fmt.Sprint(d.Acked), fmt.Sprint(d.Errors),
				fmtF(d.FirstErrorAfter, "%.3f"), fmtF(d.RecoveredAfter, "%.3f"), fmt.Sprintf("%.3f", d.MaxWriteGap),
				fmt.Sprint(d.Recovered), fmt.Sprint(d.Missing), fmt.Sprint(d.UnackedPresent), verified})
		}
		return t
	case ScLargeResult:
		t := columns{head: []string{"target", "MB/s", "seconds", "rows", "errors", "cpu s/GB", "peak RSS MiB"}}
		for _, r := range s.Results {
			cpuGB := "-"
			if r.CPUSecPer1kQueries != nil && r.Bytes > 0 {
				// queries are results here: cpu per result / bytes per result
				cpu := *r.CPUSecPer1kQueries / 1000 * float64(r.Queries)
				cpuGB = fmt.Sprintf("%.2f", cpu/(float64(r.Bytes)/1e9))
			}
			t.rows = append(t.rows, []string{r.Target, fmtF(r.MBPerSec, "%.1f"), fmt.Sprintf("%.2f", r.Seconds),
				fmt.Sprint(r.Rows), fmt.Sprint(r.Errors), cpuGB, fmtMiB(r.PeakRSSBytes)})
		}
		return t
	}
	t := columns{head: []string{"target", "qps", "tps", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "errors", "cpu s/1k q", "peak RSS MiB"}}
	if s.Name == ScIdleConns {
		t.head = append(t.head, "idle open", "idle alive", "open s")
	}
	for _, r := range s.Results {
		row := []string{r.Target, fmt.Sprintf("%.1f", r.QPS), fmt.Sprintf("%.1f", r.TPS),
			fmt.Sprintf("%.3f", r.Latency.P50), fmt.Sprintf("%.3f", r.Latency.P95),
			fmt.Sprintf("%.3f", r.Latency.P99), fmt.Sprintf("%.3f", r.Latency.P999),
			fmt.Sprint(r.Errors), fmtF(r.CPUSecPer1kQueries, "%.4f"), fmtMiB(r.PeakRSSBytes)}
		if s.Name == ScIdleConns {
			if d := r.Idle; d != nil {
				row = append(row, fmt.Sprintf("%d/%d", d.Opened, d.Requested), fmt.Sprint(d.AliveAfter), fmt.Sprintf("%.1f", d.OpenSeconds))
			} else {
				row = append(row, "-", "-", "-")
			}
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func ratioTable(rs []Ratio) columns {
	t := columns{head: []string{"target", "vs", "qps", "p50", "p99", "cpu/query", "peak RSS", "MB/s"}}
	for _, x := range rs {
		t.rows = append(t.rows, []string{x.Target, x.Versus, fmtX(x.QPS), fmtX(x.P50), fmtX(x.P99), fmtX(x.CPUPer1k), fmtX(x.PeakRSS), fmtX(x.MBPerSec)})
	}
	return t
}

func (t columns) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.head, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
}

func (t columns) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.head, " | ")+" |")
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---:"
	}
	sep[0] = "---"
	fmt.Fprintln(w, "|"+strings.Join(sep, "|")+"|")
	for _, r := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

// WriteText renders the report as plain tables for a terminal.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "switchyard-bench: %d CPUs (%s), kernel %s, %s\n", r.Host.CPUs, r.Host.CPUModel, r.Host.Kernel, r.Started.Format(time.RFC3339))
	for _, t := range r.Targets {
		pid := ""
		if t.PID > 0 {
			pid = fmt.Sprintf(" (pid %d)", t.PID)
		}
		fmt.Fprintf(w, "  target %-12s %s%s\n", t.Name, t.DSN, pid)
	}
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		fmt.Fprintf(w, "\n== %s: %s\n", s.title(), s.Description)
		resultTable(s).writeText(w)
		for _, rs := range [][]Ratio{s.VsBaseline, s.VsCompare} {
			if len(rs) > 0 {
				fmt.Fprintln(w, "  ratios (target / reference):")
				ratioTable(rs).writeText(w)
			}
		}
		for _, res := range s.Results {
			for _, m := range res.ErrorSamples {
				fmt.Fprintf(w, "  %s error: %s\n", res.Target, m)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// WriteMarkdown renders the tables for docs/BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		fmt.Fprintf(w, "### %s\n\n%s.\n\n", s.title(), s.Description)
		resultTable(s).writeMarkdown(w)
		fmt.Fprintln(w)
		var rs []Ratio
		rs = append(rs, s.VsBaseline...)
		rs = append(rs, s.VsCompare...)
		if len(rs) > 0 {
			fmt.Fprintln(w, "Ratios (target / reference; qps above 1 is faster, latency, CPU and RSS above 1 cost more):")
			fmt.Fprintln(w)
			ratioTable(rs).writeMarkdown(w)
			fmt.Fprintln(w)
		}
		for _, res := range s.Results {
			for _, m := range res.ErrorSamples {
				fmt.Fprintf(w, "- %s error: `%s`\n", res.Target, strings.ReplaceAll(m, "`", "'"))
			}
		}
		if len(s.Results) > 0 && hasErrors(s) {
			fmt.Fprintln(w)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- note: %s\n", n)
	}
}

// title names a scenario, with its connection count in a sweep.
func (s *ScenarioResult) title() string {
	if s.Conns > 0 {
		return fmt.Sprintf("%s at %d connections", s.Name, s.Conns)
	}
	return s.Name
}

func hasErrors(s *ScenarioResult) bool {
	for _, r := range s.Results {
		if len(r.ErrorSamples) > 0 {
			return true
		}
	}
	return false
}
