package failover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/gtid"
)

// Errors of Execute, Rejoin and Repoint.
var (
	// ErrGuard: the promotion lock could not be taken on enough servers:
	// another proxy is promoting, or too few servers answer.
	ErrGuard = errors.New("failover: promotion guard not acquired")
	// ErrStale: under the guard, the servers no longer look as the plan
	// assumed: someone promoted already, or the candidate moved.
	ErrStale = errors.New("failover: topology changed since the plan was made")
	// ErrCatchup: in a switchover the target did not reach the old
	// primary's last position in time; the old primary was made writable
	// again and nothing else changed.
	ErrCatchup = errors.New("failover: target did not catch up")
	// ErrDiverged: a server has transactions its new source lacks; it
	// cannot replicate from it without an operator.
	ErrDiverged = errors.New("failover: GTID history diverged")
	// ErrPrecondition: the plan cannot be carried out to the end (no
	// replication account for the old primary, say); Execute and Precheck
	// return it before changing anything.
	ErrPrecondition = errors.New("failover: precondition not met")
)

// Target names one server.
type Target struct{ Name, Address string }

func (t Target) String() string { return t.Name + " (" + t.Address + ")" }

// Kind tells a failover (the old primary is gone) from a switchover (it is
// alive, and is made read-only and then a replica of the new primary).
type Kind string

const (
	KindFailover   Kind = "failover"
	KindSwitchover Kind = "switchover"
)

// Plan is one promotion, decided by the coordinator from its view.
type Plan struct {
	Kind   Kind
	Flavor Flavor
	From   Target   // the old primary
	To     Target   // the server to promote
	Others []Target // replicas to point at To (From excluded)
	// Guard lists the servers whose GET_LOCK guards the promotion, and
	// GuardQuorum how many of them must be locked: a majority of every
	// server but From, so that two promotions cannot both hold it.
	Guard       []Target
	GuardQuorum int
	// Epoch is the newest epoch the proxy knows; a guarded server that
	// recorded a newer one means someone promoted since.
	Epoch       uint64
	Acked       Position      // newest acknowledged position; may be zero
	CatchupWait time.Duration // bound on waiting for To to apply what it has
	Repl        ReplCredentials
	SemiSync    bool   // enable semi-sync on the new topology
	By          string // the proxy acting, recorded with the epoch
}

// Result is what Execute did.
type Result struct {
	Epoch     uint64   // the epoch recorded on To; 0 if none was
	Promoted  bool     // To is writable and recorded as primary
	CaughtUp  bool     // To applied everything it had received (or, in a switchover, From's last position)
	Missing   uint64   // acknowledged transactions To lacks
	Repointed []string // servers now replicating from To
	Steps     []string // statements run, "server: SQL", in order
	// Changed lists, when To was not promoted, what Execute changed and
	// could not undo, each with what an operator should do. Empty means a
	// failure left every server as it was.
	Changed []string
}

