package proxy

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
)

// DigestStat is one row of the top-statements table: statements with the
// same normalized text (literals replaced), like ProxySQL's digest table.
type DigestStat struct {
	Digest       string  // stable hash of Sample
	Sample       string  // the normalized statement
	Count        uint64  // executions
	Errors       uint64  // executions answered with an error
	TotalSeconds float64 // summed latency as the proxy saw it
	MaxSeconds   float64
}

// maxDigests bounds the table; statements of new shapes beyond it are
// counted under one "other" row, so memory stays bounded whatever the
// workload.
const maxDigests = 5000

const otherDigest = "(other statements)"

// digestTable counts statements by digest. Safe for concurrent use: it is
// sharded by a hash of the digest so that sessions recording different
// statements rarely wait for each other.
type digestTable struct {
	shards [16]digestShard
}

type digestShard struct {
	mu   sync.Mutex
	rows map[string]*DigestStat
}

func (t *digestTable) shard(digest []byte) *digestShard {
	h := uint32(2166136261)
	for _, c := range digest {
		h = (h ^ uint32(c)) * 16777619
	}
	return &t.shards[h%uint32(len(t.shards))]
}

// record counts one execution of the statement whose normalized text is
// digest. The lookup by []byte does not allocate; only a new row does.
func (t *digestTable) record(digest []byte, failed bool, seconds float64) {
	sh := t.shard(digest)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.addLocked(sh.rows[string(digest)], digest, failed, seconds)
}

func (t *digestShard) addLocked(row *DigestStat, digest []byte, failed bool, seconds float64) {
	if t.rows == nil {
		t.rows = make(map[string]*DigestStat)
	}
	if row == nil {
		key := string(digest)
		if len(t.rows) >= maxDigests/16 {
			key = otherDigest
			row = t.rows[key]
		}
		if row == nil {
			row = &DigestStat{Sample: key, Digest: hashDigest(key)}
			t.rows[key] = row
		}
	}
	row.Count++
	if failed {
		row.Errors++
	}
	row.TotalSeconds += seconds
	row.MaxSeconds = max(row.MaxSeconds, seconds)
}

func hashDigest(s string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64()) // fixed width: ids line up and sort as text
}

// TopDigests returns the n statements with the most total time.
func (s *Server) TopDigests(n int) []DigestStat {
	var out []DigestStat
	for i := range s.digests.shards {
		sh := &s.digests.shards[i]
		sh.mu.Lock()
		for _, r := range sh.rows {
			out = append(out, *r)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b DigestStat) int {
		return cmp.Or(cmp.Compare(b.TotalSeconds, a.TotalSeconds), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Sample, b.Sample))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
