package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Row is one result row by column name; NULL columns are absent.
type Row map[string]string

// Conn is one session on a server, as the executor uses it. A Conn is used
// by one goroutine at a time. Every call is bounded by its ctx.
type Conn interface {
	Query(ctx context.Context, sql string) ([]Row, error)
	Exec(ctx context.Context, sql string) (affected uint64, err error)
	Close() error
}

// Dialer opens a session on addr (host:port) as the monitor user.
type Dialer func(ctx context.Context, addr string) (Conn, error)

// ServerErrno returns the MySQL error number carried by err, if any.
func ServerErrno(err error) (uint16, bool) {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me.Code, true
	}
	return 0, false
}

// NewDialer returns a Dialer that connects with go-mysql's client as
// user/password, the handshake bounded by ctx.
func NewDialer(user, password string) Dialer {
	return func(ctx context.Context, addr string) (Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = nc.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		dialed := func(context.Context, string, string) (net.Conn, error) { return nc, nil }
		c, err := client.ConnectWithDialer(ctx, "tcp", addr, user, password, "", dialed)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("connect to %s as %q: %w", addr, user, err)
		}
		return &mysqlConn{c: c}, nil
	}
}

type mysqlConn struct{ c *client.Conn }

func (m *mysqlConn) arm(ctx context.Context) (func() bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline() // zero: no deadline
	if err := m.c.SetDeadline(dl); err != nil {
		return nil, err
	}
	return context.AfterFunc(ctx, func() { _ = m.c.SetDeadline(time.Unix(1, 0)) }), nil
}

func (m *mysqlConn) Exec(ctx context.Context, sql string) (uint64, error) {
	stop, err := m.arm(ctx)
	if err != nil {
		return 0, err
	}
	defer stop()
	res, err := m.c.Execute(sql)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", redact(sql), err)
	}
	return res.AffectedRows, nil
}

// Query runs sql and returns its rows. Like health's probe it leaves the
// result to the GC rather than res.Close: go-mysql's pooled Resultset keeps
// stale fields that break results built later in the same process.
func (m *mysqlConn) Query(ctx context.Context, sql string) ([]Row, error) {
	stop, err := m.arm(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	res, err := m.c.Execute(sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(sql), err)
	}
	return ResultRows(res), nil
}

// ResultRows turns a small, fully read result into rows by column name,
// values as text; NULL columns are absent. nil for a result without rows.
func ResultRows(res *mysql.Result) []Row {
	if res == nil || res.Resultset == nil {
		return nil
	}
	rows := make([]Row, 0, len(res.Values))
	for _, vals := range res.Values {
		r := make(Row, len(res.Fields))
		for j, f := range res.Fields {
			if j >= len(vals) {
				break
			}
			v := vals[j]
			switch v.Type {
			case mysql.FieldValueTypeNull:
				continue
			case mysql.FieldValueTypeString:
				r[string(f.Name)] = string(v.AsString())
			case mysql.FieldValueTypeUnsigned:
				r[string(f.Name)] = strconv.FormatUint(v.AsUint64(), 10)
			case mysql.FieldValueTypeSigned:
				r[string(f.Name)] = strconv.FormatInt(v.AsInt64(), 10)
			case mysql.FieldValueTypeFloat:
				r[string(f.Name)] = strconv.FormatFloat(v.AsFloat64(), 'f', -1, 64)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func (m *mysqlConn) Close() error { return m.c.Close() }
