package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// prober probes one backend over a connection it keeps open between rounds.
// Not safe for concurrent use: the Monitor runs at most one probe per
// backend at a time (rounds are serialized by Monitor.roundMu).
type prober struct {
	addr, user, password string
	tls                  tlsconf.Policy // as the data path's to the same server
	conn                 *client.Conn   // nil until connected, and after a failure
	flavor               Flavor         // from the handshake of conn
}

// probeResult is what one successful probe learned.
type probeResult struct {
	state   serverState
	flavor  Flavor
	replica replicaStatus
	rtt     time.Duration
	epoch   epochRecord
	// epochErr is why the epoch could not be read although the server
	// answered (a missing privilege, say): the server is up, but fencing
	// cannot use its copy.
	epochErr string
}

// probe runs one probe bounded by ctx. A failure closes the connection so the
// next probe reconnects. A reused connection that fails is retried once on a
// fresh one within the same deadline: after a server restart the kept
// connection is dead although the server is up.
func (p *prober) probe(ctx context.Context) (probeResult, error) {
	reused := p.conn != nil
	res, err := p.probeConn(ctx)
	if err != nil && reused && ctx.Err() == nil {
		p.close()
		res, err = p.probeConn(ctx)
	}
	if err != nil {
		p.close()
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
	}
	return res, err
}

func (p *prober) probeConn(ctx context.Context) (probeResult, error) {
	if p.conn == nil {
		if err := p.connect(ctx); err != nil {
			return probeResult{}, err
		}
	}
	c := p.conn
	if err := armDeadline(ctx, c); err != nil {
		return probeResult{}, err
	}
	// Cancellation (not only the deadline) must interrupt a blocked read.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	d := dialects[p.flavor]
	start := time.Now()
	stateRows, err := query(c, d.stateSQL)
	if err != nil {
		return probeResult{}, err
	}
	rtt := time.Since(start)
	state, err := parseState(stateRows)
	if err != nil {
		return probeResult{}, answeredError{err}
	}
	statusRows, err := query(c, d.replicaStatusSQL)
	if err != nil {
		return probeResult{}, answeredError{err}
	}
	if f := gtid.FlavorOf(state.Version); f != p.flavor {
		// Something between us and the server rewrote the handshake; the
		// status columns would be misread.
		return probeResult{}, fmt.Errorf("handshake version %q is %s but @@version %q is %s",
			c.GetServerVersion(), p.flavor, state.Version, f)
	}
	// The epoch is read last: a promotion records it before it makes the
	// server writable, so a probe that saw read_only=0 sees its epoch.
	res := probeResult{
		state:   state,
		flavor:  p.flavor,
		replica: parseReplicaStatus(p.flavor, statusRows),
		rtt:     rtt,
	}
	epochRows, err := query(c, failover.EpochQuery)
	var me *mysql.MyError
	switch {
	case err == nil:
		res.epoch, err = parseEpoch(epochRows)
		if err != nil {
			res.epochErr = err.Error()
		}
	case errors.As(err, &me):
		if me.Code != failover.ErBadDB && me.Code != failover.ErNoSuchTable {
			res.epochErr = err.Error()
		}
	default:
		return probeResult{}, answeredError{err}
	}
	return res, nil
}

// answeredError is a probe failure after the server answered a query of
// the probe: it is alive, if slow or unwell.
type answeredError struct{ error }

func (e answeredError) Unwrap() error { return e.error }

// silent tells whether a failed probe got no answer at all from the
// server: refused, reset or timed out before any query's answer. A
// refused login, a full server (1040) or a query that timed out after
// another was answered are the server speaking.
func silent(err error) bool {
	var me *mysql.MyError
	var ae answeredError
	return !errors.As(err, &me) && !errors.As(err, &ae)
}

// parseEpoch reads the epoch row (none before the first promotion).
func parseEpoch(rows []row) (epochRecord, error) {
	if len(rows) == 0 {
		return epochRecord{}, nil
	}
	e, err := strconv.ParseUint(rows[0]["epoch"], 10, 64)
	if err != nil {
		return epochRecord{}, fmt.Errorf("switchyard.epoch: epoch %q is not a number", rows[0]["epoch"])
	}
	return epochRecord{Epoch: e, Primary: rows[0]["primary_name"]}, nil
}

// connect dials and authenticates, encrypted as p.tls says; the handshake
// is bounded by ctx too.
func (p *prober) connect(ctx context.Context) error {
	c, err := failover.Connect(ctx, p.addr, p.user, p.password, p.tls)
	if lr, ok := errors.AsType[*failover.LoginRefusedError](err); ok {
		// Advice first: the message is repeated per server in the
		// clients' 1429, which the mariadb CLI cuts at 512 bytes.
		return fmt.Errorf(MonitorRefusedPrefix+": fix monitor.user/monitor.password in switchyard's config (or the account %q on the server) and reload; the server said: %s",
			lr.User, lr.Message)
	}
	if err != nil {
		return err
	}
	p.conn = c
	p.flavor = gtid.FlavorOf(c.GetServerVersion())
	return nil
}

func (p *prober) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

// armDeadline bounds all I/O on c by ctx's deadline.
func armDeadline(ctx context.Context, c interface{ SetDeadline(time.Time) error }) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{} // no deadline: Run and ProbeOnce always set one
	}
	return c.SetDeadline(dl)
}

// query runs a statement and returns its rows by column name.
//
// It deliberately does not call res.Close: that returns the Resultset to
// go-mysql's package-level pool with its Fields still set (Reset keeps the
// old *Field pointers), and mysql.BuildSimpleTextResultset, which expects nil
// fields, then reuses them with stale names and types or fails with "row
// types aren't consistent". The proxy builds small results that way in the
// same process, so probes leave their few small results to the GC instead.
func query(c *client.Conn, sql string) ([]row, error) {
	res, err := c.Execute(sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sql, err)
	}
	return failover.ResultRows(res), nil
}
