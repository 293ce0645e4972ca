package failover

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config/tlsconf"
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

// Dialer opens a session on server t as the monitor user.
type Dialer func(ctx context.Context, t Target) (Conn, error)

// ServerErrno returns the MySQL error number carried by err, if any.
func ServerErrno(err error) (uint16, bool) {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me.Code, true
	}
	return 0, false
}

// NewDialer returns a Dialer that connects (Connect) as user/password with
// each backend's TLS policy in policies.
func NewDialer(user, password string, policies tlsconf.Backends) Dialer {
	return func(ctx context.Context, t Target) (Conn, error) {
		c, err := Connect(ctx, t.Address, user, password, policies.For(t.Name))
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", t.Address, err)
		}
		return &mysqlConn{c: c}, nil
	}
}

// Connect opens a go-mysql client session on addr as user, encrypted as
// policy says (the same policy as the proxy's data path to that server).
// The dial and the handshake are bounded by ctx; the caller arms the
// session's deadlines afterwards.
//
// go-mysql either always or never asks for TLS, and fails when it asks a
// server that does not offer it. So Connect reads the server's greeting
// itself, decides from its capability flags (preferred falls back to plain
// text only there, when the server does not offer TLS; required and
// verify_* fail), and hands go-mysql the connection with the greeting put
// back in front: one TCP connection, no retry.
func Connect(ctx context.Context, addr, user, password string, policy tlsconf.Policy) (*client.Conn, error) {
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
	conn := nc
	var opts []client.Option
	encrypt := false
	if !policy.Disabled() {
		greeting, err := readPacket(nc)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("read the server's greeting: %w", err)
		}
		// A refusal (an ERR packet instead of a greeting) is go-mysql's to
		// report: the server's own error says more than "no TLS".
		if len(greeting) <= 4 || greeting[4] != mysql.ERR_HEADER {
			if encrypt, err = policy.Encrypt(offersTLS(greeting[4:])); err != nil {
				nc.Close()
				return nil, fmt.Errorf("backend_tls.mode %s: %w", policy.Mode, err)
			}
		}
		conn = &replayConn{Conn: nc, head: greeting}
		if encrypt {
			conf := policy.ClientConfig(addr)
			opts = append(opts, func(c *client.Conn) error { c.SetTLSConfig(conf); return nil })
		}
	}
	dialed := func(context.Context, string, string) (net.Conn, error) { return conn, nil }
	c, err := client.ConnectWithDialer(ctx, "tcp", addr, user, password, "", dialed, opts...)
	if err != nil {
		nc.Close()
		if me, ok := errors.AsType[*mysql.MyError](err); ok && me.Code == mysql.ER_ACCESS_DENIED_ERROR {
			// The server's words only: go-mysql's call path
			// (handleAuthResult: readAuthResult: ...) means nothing to an
			// operator, and the caller names the account's config field.
			return nil, &LoginRefusedError{User: user, Message: me.Message}
		}
		if encrypt {
			return nil, fmt.Errorf("handshake as %q over TLS (backend_tls.mode %s): %w", user, policy.Mode, err)
		}
		return nil, fmt.Errorf("handshake as %q: %w", user, err)
	}
	return c, nil
}

// ErrLoginRefused: a server refused an account's password (1045).
var ErrLoginRefused = errors.New("login refused")

// LoginRefusedError is Connect's error when the server refuses the
// account's password: a config problem, which retrying cannot fix.
type LoginRefusedError struct {
	User    string
	Message string // the server's, e.g. "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
}

func (e *LoginRefusedError) Error() string {
	return fmt.Sprintf("login as %q refused: %s", e.User, e.Message)
}

func (e *LoginRefusedError) Unwrap() error { return ErrLoginRefused }

// maxGreeting bounds the server's greeting packet (a few dozen bytes).
const maxGreeting = 4 << 10

// readPacket reads one MySQL packet, header included.
func readPacket(r io.Reader) ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	size := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
	if size > maxGreeting {
		return nil, fmt.Errorf("a greeting of %d bytes: not a MySQL server?", size)
	}
	p := make([]byte, 4+size)
	copy(p, head)
	_, err := io.ReadFull(r, p[4:])
	return p, err
}

// offersTLS reads CLIENT_SSL from a HandshakeV10 payload: protocol version,
// server version NUL, thread id (4), scramble (8), filler (1), the low
// capability flags (2). A payload too short to say offers nothing.
func offersTLS(p []byte) bool {
	end := bytes.IndexByte(p, 0)
	if len(p) == 0 || end < 0 {
		return false
	}
	at := end + 1 + 4 + 8 + 1
	if len(p) < at+2 {
		return false
	}
	return uint32(binary.LittleEndian.Uint16(p[at:]))&mysql.CLIENT_SSL != 0
}

// replayConn gives back the bytes read ahead (the greeting) before reading
// on from the connection.
type replayConn struct {
	net.Conn
	head []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	return r.Conn.Read(p)
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
