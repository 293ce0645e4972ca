package bench

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The drill's bounds: writes per drill (the acknowledgement table is one
// byte per write), bytes of kill-command output kept, missing sequence
// numbers listed, and how often and how many times verification is retried.
const (
	maxDrillWrites    = 1 << 20
	maxKillOutput     = 4096
	maxMissingSample  = 20
	drillPoll         = 50 * time.Millisecond
	verifyAttempts    = 10
	verifyRetryPause  = 1 * time.Second
	drillTable        = "bench_failover"
	statusUnattempted = 0
	statusAcked       = 1
	statusFailed      = 2 // the client saw an error: the row may or may not be there
)

// DrillStats is the outcome of one failover drill. Times are in seconds
// from the start of the kill command.
type DrillStats struct {
	KillCmd     string  `json:"kill_cmd"`
	KillSeconds float64 `json:"kill_seconds"`
	KillError   string  `json:"kill_error,omitempty"`
	KillOutput  string  `json:"kill_output,omitempty"`
	Writers     int     `json:"writers"`
	Rate        int     `json:"rate"` // writes per second asked for, all writers together

	Attempted        int64 `json:"attempted"`
	Acked            int64 `json:"acked"`
	Errors           int64 `json:"errors"`
	ErrorsBeforeKill int64 `json:"errors_before_kill"`

	// FirstErrorAfter: when the first write failed after the kill started.
	FirstErrorAfter *float64 `json:"first_error_after_s,omitempty"`
	// RecoveredAfter: when the first write that started after the last
	// failure was acknowledged. Absent when no write failed after the kill.
	RecoveredAfter *float64 `json:"recovered_after_s,omitempty"`
	// MaxWriteGap: the longest time without an acknowledged write, the
	// unavailability a client felt.
	MaxWriteGap float64 `json:"max_write_gap_s"`
	// Recovered: writes ran error-free for the settle time before the timeout.
	Recovered bool `json:"recovered"`

	// Verified: the table could be read back. Then Missing counts
	// acknowledged writes that are not there (must be 0), UnackedPresent
	// writes the client saw fail that committed anyway (allowed: the
	// acknowledgement was lost), Unexpected rows nobody wrote.
	Verified       bool    `json:"verified"`
	VerifyError    string  `json:"verify_error,omitempty"`
	Missing        int64   `json:"missing"`
	MissingSample  []int64 `json:"missing_sample,omitempty"`
	UnackedPresent int64   `json:"unacked_present"`
	Unexpected     int64   `json:"unexpected"`
}

// drillEvent is one write attempt, times relative to the drill's start.
type drillEvent struct {
	start, end time.Duration
	ok         bool
}

// drillTimeline is what analyzeDrill derives from the write attempts.
type drillTimeline struct {
	errorsBeforeKill int64
	firstErrorAfter  *float64
	recoveredAfter   *float64
	maxGap           time.Duration
}

// analyzeDrill computes the timeline of a drill from every write attempt,
// the moment the kill started and the moment the writers stopped. It is pure.
func analyzeDrill(events []drillEvent, killAt, end time.Duration) drillTimeline {
	var tl drillTimeline
	var lastErrEnd time.Duration
	sawErrAfter := false
	for _, ev := range events {
		if ev.ok {
			continue
		}
		if ev.start < killAt {
			tl.errorsBeforeKill++
		}
		if ev.end < killAt {
			continue
		}
		d := (ev.end - killAt).Seconds()
		if tl.firstErrorAfter == nil || d < *tl.firstErrorAfter {
			tl.firstErrorAfter = &d
		}
		if !sawErrAfter || ev.end > lastErrEnd {
			lastErrEnd = ev.end
		}
		sawErrAfter = true
	}
	acks := make([]time.Duration, 0, len(events))
	var firstGood *time.Duration
	for _, ev := range events {
		if !ev.ok {
			continue
		}
		acks = append(acks, ev.end)
		if sawErrAfter && ev.start >= lastErrEnd && (firstGood == nil || ev.end < *firstGood) {
			e := ev.end
			firstGood = &e
		}
	}
	if firstGood != nil {
		d := (*firstGood - killAt).Seconds()
		tl.recoveredAfter = &d
	}
	slices.Sort(acks)
	prev := time.Duration(0)
	if len(acks) > 0 {
		prev = acks[0] // the gap before the first write is connection setup, not failover
	}
	for _, a := range acks {
		tl.maxGap = max(tl.maxGap, a-prev)
		prev = a
	}
	if end > prev {
		tl.maxGap = max(tl.maxGap, end-prev)
	}
	return tl
}

