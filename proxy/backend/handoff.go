package backend

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/switchyard/switchyard/proxy/wire"
)

// ErrNotMovable marks a connection that cannot be handed to another
// process: its TLS state lives in this one (crypto/tls cannot export it).
var ErrNotMovable = errors.New("a TLS backend connection cannot be handed to another process")

// File returns a duplicate of the connection's socket, for an upgrade
// that hands the connection to a new process. The connection must be
// between commands: bytes read from the server and not yet consumed would
// stay behind, so such a connection is refused too.
func (c *Conn) File() (*os.File, error) {
	tc, ok := c.Conn.Conn.(*net.TCPConn)
	if !ok {
		return nil, ErrNotMovable
	}
	if c.R.Buffered() > 0 || c.W.Buffered() > 0 {
		return nil, fmt.Errorf("backend %s: %d bytes unread, %d unsent: not between commands", c.Name, c.R.Buffered(), c.W.Buffered())
	}
	return tc.File()
}

// Adopt rebuilds a connection handed over by a previous process from its
// socket and what that process knew of it. The connection belongs to no
// pool until one adopts it (Pool.Adopt); Release then closes it.
func Adopt(f *os.File, like *Conn) (*Conn, error) {
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("backend %s: adopt socket: %w", like.Name, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &Conn{
		lastUsed:     time.Now(),
		Conn:         wire.NewConn(nc, readBufferSize, writeBufferSize),
		sock:         nc,
		Name:         like.Name,
		Address:      like.Address,
		ThreadID:     like.ThreadID,
		Capabilities: like.Capabilities,
		Epoch:        like.Epoch,
		OnPrimary:    like.OnPrimary,
		State:        like.State,
		Stmts:        like.Stmts,
	}, nil
}

// Adopt makes c, a connection lent out since Adopt rebuilt it, one of
// this pool's: it takes a slot, so Release gives it back here. When the
// pool is full it stays without a pool and is closed on Release.
func (p *Pool) Adopt(c *Conn) {
	select {
	case p.slots <- struct{}{}:
		p.inUse.Add(1)
		c.pool = p
		// Not in the backend's gate: sessions move between commands, and
		// the gate counts commands running. The session's next command
		// joins it beside the queue (Conn.JoinGate), as any held one's.
	default:
	}
}
