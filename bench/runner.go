package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxEventsPerWorker bounds every worker loop by count as well as by time.
const maxEventsPerWorker = 1 << 32

// errorBackoff keeps a failing worker from spinning on a dead target.
const errorBackoff = 20 * time.Millisecond

// ErrInterrupted is returned with the partial report when ctx ends early.
var ErrInterrupted = errors.New("benchmark interrupted")

// runner is the state of one Run. Only Run's goroutine calls its methods;
// the workers it starts see only what is passed to them.
type runner struct {
	cfg     Config
	eps     []*endpoint
	byName  map[string]*endpoint
	sqlText [][numStmtKinds]string
	log     io.Writer
	seed    atomic.Uint64
}

// Run executes the configured scenarios and returns the report. When ctx
// ends early it returns what was measured so far with ErrInterrupted.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, byName: map[string]*endpoint{}, log: cfg.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	r.seed.Store(uint64(time.Now().UnixNano()))
	for _, t := range cfg.Targets {
		e, err := newEndpoint(t)
		if err != nil {
			return nil, err
		}
		r.eps = append(r.eps, e)
		r.byName[t.Name] = e
	}
	r.sqlText = statementText(cfg.Tables)

	var errs []error
	for _, e := range r.eps {
		if err := e.ping(ctx, cfg.OpTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("a target does not answer: %w", err)
	}

	rep := newReport(cfg, r.eps)
	pt := r.byName[cfg.prepareTarget()]
	if cfg.Prepare {
		r.logf("preparing %d tables of %d rows through %s", cfg.Tables, cfg.TableSize, pt.Name)
		if err := prepareSchema(ctx, pt, cfg.Tables, cfg.TableSize, cfg.OpTimeout); err != nil {
			return nil, err
		}
	}
	if err := checkSchema(ctx, pt, cfg); err != nil {
		return nil, err
	}
	counts := cfg.Sweep
	if len(counts) == 0 {
		counts = []int{cfg.Conns}
	}
	most := slices.Max(counts)
	if n, err := raiseNoFile(uint64(cfg.IdleConns + 2*most + 256)); err != nil &&
		(slices.Contains(cfg.Scenarios, ScIdleConns) || len(cfg.Sweep) > 0) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("open-file limit is %d: %v", n, err))
	}

	for _, n := range counts {
		r.cfg.Conns = n
		for _, sc := range cfg.Scenarios {
			if ctx.Err() != nil {
				break
			}
			var s ScenarioResult
			if sc == ScFailover {
				s = r.runFailoverScenario(ctx)
			} else {
				s = r.runInterleaved(ctx, sc)
			}
			if len(cfg.Sweep) > 0 {
				s.Conns = n
			}
			rep.Scenarios = append(rep.Scenarios, s)
		}
	}
	rep.Finished = time.Now()
	if ctx.Err() != nil {
		return rep, ErrInterrupted
	}
	return rep, nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// runInterleaved runs rounds A, B, C, A, B, C … and aggregates per target.
func (r *runner) runInterleaved(ctx context.Context, sc string) ScenarioResult {
	perTarget := make(map[string][]*round, len(r.eps))
	for i := range r.cfg.Rounds {
		for _, e := range r.eps {
			if ctx.Err() != nil {
				break
			}
			if e.ReadsOnly && Writes(sc) || e.WritesOnly && !Writes(sc) {
				continue
			}
			rd := r.runRound(ctx, sc, e)
			perTarget[e.Name] = append(perTarget[e.Name], rd)
			r.logf("%-22s %5d conns round %d/%d %-12s %s", sc, r.cfg.Conns, i+1, r.cfg.Rounds, e.Name, rd.line())
		}
	}
	s := ScenarioResult{Name: sc, Description: describe(sc, &r.cfg)}
	for _, e := range r.eps {
		if rs := perTarget[e.Name]; len(rs) > 0 {
			s.Results = append(s.Results, aggregate(e.Name, rs))
		}
	}
	s.VsBaseline = ratios(s.Results, r.cfg.Baseline)
	// A reference against one already used is the inverse of a ratio
	// already shown.
	used := []string{r.cfg.Baseline}
	for _, ref := range r.cfg.Compare {
		if slices.Contains(used, ref) {
			continue
		}
		for _, x := range ratios(s.Results, ref) {
			if !slices.Contains(used, x.Target) {
				s.VsCompare = append(s.VsCompare, x)
			}
		}
		used = append(used, ref)
	}
	return s
}

func (rd *round) line() string {
	s := fmt.Sprintf("%10.1f qps  p99 %8.3f ms  errors %d", perSec(float64(rd.queries), rd.seconds), ms(rd.hist.Quantile(0.99)), rd.errors)
	if rd.bytes > 0 {
		s += fmt.Sprintf("  %.1f MB/s", perSec(float64(rd.bytes)/1e6, rd.seconds))
	}
	if rd.havePID && rd.proc.PeakRSSBytes > 0 {
		s += fmt.Sprintf("  rss %.1f MiB", float64(rd.proc.PeakRSSBytes)/(1<<20))
	}
	if rd.idle != nil {
		s += fmt.Sprintf("  idle %d/%d open, %d alive", rd.idle.Opened, rd.idle.Requested, rd.idle.AliveAfter)
	}
	if len(rd.errSamples) > 0 {
		s += "  first error: " + rd.errSamples[0]
	}
	return s
}

func (r *runner) nextSeed() uint64 { return r.seed.Add(0x9e3779b97f4a7c15) }