// reconcile compares what the writers were told (status, indexed by
// sequence number) with the sequence numbers found in the table. It is pure.
func reconcile(status []uint8, found []int64) (missing, unackedPresent, unexpected int64, sample []int64) {
	seen := make([]bool, len(status))
	for _, s := range found {
		if s <= 0 || s >= int64(len(status)) || status[s] == statusUnattempted || seen[s] {
			unexpected++
			continue
		}
		seen[s] = true
		if status[s] == statusFailed {
			unackedPresent++
		}
	}
	for s, st := range status {
		if st == statusAcked && !seen[s] {
			missing++
			if len(sample) < maxMissingSample {
				sample = append(sample, int64(s))
			}
		}
	}
	return missing, unackedPresent, unexpected, sample
}

func (r *runner) runFailoverScenario(ctx context.Context) ScenarioResult {
	s := ScenarioResult{Name: ScFailover, Description: describe(ScFailover, &r.cfg)}
	names := r.cfg.FailoverTargets
	if len(names) == 0 {
		for _, e := range r.eps {
			if !e.ReadsOnly {
				names = append(names, e.Name)
			}
		}
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		e := r.byName[n]
		rd := r.runDrill(ctx, e)
		r.logf("%-22s %-12s %s", ScFailover, e.Name, rd.drill.line())
		s.Results = append(s.Results, aggregate(e.Name, []*round{rd}))
	}
	return s
}

func (d *DrillStats) line() string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.3fs", *p)
	}
	return fmt.Sprintf("acked %d errors %d first error %s recovered %s max gap %.3fs recovered=%t missing %d unacked-present %d verified=%t %s",
		d.Acked, d.Errors, f(d.FirstErrorAfter), f(d.RecoveredAfter), d.MaxWriteGap, d.Recovered, d.Missing, d.UnackedPresent, d.Verified, d.VerifyError)
}

