package bench

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// idleParallel is how many connections idle_conns opens, pings or closes at
// once: enough to open 10,000 in seconds, few enough not to look like a
// connection storm.
const idleParallel = 64

// IdleStats describes the idle connections of idle_conns. Over several
// rounds it holds the worst round: fewest opened, most failed, slowest open,
// fewest alive.
type IdleStats struct {
	Requested      int     `json:"requested"`
	Opened         int     `json:"opened"`
	OpenFailed     int     `json:"open_failed"`
	OpenSeconds    float64 `json:"open_seconds"`
	AliveAfter     int     `json:"alive_after"` // answered COM_PING after the active load
	RSSBeforeBytes int64   `json:"rss_before_bytes,omitempty"`
	FirstOpenError string  `json:"first_open_error,omitempty"`
}

func mergeIdle(acc, x *IdleStats) *IdleStats {
	if acc == nil {
		c := *x
		return &c
	}
	acc.Opened = min(acc.Opened, x.Opened)
	acc.OpenFailed = max(acc.OpenFailed, x.OpenFailed)
	acc.OpenSeconds = max(acc.OpenSeconds, x.OpenSeconds)
	acc.AliveAfter = min(acc.AliveAfter, x.AliveAfter)
	if x.RSSBeforeBytes > 0 && (acc.RSSBeforeBytes == 0 || x.RSSBeforeBytes < acc.RSSBeforeBytes) {
		acc.RSSBeforeBytes = x.RSSBeforeBytes
	}
	if acc.FirstOpenError == "" {
		acc.FirstOpenError = x.FirstOpenError
	}
	return acc
}

// runIdle opens IdleConns connections that then do nothing, runs a small
// point-select load (IdleActive clients) for the round while they stay open,
// checks that they still answer, and closes them. The target's RSS over the
// window is what it costs to hold them.
func (r *runner) runIdle(ctx context.Context, e *endpoint) *round {
	cfg := &r.cfg
	st := &IdleStats{Requested: cfg.IdleConns, RSSBeforeBytes: currentRSS(e.PID)}
	conns := r.openIdle(ctx, e, st)
	defer closeAll(conns)

	rd := r.runOLTP(ctx, ScPointSelect, e, cfg.IdleActive)
	st.AliveAfter = pingAll(ctx, conns, cfg.OpTimeout)
	rd.idle = st
	if st.FirstOpenError != "" {
		rd.errSamples = append([]string{"open: " + st.FirstOpenError}, rd.errSamples...)
	}
	return rd
}

// openIdle opens up to st.Requested connections within IdleOpenLimit.
func (r *runner) openIdle(ctx context.Context, e *endpoint, st *IdleStats) []driver.Conn {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.IdleOpenLimit)
	defer cancel()
	conns := make([]driver.Conn, st.Requested)
	var next, failed atomic.Int64
	var firstErr sync.Once
	t0 := time.Now()
	var wg sync.WaitGroup
	for range min(idleParallel, st.Requested) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(conns)) || ctx.Err() != nil {
					return
				}
				// A full target may accept TCP and never greet: give each
				// connection its own bound so the rest still get a turn.
				cctx, ccancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
				c, err := e.text.Connect(cctx)
				ccancel()
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { st.FirstOpenError = err.Error() })
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	st.OpenSeconds = time.Since(t0).Seconds()
	out := conns[:0]
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	st.Opened = len(out)
	st.OpenFailed = int(failed.Load())
	if ctx.Err() != nil && st.Opened+st.OpenFailed < st.Requested {
		st.OpenFailed = st.Requested - st.Opened
		if st.FirstOpenError == "" {
			st.FirstOpenError = fmt.Sprintf("not all opened within %s", r.cfg.IdleOpenLimit)
		}
	}
	return out
}

// forEach runs fn on every connection, idleParallel at a time.
func forEach(conns []driver.Conn, fn func(driver.Conn)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(idleParallel, len(conns)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(conns)) {
					return
				}
				fn(conns[i])
			}
		})
	}
	wg.Wait()
}

// pingAll counts the connections that still answer COM_PING.
func pingAll(ctx context.Context, conns []driver.Conn, timeout time.Duration) int {
	var alive atomic.Int64
	forEach(conns, func(c driver.Conn) {
		p, ok := c.(driver.Pinger)
		if !ok {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if p.Ping(pctx) == nil {
			alive.Add(1)
		}
	})
	return int(alive.Load())
}

func closeAll(conns []driver.Conn) {
	forEach(conns, func(c driver.Conn) { _ = c.Close() })
}
