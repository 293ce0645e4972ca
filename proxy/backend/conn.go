package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/proxy/wire"
)

// Behavioral are the capability flags that change the format or meaning of
// what a server sends after the handshake. They are mirrored from the client.
// Flags that shape the handshake packets themselves (plugin auth,
// attributes, connect-with-db, SSL) are the proxy's own (handshake.go).
const Behavioral = mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_LONG_FLAG | mysql.CLIENT_NO_SCHEMA |
	mysql.CLIENT_ODBC | mysql.CLIENT_LOCAL_FILES | mysql.CLIENT_IGNORE_SPACE |
	mysql.CLIENT_INTERACTIVE | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_MULTI_STATEMENTS |
	mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS | mysql.CLIENT_SESSION_TRACK |
	mysql.CLIENT_DEPRECATE_EOF | mysql.CLIENT_QUERY_ATTRIBUTES

// MariaDB's extended capability flags (bits 32-63 of its 64-bit flags, sent
// in the last 4 of the handshake packets' reserved bytes by a server and a
// client that both leave CLIENT_MYSQL, bit 0, unset), as 32-bit values.
const (
	ExtProgress       uint32 = 1 << 0 // MARIADB_CLIENT_PROGRESS: progress report packets
	ExtBulkOperations uint32 = 1 << 2 // MARIADB_CLIENT_STMT_BULK_OPERATIONS: COM_STMT_BULK_EXECUTE
)

// ExtBehavioral are the extended flags mirrored from the client. Others
// (MARIADB_CLIENT_CACHE_METADATA, EXTENDED_METADATA) are never asked for:
// a statement shared by the sessions on one backend connection would skip
// metadata a client has not cached yet.
const ExtBehavioral = ExtProgress | ExtBulkOperations

// Buffer sizes of a backend connection. Reads are large so that rows
// stream in big chunks; writes carry commands, which are mostly small.
const (
	readBufferSize  = 64 << 10
	writeBufferSize = 16 << 10
)

// Options says how to open a backend connection.
type Options struct {
	Name, Address string // the backend's config name and host:port
	User          string
	Credential    Credential
	DB            string
	TLS           tlsconf.Policy // the zero value is disabled
	Capabilities  uint32         // what the client negotiated; only Behavioral bits are used
	Collation     uint8          // the client's handshake collation id
	Attributes    map[string]string
	Timeout       time.Duration // dial and handshake

	// MariaDB extended flags the client negotiated; only ExtBehavioral
	// bits are used.
	ExtCapabilities uint32
}

// Conn is an authenticated backend connection, ready to relay.
type Conn struct {
	*wire.Conn
	sock          net.Conn // the TCP socket under any TLS, for Abort
	Name, Address string
	ThreadID      uint32 // the server's connection id, for KILL
	Capabilities  uint32 // in effect on this connection

	// Epoch is the topology epoch when the connection was borrowed and
	// OnPrimary whether it went to the primary: a held connection to a
	// former primary is never used again.
	Epoch     uint64
	OnPrimary bool
	// Broken marks a connection that saw an error or an unfinished
	// response: Put closes it instead of pooling it.
	Broken bool
	// State is the session state applied to this connection, as the
	// proxy's session layer describes it; compared on every borrow.
	State any
	// Stmts maps a prepared statement's key (its SQL text and the default
	// database it was prepared in, as the session layer forms it) to its
	// id on this connection, so that sessions sharing the connection share
	// statements.
	Stmts map[string]*Stmt

	pool      *Pool
	inGate    bool // holds a slot of the backend's gate (Pool.GetWhere, LeaveGate)
	lastUsed  time.Time
	buf       []byte
	closeOnce sync.Once
	// aborted is set by Abort, from another goroutine than the owner's: such
	// a connection is never pooled or handed out again.
	aborted atomic.Bool
}

// Stmt is a statement prepared on one backend connection.
type Stmt struct {
	ID         uint32
	Params     int
	TypesBound bool // the server has parameter types for it (an execute sent them)
}

// ReadSmall reads one whole packet the proxy decodes itself (answers to
// its own statements). The slice is valid until the next call.
func (c *Conn) ReadSmall() ([]byte, error) {
	size, _, err := c.ReadHeader()
	if err != nil {
		return nil, err
	}
	c.buf, err = c.ReadBody(c.buf, size, 16<<20)
	return c.buf, err
}

// Release gives the connection back to its pool (or closes it when it has none).
func (c *Conn) Release() {
	if c.pool == nil {
		c.Close()
		return
	}
	c.pool.Put(c)
}

// Error says why a backend could not be used. Server is set when the
// server itself refused (bad credentials, unknown database…): that error
// goes to the client unchanged.
type Error struct {
	Name, Address string
	Server        *mysql.MyError
	Err           error
}

func (e *Error) Error() string {
	if e.Server != nil {
		return fmt.Sprintf("backend %s (%s): %s", e.Name, e.Address, e.Server.Error())
	}
	return fmt.Sprintf("backend %s (%s): %v", e.Name, e.Address, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrMisconfigured marks a backend the proxy cannot log in to as configured
// (its TLS policy or a credential does not fit the server): unlike an
// unreachable server, waiting or trying another time does not help.
var ErrMisconfigured = errors.New("misconfigured")

// Dial opens and authenticates a connection with the client's dialect.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	nc, err := dialer().DialContext(ctx, "tcp", o.Address)
	if err != nil {
		return nil, &Error{Name: o.Name, Address: o.Address, Err: err}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	wc, threadID, caps, err := handshake(ctx, nc, o)
	if err != nil {
		_ = nc.Close()
		return nil, classify(o, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return &Conn{
		lastUsed:     time.Now(),
		Conn:         wc,
		sock:         nc,
		Name:         o.Name,
		Address:      o.Address,
		ThreadID:     threadID,
		Capabilities: caps,
	}, nil
}

// Close closes the connection once; later calls do nothing.
func (c *Conn) Close() {
	c.closeOnce.Do(func() { _ = c.Conn.Close() })
}

// Abort closes the socket from any goroutine (KILL, limits.query_timeout)
// to unblock the owner's relay. The owner still releases the connection,
// which is then discarded, even if its relay had already finished.
func (c *Conn) Abort() {
	c.aborted.Store(true)
	if c.sock != nil {
		// The TCP socket, not a TLS connection over it: closing that
		// sends a close_notify alert first, which can block for seconds
		// toward a peer that stopped reading, and Abort runs under the
		// locks of KILL and the watchers.
		_ = c.sock.Close()
		return
	}
	_ = c.Conn.Close()
}

// ErrLoginRefused marks a backend that refused the credential the proxy
// holds for a user (ER_ACCESS_DENIED_ERROR at login). The client's own
// password was already checked by the proxy, so this is the proxy's config
// (users[].password) disagreeing with the server's account, not the
// client's mistake: it must not reach the client as the same 1045.
var ErrLoginRefused = errors.New("the backend refused the password switchyard holds for this user")

func classify(o Options, err error) error {
	var my *mysql.MyError
	if errors.As(err, &my) {
		if my.Code == mysql.ER_ACCESS_DENIED_ERROR {
			err = fmt.Errorf("%w (user %q): %w", ErrLoginRefused, o.User, err)
		}
		return &Error{Name: o.Name, Address: o.Address, Server: my, Err: err}
	}
	return &Error{Name: o.Name, Address: o.Address, Err: err}
}
