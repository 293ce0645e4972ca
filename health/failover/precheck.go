package failover

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/internal/gtid"
)

// Check refuses a plan that Execute could not finish for want of
// something it can know without asking a server. A switchover must end
// with the old primary replicating from the new one, and a server that
// never replicated has no account to do it with: without
// failover.replication_user the switchover would promote To and then
// leave From read-only and out of rotation.
func (p Plan) Check() error {
	if p.Kind == KindSwitchover && p.Repl.User == "" {
		return fmt.Errorf("%w: set failover.replication_user and failover.replication_password (the account the replicas use) and reload: "+
			"after a switchover the old primary %s replicates from %s with it", ErrPrecondition, p.From.Name, p.To.Name)
	}
	return nil
}

// Precheck asks the servers, before anything changes, what a switchover
// would otherwise find out half-way, after the point of no return:
//
//   - the replication account logs in to To (replDial dials as that
//     account): the old primary will replicate from To with it, and a
//     wrong password shows only later, as a replica that never connects;
//   - every server to repoint has nothing From lacks: after the catch-up To
//     has what From has, and a server ahead of that cannot follow To.
//
// The servers to repoint are read before From, so that From's position,
// which only grows, is never older than theirs. A failover (From is gone)
// needs only Check.
func Precheck(ctx context.Context, p Plan, dial, replDial Dialer) error {
	if err := p.Check(); err != nil {
		return err
	}
	if p.Kind != KindSwitchover {
		return nil
	}
	if err := checkReplLogin(ctx, p, replDial); err != nil {
		return err
	}
	d, ok := dialects[p.Flavor]
	if !ok {
		return fmt.Errorf("failover: unknown flavor %q", p.Flavor)
	}
	x := &executor{p: p, d: d, dial: dial, res: &Result{}, conns: map[string]Conn{}}
	defer func() {
		for _, c := range x.conns {
			_ = c.Close()
		}
	}()
	positions := make([]Position, len(p.Others))
	for i, t := range p.Others {
		pos, err := x.position(ctx, t, executedSQL(p.Flavor))
		if err != nil {
			return fmt.Errorf("%w: cannot read the position of %s, which must follow %s: %w", ErrPrecondition, t, p.To.Name, err)
		}
		positions[i] = pos
	}
	from, err := x.position(ctx, p.From, d.binlogPosSQL)
	if err != nil {
		return fmt.Errorf("%w: cannot read the position of the primary %s: %w", ErrPrecondition, p.From, err)
	}
	for i, t := range p.Others {
		if n := from.Missing(positions[i]); n > 0 {
			return fmt.Errorf("%w: %s has %d transaction(s) that the primary %s lacks (%s vs %s), so it could not follow %s: "+
				"reconcile them, or stop %s, then retry", ErrPrecondition, t, n, p.From.Name, positions[i], from, p.To.Name, t.Name)
		}
	}
	return nil
}

func checkReplLogin(ctx context.Context, p Plan, replDial Dialer) error {
	if replDial == nil {
		return nil
	}
	c, err := replDial(ctx, p.To)
	if err != nil {
		return fmt.Errorf("%w: failover.replication_user %q cannot log in to %s, so %s could not replicate from it: %w; "+
			"check the account and failover.replication_password", ErrPrecondition, p.Repl.User, p.To, p.From.Name, err)
	}
	return c.Close()
}

func (x *executor) position(ctx context.Context, t Target, sql string) (Position, error) {
	s, err := x.one(ctx, t, sql, "gtid")
	if err != nil {
		return Position{}, err
	}
	return gtid.ParseAs(x.p.Flavor, s)
}
