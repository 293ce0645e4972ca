package gtid

import "sync/atomic"

// Known is a position that only moves forward: what a server is known to
// have applied, or the newest position acknowledged to clients. Readers load
// it without a lock; Add merges with a compare-and-swap and allocates
// nothing when the position is covered already, which is the common case
// under load. The zero Known is empty and ready to use; safe for concurrent
// use.
type Known struct {
	p atomic.Pointer[Position]
}

// Load returns the position (the zero Position before any Add).
func (k *Known) Load() Position {
	if p := k.p.Load(); p != nil {
		return *p
	}
	return Position{}
}

// Add merges q in.
func (k *Known) Add(q Position) {
	if q.IsEmpty() {
		return
	}
	for {
		old := k.p.Load()
		var cur Position
		if old != nil {
			cur = *old
			if cur.Covers(q) {
				return
			}
		}
		merged := cur.Merge(q)
		if k.p.CompareAndSwap(old, &merged) {
			return
		}
	}
}
