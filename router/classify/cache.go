package classify

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// cache maps digests to decisions. It is split into shards, each a map plus
// a CLOCK ring (second-chance eviction: an approximation of LRU that needs
// no list surgery on a hit, only a flag), behind its own mutex, so sessions
// classifying different shapes rarely meet on a lock. Critical sections are
// a map lookup and a struct copy.
type cache struct {
	seed   maphash.Seed
	shards []shard
	mask   uint64
}

type shard struct {
	mu sync.Mutex
	// Guarded by mu.
	idx  map[string]int32
	ring []cacheEntry
	hand int
	max  int

	hits, misses atomic.Uint64
	_            [64]byte // keep neighbouring shards' locks off one cache line
}

type cacheEntry struct {
	key string
	val Statement
	ref bool
}

// maxShards bounds the number of shards; fewer when the cache is small, so
// that the total never exceeds the configured size.
const maxShards = 32

func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n*2 <= maxShards && n*2 <= size {
		n *= 2
	}
	c := &cache{seed: maphash.MakeSeed(), shards: make([]shard, n), mask: uint64(n - 1)}
	for i := range c.shards {
		m := size / n
		if i < size%n {
			m++
		}
		c.shards[i].max = m
		c.shards[i].idx = make(map[string]int32, m)
	}
	return c
}

func (c *cache) shard(key []byte) *shard {
	return &c.shards[maphash.Bytes(c.seed, key)&c.mask]
}

// get looks key up without allocating. count says whether a miss counts
// (a second lookup for the same statement does not).
func (c *cache) get(key []byte, count bool) (Statement, bool) {
	s := c.shard(key)
	s.mu.Lock()
	i, ok := s.idx[string(key)]
	if !ok {
		s.mu.Unlock()
		if count {
			s.misses.Add(1)
		}
		return Statement{}, false
	}
	e := &s.ring[i]
	e.ref = true
	v := e.val
	s.mu.Unlock()
	s.hits.Add(1)
	return v, true
}

// put stores val under key, evicting the first entry the clock hand finds
// not referenced since its last pass.
func (c *cache) put(key string, val Statement) {
	s := &c.shards[maphash.String(c.seed, key)&c.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.idx[key]; ok {
		s.ring[i].val = val
		return
	}
	if len(s.ring) < s.max {
		s.idx[key] = int32(len(s.ring))
		s.ring = append(s.ring, cacheEntry{key: key, val: val})
		return
	}
	for {
		e := &s.ring[s.hand]
		if e.ref {
			e.ref = false
			s.hand = (s.hand + 1) % len(s.ring)
			continue
		}
		delete(s.idx, e.key)
		*e = cacheEntry{key: key, val: val}
		s.idx[key] = int32(s.hand)
		s.hand = (s.hand + 1) % len(s.ring)
		return
	}
}

func (c *cache) stats() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.ring)
		s.mu.Unlock()
	}
	return n
}
