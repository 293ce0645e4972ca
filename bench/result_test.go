package bench

import (
	"errors"
	"math"
	"testing"
	"time"
)

func fp(v float64) *float64 { return &v }
func ip(v int64) *int64     { return &v }

func eqPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-9
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name     string
		num, den float64
		want     *float64
	}{
		{"half", 1, 2, fp(0.5)},
		{"equal", 3, 3, fp(1)},
		{"zero numerator", 0, 2, fp(0)},
		{"zero denominator", 1, 0, nil},
		{"negative denominator", 1, -1, nil},
		{"negative numerator", -1, 1, nil},
		{"NaN", math.NaN(), 1, nil},
		{"Inf", math.Inf(1), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratio(tt.num, tt.den); !eqPtr(got, tt.want) {
				t.Errorf("ratio(%v, %v) = %v, want %v", tt.num, tt.den, fmtF(got, "%v"), fmtF(tt.want, "%v"))
			}
		})
	}
}

func TestRatios(t *testing.T) {
	direct := Result{Target: "direct", Queries: 1000, QPS: 1000, Latency: Latency{P50: 1, P99: 2}}
	haproxy := Result{Target: "haproxy", Queries: 900, QPS: 900, Latency: Latency{P50: 1.5, P99: 3},
		CPUSecPer1kQueries: fp(0.02), PeakRSSBytes: ip(10 << 20)}
	sy := Result{Target: "switchyard", Queries: 810, QPS: 810, Latency: Latency{P50: 2, P99: 3.6},
		CPUSecPer1kQueries: fp(0.03), PeakRSSBytes: ip(40 << 20)}
	dead := Result{Target: "dead", Errors: 5}
	all := []Result{direct, haproxy, sy, dead}

	tests := []struct {
		name   string
		versus string
		want   []Ratio
	}{
		{"no reference", "", nil},
		{"unknown reference", "nope", nil},
		{"vs direct: no CPU ratio without the reference's PID", "direct", []Ratio{
			{Target: "haproxy", Versus: "direct", QPS: fp(0.9), P50: fp(1.5), P99: fp(1.5)},
			{Target: "switchyard", Versus: "direct", QPS: fp(0.81), P50: fp(2), P99: fp(1.8)},
			{Target: "dead", Versus: "direct"},
		}},
		{"vs haproxy: the issue's bar", "haproxy", []Ratio{
			{Target: "direct", Versus: "haproxy", QPS: fp(1000.0 / 900), P50: fp(1 / 1.5), P99: fp(2.0 / 3)},
			{Target: "switchyard", Versus: "haproxy", QPS: fp(0.9), P50: fp(2 / 1.5), P99: fp(1.2), CPUPer1k: fp(1.5), PeakRSS: fp(4)},
			{Target: "dead", Versus: "haproxy"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ratios(all, tt.versus)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d ratios, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Target != w.Target || g.Versus != w.Versus ||
					!eqPtr(g.QPS, w.QPS) || !eqPtr(g.P50, w.P50) || !eqPtr(g.P99, w.P99) ||
					!eqPtr(g.CPUPer1k, w.CPUPer1k) || !eqPtr(g.PeakRSS, w.PeakRSS) || !eqPtr(g.MBPerSec, w.MBPerSec) {
					t.Errorf("ratio %d = %s, want %s", i, ratioString(g), ratioString(w))
				}
			}
		})
	}
}

func ratioString(r Ratio) string {
	return r.Target + "/" + r.Versus + " qps=" + fmtF(r.QPS, "%.4f") + " p50=" + fmtF(r.P50, "%.4f") + " p99=" + fmtF(r.P99, "%.4f") +
		" cpu=" + fmtF(r.CPUPer1k, "%.4f") + " rss=" + fmtF(r.PeakRSS, "%.4f") + " mbps=" + fmtF(r.MBPerSec, "%.4f")
}

func TestAggregate(t *testing.T) {
	mk := func(sec float64, q, ev, errs int64, cpu float64, rss int64, lat time.Duration) *round {
		r := &round{seconds: sec, queries: q, events: ev, errors: errs, havePID: true,
			proc: ProcStats{CPUSeconds: cpu, PeakRSSBytes: rss}}
		for range ev {
			r.hist.Record(lat)
		}
		return r
	}
	tests := []struct {
		name    string
		rounds  []*round
		qps     float64
		tps     float64
		cpu1k   *float64
		peakRSS *int64
		mbps    *float64
	}{
		{
			name:   "throughput is total work over total time",
			rounds: []*round{mk(10, 1000, 1000, 0, 1, 100, time.Millisecond), mk(30, 1000, 1000, 0, 1, 300, time.Millisecond)},
			qps:    2000.0 / 40, tps: 2000.0 / 40, cpu1k: fp(1), peakRSS: ip(300),
		},
		{
			name:   "transactions: tps from events",
			rounds: []*round{mk(2, 1600, 100, 3, 0.4, 50, time.Millisecond)},
			qps:    800, tps: 50, cpu1k: fp(0.25), peakRSS: ip(50),
		},
		{
			name:   "no queries: no CPU per query",
			rounds: []*round{mk(1, 0, 0, 9, 0.5, 0, 0)},
			qps:    0, tps: 0,
		},
		{
			name:   "no PID: no CPU, no RSS",
			rounds: []*round{{seconds: 1, queries: 10, events: 10}},
			qps:    10, tps: 10,
		},
		{
			name:   "large result: MB/s",
			rounds: []*round{{seconds: 2, queries: 1, events: 1, bytes: 500e6}, {seconds: 3, queries: 1, events: 1, bytes: 500e6}},
			qps:    0.4, tps: 0.4, mbps: fp(200),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := aggregate("x", tt.rounds)
			if math.Abs(r.QPS-tt.qps) > 1e-9 || math.Abs(r.TPS-tt.tps) > 1e-9 {
				t.Errorf("qps %v tps %v, want %v %v", r.QPS, r.TPS, tt.qps, tt.tps)
			}
			if !eqPtr(r.CPUSecPer1kQueries, tt.cpu1k) {
				t.Errorf("cpu/1k = %s, want %s", fmtF(r.CPUSecPer1kQueries, "%v"), fmtF(tt.cpu1k, "%v"))
			}
			if (r.PeakRSSBytes == nil) != (tt.peakRSS == nil) || (r.PeakRSSBytes != nil && *r.PeakRSSBytes != *tt.peakRSS) {
				t.Errorf("peak RSS = %s, want %s", fmtMiB(r.PeakRSSBytes), fmtMiB(tt.peakRSS))
			}
			if !eqPtr(r.MBPerSec, tt.mbps) {
				t.Errorf("MB/s = %s, want %s", fmtF(r.MBPerSec, "%v"), fmtF(tt.mbps, "%v"))
			}
			if len(r.RoundQPS) != len(tt.rounds) {
				t.Errorf("round qps %v, want %d entries", r.RoundQPS, len(tt.rounds))
			}
		})
	}
}

func TestErrorSampler(t *testing.T) {
	var s errorSampler
	for i := range 20 {
		s.add(errors.New("same"))
		s.add(errString(string(rune('a' + i))))
	}
	s.add(nil)
	if len(s.msgs) != maxErrorSamples || s.msgs[0] != "same" {
		t.Errorf("samples = %q, want %d distinct starting with \"same\"", s.msgs, maxErrorSamples)
	}
}