// drillState is shared by the writers and the monitor; times are offsets
// from the drill's start in nanoseconds.
type drillState struct {
	t0       time.Time
	next     atomic.Int64 // last sequence number handed out
	lastAck  atomic.Int64
	lastErr  atomic.Int64
	status   []uint8 // each index written by the one writer that drew it
	mu       sync.Mutex
	events   []drillEvent // guarded by mu
	hist     Histogram    // guarded by mu
	es       errorSampler // guarded by mu
	errCount atomic.Int64
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// runDrill runs the failover drill against one target: autocommit writers
// insert sequence numbers; after the warmup the kill command runs; the
// drill ends when writes have run error-free for the settle time, or at the
// timeout; then every acknowledged write is looked up.
func (r *runner) runDrill(ctx context.Context, e *endpoint) *round {
	cfg := &r.cfg
	total := cfg.FailoverWarmup + cfg.KillTimeout + cfg.FailoverTimeout + cfg.FailoverSettle + 2*cfg.OpTimeout
	ctx, cancel := context.WithTimeout(ctx, total+verifyAttempts*(cfg.OpTimeout+verifyRetryPause))
	defer cancel()
	ds := &DrillStats{KillCmd: cfg.KillCmd, Writers: cfg.FailoverWriters, Rate: cfg.FailoverRate}
	rd := &round{drill: ds, havePID: e.PID > 0}

	db := e.pool(false, cfg.FailoverWriters+1)
	defer db.Close()
	setup := func(q string) error {
		c, cc := context.WithTimeout(ctx, cfg.OpTimeout)
		defer cc()
		_, err := db.ExecContext(c, q)
		return err
	}
	if err := errors.Join(
		setup("DROP TABLE IF EXISTS "+drillTable),
		setup("CREATE TABLE "+drillTable+" (seq BIGINT NOT NULL PRIMARY KEY, writer INT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB"),
	); err != nil {
		rd.errors++
		rd.errSamples = []string{"setup: " + err.Error()}
		ds.VerifyError = "setup failed"
		return rd
	}

	st := &drillState{t0: time.Now(), status: make([]uint8, maxDrillWrites+1)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range cfg.FailoverWriters {
		wg.Go(func() { r.drillWriter(ctx, db, st, w, stop) })
	}

	pw := beginProcWindow(e.PID)
	waitFor(ctx, cfg.FailoverWarmup)
	killAt := time.Since(st.t0)
	if cfg.KillCmd != "" {
		out, err := runKill(ctx, cfg.KillCmd, cfg.KillTimeout)
		ds.KillOutput = out
		if err != nil {
			ds.KillError = err.Error()
		}
	}
	ds.KillSeconds = (time.Since(st.t0) - killAt).Seconds()
	if cfg.KillCmd == "" {
		r.logf("%-22s %-12s no kill command (a smoke test); watching writes", ScFailover, e.Name)
	} else {
		r.logf("%-22s %-12s kill command done after %.3fs, watching writes", ScFailover, e.Name, ds.KillSeconds)
	}

	// Watch until writes have run error-free for the settle time after the
	// kill command finished, or the timeout passes.
	killDone := time.Since(st.t0)
	deadline := killAt + cfg.FailoverTimeout
	for range int(cfg.FailoverTimeout/drillPoll) + 1 {
		now := time.Since(st.t0)
		calm := max(killDone, time.Duration(st.lastErr.Load()))
		if now-calm >= cfg.FailoverSettle && st.lastAck.Load() > st.lastErr.Load() {
			ds.Recovered = true
			break
		}
		if now >= deadline || !waitFor(ctx, drillPoll) {
			break
		}
	}
	close(stop)
	wg.Wait()
	end := time.Since(st.t0)
	rd.proc = pw.end()

	st.mu.Lock()
	events := st.events
	rd.hist = st.hist
	rd.errSamples = st.es.msgs
	st.mu.Unlock()
	tl := analyzeDrill(events, killAt, end)
	ds.Attempted = int64(len(events))
	for _, ev := range events {
		if ev.ok {
			ds.Acked++
		}
	}
	ds.Errors = st.errCount.Load()
	ds.ErrorsBeforeKill = tl.errorsBeforeKill
	ds.FirstErrorAfter = tl.firstErrorAfter
	ds.RecoveredAfter = tl.recoveredAfter
	ds.MaxWriteGap = tl.maxGap.Seconds()

	found, err := r.readBack(ctx, db)
	if err != nil {
		ds.VerifyError = err.Error()
	} else {
		ds.Verified = true
		ds.Missing, ds.UnackedPresent, ds.Unexpected, ds.MissingSample = reconcile(st.status, found)
	}
	rd.seconds = end.Seconds()
	rd.queries, rd.events, rd.errors = ds.Acked, ds.Acked, ds.Errors
	return rd
}

// drillWriter inserts sequence numbers in autocommit mode until stop, ctx's
// end or the drill's write budget. Each attempt takes a new number and is
// never retried, so every row's fate is known or explicitly in doubt.
func (r *runner) drillWriter(ctx context.Context, db *sql.DB, st *drillState, writer int, stop <-chan struct{}) {
	// Paced, so that the write budget lasts and the writers measure the
	// target rather than saturate it; a writer that falls behind does not
	// catch up in a burst.
	interval := time.Second * time.Duration(r.cfg.FailoverWriters) / time.Duration(r.cfg.FailoverRate)
	next := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if now := time.Now(); next.After(now) {
			waitFor(ctx, next.Sub(now))
		} else {
			next = now
		}
		next = next.Add(interval)
		seq := st.next.Add(1)
		if seq >= int64(len(st.status)) {
			return
		}
		start := time.Since(st.t0)
		c, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
		_, err := db.ExecContext(c, "INSERT INTO "+drillTable+" (seq, writer) VALUES (?, ?)", seq, writer)
		cancel()
		end := time.Since(st.t0)
		ev := drillEvent{start: start, end: end, ok: err == nil}
		if err == nil {
			st.status[seq] = statusAcked
			storeMax(&st.lastAck, int64(end))
		} else {
			st.status[seq] = statusFailed
			storeMax(&st.lastErr, int64(end))
			st.errCount.Add(1)
		}
		st.mu.Lock()
		st.events = append(st.events, ev)
		if err == nil {
			st.hist.Record(end - start)
		} else {
			st.es.add(err)
		}
		st.mu.Unlock()
		if err != nil {
			waitFor(ctx, errorBackoff)
		}
	}
}

// readBack reads every sequence number in the drill table, in a locking
// read inside a transaction so that a read/write-splitting proxy sends it to
// the primary, not to a replica that may lag. It retries while the target is
// still settling.
func (r *runner) readBack(ctx context.Context, db *sql.DB) ([]int64, error) {
	var lastErr error
	for i := range verifyAttempts {
		if i > 0 && !waitFor(ctx, verifyRetryPause) {
			break
		}
		found, err := r.readBackOnce(ctx, db)
		if err == nil {
			return found, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("read back after %d attempts: %w", verifyAttempts, lastErr)
}

func (r *runner) readBackOnce(ctx context.Context, db *sql.DB) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	defer conn.ExecContext(ctx, "ROLLBACK") //nolint:errcheck // read-only; the connection is closed next anyway
	rows, err := conn.QueryContext(ctx, "SELECT seq FROM "+drillTable+" FOR UPDATE")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		found = append(found, s)
	}
	return found, rows.Err()
}

// runKill runs the kill command with sh -c and returns its output, cut to
// maxKillOutput bytes.
func runKill(ctx context.Context, cmd string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	// Its own process group, so that a timeout ends the whole command
	// (sh and whatever it runs), not only sh.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	c.Stdout = &limitedWriter{w: &out, left: maxKillOutput}
	c.Stderr = c.Stdout
	c.WaitDelay = time.Second // do not wait forever for a grandchild holding the pipe
	err := c.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kill command did not finish within %s: %w", timeout, err)
	}
	return out.String(), err
}

type limitedWriter struct {
	w    *bytes.Buffer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.left > 0 {
		k := min(l.left, len(p))
		l.w.Write(p[:k])
		l.left -= k
	}
	return n, nil
}
