package bench

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear, like HdrHistogram with 2 significant digits
// and a bit: values below 256 ns are counted exactly, every power of two above
// is split into 128 equal buckets, so a percentile read from it is within
// 1/256 (0.4%) of a recorded value. Memory is fixed (about 59 KiB) whatever
// the number of samples, which sorted samples could not promise.
const (
	subBucketBits  = 8
	subBucketCount = 1 << subBucketBits // exact values below this
	subBucketHalf  = subBucketCount / 2 // buckets per power of two above it
	maxShift       = 64 - subBucketBits
	numBuckets     = subBucketCount + maxShift*subBucketHalf
)

// Histogram counts durations in nanoseconds. The zero value is empty and
// ready. It is not safe for concurrent use: each worker owns one and the
// runner merges them when the workers are done.
type Histogram struct {
	counts   [numBuckets]uint64
	total    uint64
	min, max uint64
	sum      uint64 // nanoseconds; overflows after 584 years of samples
}

// bucketIndex maps a value to its bucket.
func bucketIndex(v uint64) int {
	if v < subBucketCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits // >= 1
	m := v >> uint(shift)                  // in [subBucketHalf, subBucketCount)
	return subBucketCount + (shift-1)*subBucketHalf + int(m-subBucketHalf)
}

// bucketBounds returns the lowest and highest value that land in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subBucketCount {
		return uint64(i), uint64(i)
	}
	k := i - subBucketCount
	shift := uint(k/subBucketHalf + 1)
	m := uint64(k%subBucketHalf + subBucketHalf)
	lo = m << shift
	hi = lo + (uint64(1) << shift) - 1
	return lo, hi
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += v
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest sample, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average sample, exact.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Quantile returns the sample at quantile q in [0, 1]: the smallest value
// such that at least q of the samples are at or below it (nearest rank),
// reported as the middle of its bucket and clamped to the exact min and max.
// It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if math.IsNaN(q) || q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	// The epsilon keeps 0.99*100 from rounding up to rank 100.
	rank := uint64(math.Ceil(q*float64(h.total) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.total {
		return time.Duration(h.max)
	}
	var cum uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		cum += c
		if cum >= rank {
			lo, hi := bucketBounds(i)
			v := lo + (hi-lo)/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max) // not reached: cum ends at total
}

// Latency is the summary of a histogram in milliseconds, for reports.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary computes the report percentiles.
func (h *Histogram) Summary() Latency {
	return Latency{
		P50:  ms(h.Quantile(0.50)),
		P95:  ms(h.Quantile(0.95)),
		P99:  ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)),
		Max:  ms(h.Max()),
		Mean: ms(h.Mean()),
	}
}
