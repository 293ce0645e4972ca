package bench

import (
	"math"
	"time"
)

// maxErrorSamples bounds how many distinct error messages a result keeps.
const maxErrorSamples = 5

// round is what one scenario run against one target produced.
type round struct {
	seconds    float64 // the measured window
	queries    int64   // statements that succeeded in the window (BEGIN and COMMIT included)
	events     int64   // events that succeeded: queries, transactions, connections, results
	errors     int64
	errSamples []string
	hist       Histogram
	bytes      int64 // large_result: column bytes read
	rows       int64
	proc       ProcStats
	havePID    bool
	idle       *IdleStats
	drill      *DrillStats
}

// errorSampler keeps the first few distinct error messages.
type errorSampler struct{ msgs []string }

func (s *errorSampler) add(err error) {
	if err == nil || len(s.msgs) >= maxErrorSamples {
		return
	}
	m := err.Error()
	if len(m) > 300 {
		m = m[:300] + "…"
	}
	for _, x := range s.msgs {
		if x == m {
			return
		}
	}
	s.msgs = append(s.msgs, m)
}

// Result aggregates every round of one scenario against one target.
type Result struct {
	Target  string  `json:"target"`
	Rounds  int     `json:"rounds"`
	Seconds float64 `json:"seconds"`
	Queries int64   `json:"queries"`
	Events  int64   `json:"events"`
	Errors  int64   `json:"errors"`
	QPS     float64 `json:"qps"`
	TPS     float64 `json:"tps"` // events per second: transactions for the mixes
	// Per-round throughput, to show the noise the interleaving absorbs.
	RoundQPS []float64 `json:"round_qps"`
	Latency  Latency   `json:"latency"`
	// For a target with a PID; absent otherwise.
	CPUSecPer1kQueries *float64 `json:"cpu_sec_per_1k_queries,omitempty"`
	PeakRSSBytes       *int64   `json:"peak_rss_bytes,omitempty"`
	ProcError          string   `json:"proc_error,omitempty"`
	// large_result only.
	Bytes    int64    `json:"bytes,omitempty"`
	Rows     int64    `json:"rows,omitempty"`
	MBPerSec *float64 `json:"mb_per_sec,omitempty"`
	// idle_conns and failover only.
	Idle     *IdleStats  `json:"idle,omitempty"`
	Failover *DrillStats `json:"failover,omitempty"`

	ErrorSamples []string `json:"error_samples,omitempty"`
}

// aggregate folds the rounds of one target into its Result. Throughput is
// total work over total measured time, so a short round weighs less.
func aggregate(target string, rounds []*round) Result {
	r := Result{Target: target, Rounds: len(rounds)}
	var h Histogram
	var cpu float64
	var peak int64
	havePID := false
	var es errorSampler
	for _, x := range rounds {
		r.Seconds += x.seconds
		r.Queries += x.queries
		r.Events += x.events
		r.Errors += x.errors
		r.Bytes += x.bytes
		r.Rows += x.rows
		r.RoundQPS = append(r.RoundQPS, perSec(float64(x.queries), x.seconds))
		h.Merge(&x.hist)
		for _, m := range x.errSamples {
			es.add(errString(m))
		}
		if x.havePID {
			havePID = true
			cpu += x.proc.CPUSeconds
			peak = max(peak, x.proc.PeakRSSBytes)
			if x.proc.Err != nil && r.ProcError == "" {
				r.ProcError = x.proc.Err.Error()
			}
		}
		if x.idle != nil {
			r.Idle = mergeIdle(r.Idle, x.idle)
		}
		if x.drill != nil {
			r.Failover = x.drill
		}
	}
	r.QPS = perSec(float64(r.Queries), r.Seconds)
	r.TPS = perSec(float64(r.Events), r.Seconds)
	r.Latency = h.Summary()
	r.ErrorSamples = es.msgs
	if havePID {
		if r.Queries > 0 {
			v := cpu / float64(r.Queries) * 1000
			r.CPUSecPer1kQueries = &v
		}
		if peak > 0 {
			r.PeakRSSBytes = &peak
		}
	}
	if r.Bytes > 0 {
		v := perSec(float64(r.Bytes)/1e6, r.Seconds)
		r.MBPerSec = &v
	}
	return r
}

type errString string

func (e errString) Error() string { return string(e) }

func perSec(n, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return n / seconds
}

// ratio returns num/den, or nil when it has no meaning (a missing or zero
// denominator, a negative or non-finite operand).
func ratio(num, den float64) *float64 {
	if den <= 0 || num < 0 || math.IsNaN(num) || math.IsNaN(den) || math.IsInf(num, 0) || math.IsInf(den, 0) {
		return nil
	}
	v := num / den
	return &v
}

// ratioPtr is ratio for values that may be absent.
func ratioPtr[T float64 | int64](num, den *T) *float64 {
	if num == nil || den == nil {
		return nil
	}
	return ratio(float64(*num), float64(*den))
}

// Ratio compares one target with a reference target in one scenario. Every
// field is target/reference: above 1 means more throughput, but also more
// latency, CPU or memory.
type Ratio struct {
	Target   string   `json:"target"`
	Versus   string   `json:"versus"`
	QPS      *float64 `json:"qps,omitempty"`
	P50      *float64 `json:"p50,omitempty"`
	P99      *float64 `json:"p99,omitempty"`
	CPUPer1k *float64 `json:"cpu_per_1k_queries,omitempty"`
	PeakRSS  *float64 `json:"peak_rss,omitempty"`
	MBPerSec *float64 `json:"mb_per_sec,omitempty"`
}

// ratios compares every result but the reference's with the reference.
// It returns nil when the reference is absent.
func ratios(results []Result, versus string) []Ratio {
	var ref *Result
	for i := range results {
		if results[i].Target == versus {
			ref = &results[i]
		}
	}
	if ref == nil || versus == "" {
		return nil
	}
	var out []Ratio
	for _, r := range results {
		if r.Target == versus {
			continue
		}
		x := Ratio{
			Target:   r.Target,
			Versus:   versus,
			CPUPer1k: ratioPtr(r.CPUSecPer1kQueries, ref.CPUSecPer1kQueries),
			PeakRSS:  ratioPtr(r.PeakRSSBytes, ref.PeakRSSBytes),
			MBPerSec: ratioPtr(r.MBPerSec, ref.MBPerSec),
		}
		if r.Queries > 0 && ref.Queries > 0 {
			x.QPS = ratio(r.QPS, ref.QPS)
			x.P50 = ratio(r.Latency.P50, ref.Latency.P50)
			x.P99 = ratio(r.Latency.P99, ref.Latency.P99)
		}
		out = append(out, x)
	}
	return out
}

// seconds converts a duration for the JSON report.
func seconds(d time.Duration) float64 { return d.Seconds() }
