package health

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/internal/gtid"
)

// ackTracker keeps the newest acknowledged GTID per replication domain
// (MariaDB) or source uuid (MySQL). add is the hot path — every
// acknowledged write of every session — so it is lock-free: an atomic load
// of a copy-on-write map and a compare-and-swap on the domain's sequence
// number. Only a domain never seen before takes mu and copies the map.
type ackTracker struct {
	mu      sync.Mutex // serializes adding a domain
	domains atomic.Pointer[map[string]*ackSlot]
}

type ackSlot struct {
	mysql  bool          // key is a uuid: the position is uuid:1-seq
	seq    atomic.Uint64 // newest sequence number (MySQL: transaction number)
	server atomic.Uint32 // server id of that GTID (MariaDB; best effort under races)
}

func (a *ackTracker) add(gtids string) {
	for gtids != "" {
		var g string
		g, gtids, _ = strings.Cut(gtids, ",")
		a.addOne(strings.TrimSpace(g))
	}
}

func (a *ackTracker) addOne(g string) {
	key, server, seq, err := gtid.Newest(g)
	if err != nil {
		return
	}
	mysql := server == 0 && strings.IndexByte(g, ':') >= 0
	var slot *ackSlot
	if m := a.domains.Load(); m != nil {
		slot = (*m)[key]
	}
	if slot == nil {
		slot = a.slot(key, mysql)
	}
	for {
		cur := slot.seq.Load()
		if seq <= cur {
			return
		}
		if slot.seq.CompareAndSwap(cur, seq) {
			slot.server.Store(server)
			return
		}
	}
}

// slot returns the slot of key, adding it (copy-on-write) if needed.
func (a *ackTracker) slot(key string, mysql bool) *ackSlot {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.domains.Load()
	if old != nil {
		if s, ok := (*old)[key]; ok {
			return s
		}
	}
	next := make(map[string]*ackSlot, 1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	s := &ackSlot{mysql: mysql}
	next[strings.Clone(key)] = s
	a.domains.Store(&next)
	return s
}

// String is the newest acknowledged position: "0-1-42,1-2-7" (MariaDB) or
// "uuid:1-42" (MySQL); "" when nothing was acknowledged.
func (a *ackTracker) String() string {
	m := a.domains.Load()
	if m == nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range *m {
			if !yield(k) {
				return
			}
		}
	}) {
		s := (*m)[k]
		n := s.seq.Load()
		if s.mysql {
			parts = append(parts, fmt.Sprintf("%s:1-%d", k, n))
		} else {
			parts = append(parts, fmt.Sprintf("%s-%d-%d", k, s.server.Load(), n))
		}
	}
	return strings.Join(parts, ",")
}
