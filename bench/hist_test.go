package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketIndexBoundsRoundTrip(t *testing.T) {
	// Every bucket's bounds map back to it, and buckets tile the value
	// space without gaps.
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if lo > hi {
			t.Fatalf("bucket %d: lo %d > hi %d", i, lo, hi)
		}
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := bucketIndex(v); got != i {
				t.Fatalf("bucketIndex(%d) = %d, want %d", v, got, i)
			}
		}
		prevHi = hi
	}
	if prevHi != ^uint64(0) {
		t.Fatalf("last bucket ends at %d, want MaxUint64", prevHi)
	}
}

func TestQuantile(t *testing.T) {
	seq := func(from, to int, unit time.Duration) []time.Duration {
		var out []time.Duration
		for i := from; i <= to; i++ {
			out = append(out, time.Duration(i)*unit)
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
		relErr  float64 // allowed relative error
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one sample any q", []time.Duration{7 * time.Millisecond}, 0.99, 7 * time.Millisecond, 0},
		{"exact small values p50", seq(1, 100, 1), 0.5, 50, 0},
		{"exact small values p99", seq(1, 100, 1), 0.99, 99, 0},
		{"exact small values p100 is max", seq(1, 100, 1), 1, 100, 0},
		{"q 0 is min", seq(1, 100, 1), 0, 1, 0},
		{"microseconds p50", seq(1, 1000, time.Microsecond), 0.5, 500 * time.Microsecond, 1.0 / 256},
		{"microseconds p99", seq(1, 1000, time.Microsecond), 0.99, 990 * time.Microsecond, 1.0 / 256},
		{"microseconds p99.9", seq(1, 1000, time.Microsecond), 0.999, 999 * time.Microsecond, 1.0 / 256},
		{"microseconds p95", seq(1, 1000, time.Microsecond), 0.95, 950 * time.Microsecond, 1.0 / 256},
		{"bimodal p50 in the fast mode", append(slices.Repeat([]time.Duration{time.Millisecond}, 99), time.Second), 0.5, time.Millisecond, 1.0 / 256},
		{"bimodal p99.9 is the outlier", append(slices.Repeat([]time.Duration{time.Millisecond}, 99), time.Second), 0.999, time.Second, 0},
		{"negative counts as zero", []time.Duration{-5, -1}, 0.5, 0, 0},
		{"huge values", []time.Duration{time.Hour, 2 * time.Hour}, 0.5, time.Hour, 1.0 / 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, s := range tt.samples {
				h.Record(s)
			}
			got := h.Quantile(tt.q)
			diff := float64(got - tt.want)
			if diff < 0 {
				diff = -diff
			}
			if diff > tt.relErr*float64(tt.want) {
				t.Errorf("Quantile(%v) = %v, want %v (±%.2f%%)", tt.q, got, tt.want, tt.relErr*100)
			}
		})
	}
}

func TestQuantileMatchesSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		// log-normal-ish latencies from 50µs to seconds
		d := time.Duration(50_000 * (1 + rng.ExpFloat64()*rng.ExpFloat64()*20))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if rel := (float64(got) - float64(want)) / float64(want); rel > 1.0/256 || rel < -1.0/256 {
			t.Errorf("q=%v: histogram %v, sorted samples %v (%.3f%% off)", q, got, want, rel*100)
		}
	}
	if h.Count() != uint64(len(all)) || h.Max() != all[len(all)-1] {
		t.Errorf("count %d max %v, want %d %v", h.Count(), h.Max(), len(all), all[len(all)-1])
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		a, b []time.Duration
	}{
		{"both empty", nil, nil},
		{"into empty", nil, []time.Duration{3, 5}},
		{"from empty", []time.Duration{3, 5}, nil},
		{"both", []time.Duration{10 * time.Millisecond, 1}, []time.Duration{2 * time.Second, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b, all Histogram
			for _, d := range tt.a {
				a.Record(d)
				all.Record(d)
			}
			for _, d := range tt.b {
				b.Record(d)
				all.Record(d)
			}
			a.Merge(&b)
			if a != all {
				t.Errorf("merged histogram differs from one that recorded everything: count %d/%d min %d/%d max %d/%d sum %d/%d",
					a.total, all.total, a.min, all.min, a.max, all.max, a.sum, all.sum)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	var h Histogram
	for i := 1; i <= 4; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	if s.Max != 4 || s.Mean != 2.5 || s.P999 != 4 {
		t.Errorf("summary = %+v, want max 4, mean 2.5, p99.9 4", s)
	}
	if s.P50 < 1.99 || s.P50 > 2.01 {
		t.Errorf("p50 = %v ms, want 2", s.P50)
	}
}