// runRound runs one scenario once against one target.
func (r *runner) runRound(ctx context.Context, sc string, e *endpoint) *round {
	switch sc {
	case ScPointSelect, ScPointSelectPrep, ScReadOnly, ScReadOnlyPrep, ScReadWrite, ScReadWritePrep, ScReadWriteAuto:
		return r.runOLTP(ctx, sc, e, r.cfg.Conns)
	case ScConnectStorm:
		return r.runConnectStorm(ctx, e)
	case ScIdleConns:
		return r.runIdle(ctx, e)
	case ScLargeResult:
		return r.runLarge(ctx, e)
	}
	panic("BUG: runRound for scenario " + sc)
}

func oltpParams(sc string) (oltpKind, bool) {
	switch sc {
	case ScPointSelect:
		return oltpPointSelect, false
	case ScPointSelectPrep:
		return oltpPointSelect, true
	case ScReadOnly:
		return oltpReadOnly, false
	case ScReadOnlyPrep:
		return oltpReadOnly, true
	case ScReadWrite:
		return oltpReadWrite, false
	case ScReadWritePrep:
		return oltpReadWrite, true
	case ScReadWriteAuto:
		return oltpReadWriteAutocommit, false
	}
	panic("BUG: not an oltp scenario: " + sc)
}

func (r *runner) runOLTP(ctx context.Context, sc string, e *endpoint, n int) *round {
	kind, prepared := oltpParams(sc)
	db := e.pool(prepared, n)
	defer db.Close()
	var made atomic.Int64
	return r.closedLoop(ctx, e, n, func() eventer {
		w := newOLTPWorker(db, kind, prepared, r.sqlText, r.cfg.TableSize, r.nextSeed())
		w.slot, w.slots = int(made.Add(1)-1)%n, n
		return w
	})
}

// eventer is one closed-loop client: it runs one event at a time and
// returns how many statements succeeded.
type eventer interface {
	event(ctx context.Context) (queries int, err error)
	close()
}

// readier is an eventer with setup that must not be measured (connect,
// prepare).
type readier interface {
	ready(ctx context.Context) error
}

func (w *oltpWorker) ready(ctx context.Context) error {
	if err := w.connect(ctx); err != nil {
		return err
	}
	if !w.prepared {
		return nil
	}
	for t := range w.sql {
		for k := range numStmtKinds {
			if _, err := w.stmt(ctx, t, k); err != nil {
				w.drop()
				return err
			}
		}
	}
	return nil
}

// workerResult is what one closed-loop worker measured; merged at the end.
type workerResult struct {
	hist    Histogram
	queries int64
	events  int64
	errors  int64
	es      errorSampler
}

// closedLoop runs n clients: each gets ready, then all run events back to
// back through the warmup and the measured window. Only events that start
// inside the window are counted. The target's process is sampled over
// exactly that window.
func (r *runner) closedLoop(ctx context.Context, e *endpoint, n int, mk func() eventer) *round {
	cfg := &r.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout+cfg.Warmup+cfg.Duration+cfg.OpTimeout)
	defer cancel()

	results := make([]*workerResult, n)
	var readyWG, doneWG sync.WaitGroup
	start := make(chan struct{})
	var windowStart, windowEnd time.Time // written before start is closed
	for i := range n {
		res := &workerResult{}
		results[i] = res
		readyWG.Add(1)
		doneWG.Go(func() {
			w := mk()
			defer w.close()
			if rd, ok := w.(readier); ok {
				rctx, rcancel := context.WithTimeout(ctx, cfg.OpTimeout)
				err := rd.ready(rctx)
				rcancel()
				if err != nil {
					res.errors++
					res.es.add(fmt.Errorf("setup: %w", err))
				}
			}
			readyWG.Done()
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			runEvents(ctx, w, res, windowStart, windowEnd)
		})
	}
	readyWG.Wait()
	windowStart = time.Now().Add(cfg.Warmup)
	windowEnd = windowStart.Add(cfg.Duration)
	close(start)

	rd := &round{seconds: cfg.Duration.Seconds(), havePID: e.PID > 0}
	if waitUntil(ctx, windowStart) {
		pw := beginProcWindow(e.PID)
		waitUntil(ctx, windowEnd)
		rd.proc = pw.end()
	}
	doneWG.Wait()
	if ctx.Err() != nil && time.Now().Before(windowEnd) {
		rd.seconds = max(0, time.Since(windowStart).Seconds())
	}
	var es errorSampler
	for _, res := range results {
		rd.hist.Merge(&res.hist)
		rd.queries += res.queries
		rd.events += res.events
		rd.errors += res.errors
		for _, m := range res.es.msgs {
			es.add(errString(m))
		}
	}
	rd.errSamples = es.msgs
	return rd
}

// runEvents is one worker's loop, bounded by the window's end, ctx and
// maxEventsPerWorker.
func runEvents(ctx context.Context, w eventer, res *workerResult, windowStart, windowEnd time.Time) {
	for range maxEventsPerWorker {
		t0 := time.Now()
		if !t0.Before(windowEnd) || ctx.Err() != nil {
			return
		}
		q, err := w.event(ctx)
		if t0.Before(windowStart) {
			if err != nil {
				waitFor(ctx, errorBackoff)
			}
			continue
		}
		res.queries += int64(q)
		if err != nil {
			if ctx.Err() != nil {
				return // the round ended under the statement: not the target's error
			}
			res.errors++
			res.es.add(err)
			waitFor(ctx, errorBackoff)
			continue
		}
		res.events++
		res.hist.Record(time.Since(t0))
	}
}

// waitUntil blocks until t or ctx's end and reports whether t was reached.
func waitUntil(ctx context.Context, t time.Time) bool {
	return waitFor(ctx, time.Until(t))
}

// waitFor blocks for d or until ctx ends and reports whether d passed.
func waitFor(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