// Execute runs p. It takes the guard, re-checks the servers under it,
// (switchover: makes From read-only), waits for To to catch up, promotes To
// and records the new epoch on it, then repoints the others (switchover:
// From too) and releases the guard. All of it is bounded by ctx.
//
// Errors before the promotion leave every server as it was (a switchover
// makes From writable again); errors after it are joined into the returned
// error with Result.Promoted set. Execute is safe to call concurrently for
// different plans: each call has its own connections.
func Execute(ctx context.Context, p Plan, dial Dialer, log *slog.Logger) (res Result, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, ok := dialects[p.Flavor]
	if !ok {
		return res, fmt.Errorf("failover: unknown flavor %q", p.Flavor)
	}
	if err := p.Check(); err != nil {
		return res, err
	}
	x := &executor{p: p, d: d, dial: dial, log: log, res: &res, conns: map[string]Conn{}}
	defer x.closeAll()

	if err := x.guard(ctx); err != nil {
		return res, err
	}
	st, err := x.verify(ctx)
	if err != nil {
		return res, err
	}
	target := st.received
	if p.Kind == KindSwitchover {
		if target, err = x.demoteFrom(ctx); err != nil {
			return res, err
		}
	}
	if err := x.catchUp(ctx, target); err != nil {
		return res, err
	}
	if err := x.promote(ctx); err != nil {
		return res, err
	}
	var errs []error
	for _, t := range p.Others {
		if err := x.repoint(ctx, t, false); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Kind == KindSwitchover {
		if err := x.repoint(ctx, p.From, true); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

type executor struct {
	p     Plan
	d     dialect
	dial  Dialer
	log   *slog.Logger
	res   *Result
	conns map[string]Conn // by server name; the guard's sessions hold the lock
	// fenced: a switchover made From read-only and must undo it on failure.
	fenced bool
	// detached: To's replication was stopped (or the statement was sent):
	// from there on a failure cannot be undone by the executor.
	detached bool
}

func (x *executor) closeAll() {
	if !x.res.Promoted {
		x.undo()
	}
	for _, c := range x.conns {
		_ = c.Close()
	}
}

// undo makes From writable again after a switchover that did not promote,
// and records in Result.Changed what stays changed, so that the caller can
// say so instead of "nothing changed".
func (x *executor) undo() {
	if x.detached {
		what := fmt.Sprintf("%s was detached from %s (replication stopped and reset) and is read-only", x.p.To, x.p.From.Name)
		if x.res.Epoch > 0 {
			what += fmt.Sprintf("; it recorded epoch %d naming itself primary, so proxies fence %s: finish the promotion with SET GLOBAL read_only = 0 on %s",
				x.res.Epoch, x.p.From.Name, x.p.To.Name)
		} else {
			what += fmt.Sprintf(": point it at %s again (with the replication account) or rebuild it", x.p.From.Name)
		}
		x.res.Changed = append(x.res.Changed, what)
	}
	if !x.fenced {
		return
	}
	// Best effort with a fresh bound: ctx may be what failed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := x.exec(ctx, x.p.From, x.d.open); err != nil {
		x.log.Error("switchover aborted and the old primary could not be made writable again: writes fail until an operator sets read_only=0",
			"backend", x.p.From.Name, "err", err)
		x.res.Changed = append(x.res.Changed, fmt.Sprintf("%s is still read-only (making it writable again failed: %v): writes fail until an operator runs SET GLOBAL read_only = 0 on it", x.p.From, err))
	}
}

func (x *executor) conn(ctx context.Context, t Target) (Conn, error) {
	if c, ok := x.conns[t.Name]; ok {
		return c, nil
	}
	c, err := x.dial(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	x.conns[t.Name] = c
	return c, nil
}

func (x *executor) exec(ctx context.Context, t Target, sql string) error {
	_, err := x.execN(ctx, t, sql)
	return err
}

func (x *executor) execN(ctx context.Context, t Target, sql string) (uint64, error) {
	c, err := x.conn(ctx, t)
	if err != nil {
		return 0, err
	}
	x.res.Steps = append(x.res.Steps, t.Name+": "+redact(sql))
	n, err := c.Exec(ctx, sql)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", t, err)
	}
	return n, nil
}

func (x *executor) query(ctx context.Context, t Target, sql string) ([]Row, error) {
	c, err := x.conn(ctx, t)
	if err != nil {
		return nil, err
	}
	x.res.Steps = append(x.res.Steps, t.Name+": "+sql)
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return rows, nil
}

func (x *executor) one(ctx context.Context, t Target, sql, col string) (string, error) {
	rows, err := x.query(ctx, t, sql)
	if err != nil {
		return "", err
	}
	if len(rows) != 1 {
		return "", fmt.Errorf("%s: %s returned %d rows, want 1", t, sql, len(rows))
	}
	return rows[0][col], nil
}

// guard takes the promotion lock on a majority of p.Guard. A lock lives as
// long as its session; a session the server stops hearing from is closed
// after wait_timeout, which is set so that a dead coordinator's lock does
// not outlive it by long.
func (x *executor) guard(ctx context.Context) error {
	guard := slices.SortedFunc(slices.Values(x.p.Guard), func(a, b Target) int { return cmp.Compare(a.Name, b.Name) })
	waitTimeout := int(math.Ceil(x.p.CatchupWait.Seconds())) + 30
	var locked int
	var why []string
	for _, t := range guard {
		err := x.exec(ctx, t, fmt.Sprintf("SET SESSION wait_timeout = %d", waitTimeout))
		var got string
		if err == nil {
			got, err = x.one(ctx, t, "SELECT GET_LOCK("+quote(lockName)+", 0) AS l", "l")
		}
		switch {
		case err != nil:
			why = append(why, err.Error())
			x.drop(t)
		case got != "1":
			why = append(why, t.Name+": lock held by another session")
			x.drop(t)
		default:
			locked++
		}
	}
	if locked < x.p.GuardQuorum {
		return fmt.Errorf("%w: locked %d of %d servers, need %d: %s",
			ErrGuard, locked, len(guard), x.p.GuardQuorum, strings.Join(why, "; "))
	}
	return nil
}

func (x *executor) drop(t Target) {
	if c, ok := x.conns[t.Name]; ok {
		_ = c.Close()
		delete(x.conns, t.Name)
	}
}

// toState is what verify learned about To.
type toState struct {
	received Position // what To has received (failover catch-up target)
}

// verify re-reads every locked server under the guard.
func (x *executor) verify(ctx context.Context) (toState, error) {
	var st toState
	for _, t := range x.p.Guard {
		if _, ok := x.conns[t.Name]; !ok {
			continue // not locked
		}
		ro, err := x.one(ctx, t, "SELECT @@read_only AS ro", "ro")
		if err != nil {
			return st, err
		}
		status, err := x.query(ctx, t, x.d.replicaStatusSQL)
		if err != nil {
			return st, err
		}
		epoch, _, err := x.readEpoch(ctx, t)
		if err != nil {
			return st, err
		}
		row := firstSource(status, x.d)
		if (ro == "0" || ro == "OFF") && row == nil && t.Name != x.p.From.Name {
			return st, fmt.Errorf("%w: %s is already writable and not replicating", ErrStale, t)
		}
		if epoch > x.p.Epoch {
			return st, fmt.Errorf("%w: %s recorded epoch %d, newer than %d", ErrStale, t, epoch, x.p.Epoch)
		}
		if t.Name != x.p.To.Name {
			continue
		}
		if row == nil {
			return st, fmt.Errorf("%w: %s no longer replicates", ErrStale, t)
		}
		src := net.JoinHostPort(row[x.d.Host], row[x.d.Port])
		if !sameAddr(src, x.p.From.Address) {
			return st, fmt.Errorf("%w: %s replicates from %s, not from %s", ErrStale, t, src, x.p.From)
		}
		if st.received, err = gtid.ParseAs(x.p.Flavor, row[x.d.Received]); err != nil {
			return st, fmt.Errorf("%s: %w", t, err)
		}
	}
	if _, ok := x.conns[x.p.To.Name]; !ok {
		return st, fmt.Errorf("%w: %s is not among the locked servers", ErrGuard, x.p.To)
	}
	return st, nil
}

// readEpoch reads t's recorded epoch (0 before the first promotion).
func (x *executor) readEpoch(ctx context.Context, t Target) (uint64, string, error) {
	rows, err := x.query(ctx, t, EpochQuery)
	if err != nil {
		if n, ok := ServerErrno(err); ok && (n == ErBadDB || n == ErNoSuchTable) {
			return 0, "", nil
		}
		return 0, "", err
	}
	if len(rows) == 0 {
		return 0, "", nil
	}
	e, err := strconv.ParseUint(rows[0]["epoch"], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%s: epoch %q: %w", t, rows[0]["epoch"], err)
	}
	return e, rows[0]["primary_name"], nil
}

// demoteFrom makes the old primary read-only and returns its last position.
func (x *executor) demoteFrom(ctx context.Context) (Position, error) {
	x.fenced = true // undo on failure even if the statement's outcome is unknown
	if err := x.exec(ctx, x.p.From, x.d.fence); err != nil {
		return Position{}, err
	}
	s, err := x.one(ctx, x.p.From, x.d.binlogPosSQL, "gtid")
	if err != nil {
		return Position{}, err
	}
	return gtid.ParseAs(x.p.Flavor, s)
}

// catchUp waits, bounded, for To to apply target, then counts what it lacks
// of the acknowledged position. A failover goes on when the wait times out
// (the old primary is gone: waiting longer cannot bring more); a switchover
// gives up and undoes (the old primary still has everything).
func (x *executor) catchUp(ctx context.Context, target Position) error {
	x.res.CaughtUp = true
	if !target.IsEmpty() {
		wctx, cancel := context.WithTimeout(ctx, x.p.CatchupWait+5*time.Second)
		r, err := x.one(wctx, x.p.To, gtid.DialectOf(x.p.Flavor).WaitSQL(target.String(), x.p.CatchupWait), "r")
		cancel()
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil || !gtid.DialectOf(x.p.Flavor).Reached(r, false) {
			x.res.CaughtUp = false
			if x.p.Kind == KindSwitchover {
				return fmt.Errorf("%w: %s did not apply %s within %s (result %q, err %v)",
					ErrCatchup, x.p.To, target, x.p.CatchupWait, r, err)
			}
			x.log.Error("candidate did not apply its relay log in time; promoting anyway, what it had not applied is lost",
				"backend", x.p.To.Name, "target", target.String(), "wait", x.p.CatchupWait, "result", r, "err", err)
		}
	}
	exec, err := x.one(ctx, x.p.To, executedSQL(x.p.Flavor), "gtid")
	if err != nil {
		return err
	}
	have, err := gtid.ParseAs(x.p.Flavor, exec)
	if err != nil {
		return fmt.Errorf("%s: %w", x.p.To, err)
	}
	if x.p.Acked.Flavor() == x.p.Flavor {
		x.res.Missing = have.Missing(x.p.Acked)
	}
	return nil
}

// promote detaches To from its source, records the new epoch on it and makes
// it writable, in that order: when anyone can write to it, its epoch names it.
func (x *executor) promote(ctx context.Context) error {
	to := x.p.To
	prev, _, err := x.readEpoch(ctx, to)
	if err != nil {
		return err
	}
	if prev > x.p.Epoch {
		return fmt.Errorf("%w: %s recorded epoch %d, newer than %d", ErrStale, to, prev, x.p.Epoch)
	}
	next := max(prev, x.p.Epoch) + 1
	x.detached = true // the point of no return: undo() reports it from here on
	steps := []string{x.d.stopReplica, x.d.resetReplica}
	steps = append(steps, x.d.writable...)
	steps = append(steps, createEpochDB, createEpochTable)
	for _, s := range steps {
		if err := x.exec(ctx, to, s); err != nil {
			return err
		}
	}
	n, err := x.execN(ctx, to, recordEpochSQL(prev, next, to, x.p.By))
	if errno, ok := ServerErrno(err); ok && errno == erDupEntry || err == nil && n != 1 {
		return fmt.Errorf("%w: the epoch on %s moved from %d while we held the guard; %s is detached and read-only: an operator must check it",
			ErrStale, to, prev, to)
	}
	if err != nil {
		return err
	}
	x.res.Epoch = next
	if err := x.exec(ctx, to, x.d.open); err != nil {
		return err
	}
	x.res.Promoted = true
	// Semi-sync on a primary without a replica would stall the first
	// commits for the server's semi-sync timeout: it is switched on when a
	// replica follows (here, or by a later Repoint or Rejoin).
	if x.p.SemiSync && (len(x.p.Others) > 0 || x.p.Kind == KindSwitchover) {
		x.semiSync(ctx, to, x.d.semiSyncPrimary)
	}
	return nil
}

func (x *executor) semiSync(ctx context.Context, t Target, stmts []string) {
	for _, s := range stmts {
		if err := x.exec(ctx, t, s); err != nil {
			x.log.Warn("could not configure semi-sync replication", "backend", t.Name, "err", err)
			return
		}
	}
}

// repoint makes t replicate from To. demoted marks the old primary, whose
// position is its own binlog and which has no replication account yet.
func (x *executor) repoint(ctx context.Context, t Target, demoted bool) error {
	cred := x.p.Repl
	if demoted && cred.User == "" {
		return fmt.Errorf("%s: failover.replication_user is not set, so the old primary cannot replicate from %s; it stays read-only",
			t, x.p.To)
	}
	change, err := x.d.changeSourceSQL(x.p.Flavor, x.p.To.Address, cred)
	if err != nil {
		return err
	}
	stmts := []string{x.d.stopReplica}
	if demoted {
		stmts = append(stmts, x.d.demotePrepare...)
	}
	stmts = append(stmts, change)
	for _, s := range stmts {
		if err := x.exec(ctx, t, s); err != nil {
			return err
		}
	}
	if x.p.SemiSync {
		x.semiSync(ctx, t, x.d.semiSyncReplica)
	}
	if err := x.exec(ctx, t, x.d.startReplica); err != nil {
		return err
	}
	x.res.Repointed = append(x.res.Repointed, t.Name)
	return nil
}

// firstSource returns the status row of the default replication source, or
// the first one with a host; nil when the server does not replicate.
func firstSource(rows []Row, d dialect) Row {
	var pick Row
	for _, r := range rows {
		if r[d.Host] == "" {
			continue
		}
		if pick == nil {
			pick = r
		}
		if r["Connection_name"] == "" && r["Channel_Name"] == "" {
			return r
		}
	}
	return pick
}

// sameAddr compares host:port addresses, treating localhost as 127.0.0.1.
func sameAddr(a, b string) bool {
	norm := func(s string) string {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return s
		}
		if h == "localhost" {
			h = "127.0.0.1"
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		return net.JoinHostPort(h, p)
	}
	return norm(a) == norm(b)
}

// Fence makes t read-only (MySQL: super_read_only), so that a primary whose
// epoch is stale takes no more writes.
func Fence(ctx context.Context, dial Dialer, f Flavor, t Target) error {
	d, ok := dialects[f]
	if !ok {
		return fmt.Errorf("failover: unknown flavor %q", f)
	}
	c, err := dial(ctx, t)
	if err != nil {
		return fmt.Errorf("fence %s: %w", t, err)
	}
	defer c.Close()
	if _, err := c.Exec(ctx, d.fence); err != nil {
		return fmt.Errorf("fence %s: %w", t, err)
	}
	return nil
}

// Rejoin makes t, a former primary that is read-only and not replicating,
// a replica of primary when its GTID history allows: it must have nothing
// the primary lacks. It then waits up to wait for both replication threads
// to run; a source that refuses its position (the histories diverged at the
// same sequence number) is undone and reported as ErrDiverged.
func Rejoin(ctx context.Context, dial Dialer, f Flavor, t, primary Target, cred ReplCredentials, semiSync bool, wait time.Duration) error {
	d, ok := dialects[f]
	if !ok {
		return fmt.Errorf("failover: unknown flavor %q", f)
	}
	if cred.User == "" {
		return fmt.Errorf("rejoin %s: failover.replication_user is not set", t)
	}
	x := &executor{p: Plan{Flavor: f, To: primary, Repl: cred}, d: d, dial: dial,
		log: slog.New(slog.DiscardHandler), res: &Result{}, conns: map[string]Conn{}}
	defer x.closeAll()

	mine, err := x.one(ctx, t, d.binlogPosSQL, "gtid")
	if err != nil {
		return err
	}
	theirs, err := x.one(ctx, primary, d.binlogPosSQL, "gtid")
	if err != nil {
		return err
	}
	mp, err1 := gtid.ParseAs(f, mine)
	pp, err2 := gtid.ParseAs(f, theirs)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if n := pp.Missing(mp); n > 0 {
		return fmt.Errorf("%w: %s has %d transaction(s) that %s lacks (%s vs %s); "+
			"it stays read-only: compare and reconcile them, then point it at the primary by hand",
			ErrDiverged, t, n, primary, mp, pp)
	}
	x.p.SemiSync = semiSync
	if err := x.repoint(ctx, t, true); err != nil {
		return err
	}
	if semiSync {
		x.semiSync(ctx, primary, d.semiSyncPrimary)
	}
	deadline := time.Now().Add(wait)
	for {
		rows, err := x.query(ctx, t, d.replicaStatusSQL)
		if err != nil {
			return err
		}
		r := firstSource(rows, d)
		switch {
		case r == nil:
			return fmt.Errorf("rejoin %s: no replication status after START", t)
		case r[d.IOErrno] == strconv.Itoa(erMasterFatal) || r[d.SQLError] != "":
			_ = x.exec(ctx, t, d.stopReplica)
			_ = x.exec(ctx, t, d.resetReplica)
			return fmt.Errorf("%w: %s cannot replicate from %s: %s%s; it stays read-only",
				ErrDiverged, t, primary, r[d.IOError], r[d.SQLError])
		case r[d.IORunning] == "Yes" && r[d.SQLRunning] == "Yes":
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rejoin %s: replication not running within %s (IO %s, SQL %s, %s)",
				t, wait, r[d.IORunning], r[d.SQLRunning], r[d.IOError])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Repoint makes t, a replica of a server that is no longer primary, follow
// primary, keeping its credentials (or using cred when set).
func Repoint(ctx context.Context, dial Dialer, f Flavor, t, primary Target, cred ReplCredentials, semiSync bool) error {
	d, ok := dialects[f]
	if !ok {
		return fmt.Errorf("failover: unknown flavor %q", f)
	}
	x := &executor{p: Plan{Flavor: f, To: primary, Repl: cred, SemiSync: semiSync}, d: d, dial: dial,
		log: slog.New(slog.DiscardHandler), res: &Result{}, conns: map[string]Conn{}}
	defer x.closeAll()
	if err := x.repoint(ctx, t, false); err != nil {
		return err
	}
	if semiSync {
		x.semiSync(ctx, primary, d.semiSyncPrimary)
	}
	return nil
}
