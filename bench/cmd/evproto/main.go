// Command evproto measures what an event-loop I/O core would give
// Switchyard (issue 3's qps bar). It is a prototype, not a proxy to run:
// it does the per-statement work Switchyard cannot do without (classify
// with the digest cache, route with router.Route, borrow a pooled backend
// connection, parse the response to find its end) on N epoll loops like
// tcprelay --loops, and nothing else: no metrics, digests, session state,
// transactions, prepared statements, TLS or failover. Every backend
// connection logs in as one user with one database, and a client's
// handshake is done by go-mysql before its socket joins a loop.
//
//	evproto --listen 127.0.0.1:6041 --primary 127.0.0.1:3411 --replicas 127.0.0.1:3412,127.0.0.1:3413
//
// Measured against HAProxy's read port, go-epoll and Switchyard with
// switchyard-bench (point_select; see issue 3's closing note).
package main

import (
	"flag"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/netfd"
	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// One process serves one topology: serve sets these before any loop runs.
var (
	topo  *health.Topology
	pol   = router.Policy{Split: true, MaxReplicaLag: time.Hour}
	inUse = map[string]*atomic.Int64{} // borrowed connections per backend, for the router
	load  router.Load
)

const (
	nPool  = 20 // backend connections per backend per loop, made at start
	user   = "app"
	passwd = "app"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6041", "address to accept clients on")
	primary := flag.String("primary", "127.0.0.1:3411", "the primary's address")
	replicas := flag.String("replicas", "127.0.0.1:3412,127.0.0.1:3413", "comma list of replica addresses")
	nloops := flag.Int("loops", runtime.NumCPU(), "event loops")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	if err := serve(ln, *primary, strings.Split(*replicas, ","), *nloops); err != nil {
		slog.Error("evproto", "err", err)
		os.Exit(1)
	}
}

// serve connects the loops' backend pools, then serves clients of ln until
// ln is closed.
func serve(ln net.Listener, primary string, replicas []string, nloops int) error {
	topo = &health.Topology{Epoch: 1, Servers: []health.Server{{Name: primary, Address: primary, Role: health.RolePrimary, Up: true}}}
	inUse[primary] = new(atomic.Int64)
	for _, r := range replicas {
		topo.Servers = append(topo.Servers, health.Server{Name: r, Address: r, Role: health.RoleReplica, Up: true, SQLThreadRunning: true, SourceAddress: primary, Source: primary})
		inUse[r] = new(atomic.Int64)
	}
	load = router.Load{InUse: func(n string) int { return int(inUse[n].Load()) }}
	loops := make([]*loop, nloops)
	for i := range loops {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		l := &loop{epfd: epfd, ends: map[int32]any{}, idle: map[string][]*bconn{}}
		for _, s := range topo.Servers {
			for range nPool {
				c, err := client.Connect(s.Address, user, passwd, "test", func(c *client.Conn) error {
					c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF) // as go-sql-driver: the client's framing
					c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
					return nil
				})
				if err != nil {
					return err
				}
				fd, err := netfd.Detach(c.Conn.Conn.(*net.TCPConn))
				c.Conn.Conn.Close()
				if err != nil {
					return err
				}
				b := &bconn{fd: fd, server: s.Name}
				l.idle[s.Name] = append(l.idle[s.Name], b)
				l.ends[int32(fd)] = b
				ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
				if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
					return err
				}
			}
		}
		loops[i] = l
		go l.run()
	}
	auth := server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
	if err := auth.AddUser(user, passwd); err != nil {
		return err
	}
	conf := server.NewServer("10.11.0-evproto", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	slog.Info("evproto up", "listen", ln.Addr().String())
	var next atomic.Uint64
	for {
		nc, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			sc, err := server.NewCustomizedConn(nc, conf, auth, quietHandler{})
			if err != nil {
				nc.Close()
				return
			}
			tc, ok := sc.Conn.Conn.(*net.TCPConn)
			if !ok {
				nc.Close()
				return
			}
			fd, err := netfd.Detach(tc)
			nc.Close()
			if err != nil {
				return
			}
			l := loops[next.Add(1)%uint64(len(loops))]
			l.mu.Lock()
			defer l.mu.Unlock()
			l.ends[int32(fd)] = &cconn{fd: fd}
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
			_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
		}()
	}
}

// quietHandler accepts the database of the handshake without a log line.
type quietHandler struct{ server.EmptyHandler }

func (quietHandler) UseDB(string) error { return nil }

// cconn is a client connection in a loop.
type cconn struct {
	fd      int
	outWait bool   // EPOLLOUT is set
	in      []byte // unparsed input
	out     []byte // response bytes not yet written
	b       *bconn // while a command runs
	waiting bool   // for a free backend connection
}

// bconn is a pooled backend connection; client is set while it runs a
// command, whose response parse follows.
type bconn struct {
	fd      int
	server  string
	in      []byte
	client  *cconn
	state   int // 0 first packet, 1 column definitions, 2 EOF after them, 3 rows
	columns uint64
}

// loop is one event loop with its own backend pools; mu is held while it
// handles events and while a new client joins.
type loop struct {
	epfd    int
	mu      sync.Mutex
	ends    map[int32]any
	idle    map[string][]*bconn
	waiters []*cconn
	buf     [64 << 10]byte
}

// run waits for events and handles them, on a thread of its own.
func (l *loop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err != nil {
			continue
		}
		l.mu.Lock()
		for _, ev := range events[:n] {
			switch e := l.ends[ev.Fd].(type) {
			case *cconn:
				if ev.Events&syscall.EPOLLOUT != 0 {
					l.flushClient(e)
				}
				if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					l.clientReadable(e)
				}
			case *bconn:
				l.backendReadable(e)
			}
		}
		l.mu.Unlock()
	}
}

func (l *loop) closeClient(c *cconn) {
	delete(l.ends, int32(c.fd))
	syscall.Close(c.fd)
	c.fd = -1
}

// clientReadable reads a client's next command; one at a time (the
// prototype does not serve pipelined commands while one runs).
func (l *loop) clientReadable(c *cconn) {
	if c.b != nil || c.waiting || c.fd < 0 {
		return
	}
	n, err := syscall.Read(c.fd, l.buf[:])
	if err == syscall.EAGAIN {
		return
	}
	if n <= 0 {
		l.closeClient(c)
		return
	}
	c.in = append(c.in, l.buf[:n]...)
	l.startCommand(c)
}

// startCommand sends the client's next whole command to the backend the
// router picks, or queues the client until a connection is free.
func (l *loop) startCommand(c *cconn) {
	if len(c.in) < 4 {
		return
	}
	size := int(c.in[0]) | int(c.in[1])<<8 | int(c.in[2])<<16
	if len(c.in) < 4+size {
		return
	}
	pkt := c.in[:4+size]
	if size > 0 && pkt[4] == mysql.COM_QUIT {
		l.closeClient(c)
		return
	}
	server := topo.Servers[0]
	if size > 0 && pkt[4] == mysql.COM_QUERY {
		st := classify.Classify(string(pkt[5:]))
		req := router.Request{Class: router.ClassWrite}
		if st.Kind == classify.Read {
			req.Class = router.ClassRead
		}
		if d, err := router.Route(req, topo, pol, load); err == nil {
			server = d.Backend
		}
	}
	idle := l.idle[server.Name]
	if len(idle) == 0 {
		c.waiting = true
		l.waiters = append(l.waiters, c)
		return
	}
	b := idle[len(idle)-1]
	l.idle[server.Name] = idle[:len(idle)-1]
	inUse[b.server].Add(1)
	b.client, c.b = c, b
	b.state, b.in = 0, b.in[:0]
	if _, err := syscall.Write(b.fd, pkt); err != nil { // small: one write
		l.closeClient(c)
		return
	}
	c.in = c.in[:copy(c.in, c.in[4+size:])]
}

// backendReadable relays what the backend sent, and when the response
// ends returns the connection to the pool and serves a waiting client.
func (l *loop) backendReadable(b *bconn) {
	c := b.client
	if c == nil {
		return // idle: nothing is expected
	}
	if len(c.out) > 0 {
		return // client held back
	}
	n, err := syscall.Read(b.fd, l.buf[:])
	if err == syscall.EAGAIN {
		return
	}
	if n <= 0 { // the backend failed: so does the client's command
		delete(l.ends, int32(b.fd))
		syscall.Close(b.fd)
		inUse[b.server].Add(-1)
		c.b = nil
		l.closeClient(c)
		return
	}
	b.in = append(b.in, l.buf[:n]...)
	done, used := b.parse()
	c.out = append(c.out, b.in[:used]...)
	b.in = b.in[:copy(b.in, b.in[used:])]
	l.flushClient(c)
	if done {
		inUse[b.server].Add(-1)
		c.b, b.client = nil, nil
		l.idle[b.server] = append(l.idle[b.server], b)
		if len(l.waiters) > 0 {
			w := l.waiters[0]
			l.waiters = l.waiters[1:]
			w.waiting = false
			if w.fd >= 0 {
				l.startCommand(w)
			}
		}
		if c.fd >= 0 && len(c.in) > 0 {
			l.startCommand(c)
		}
	}
}

// parse consumes whole packets of b.in; it reports whether the response
// ended and how many bytes it consumed.
func (b *bconn) parse() (done bool, used int) {
	for {
		p := b.in[used:]
		if len(p) < 4 {
			return false, used
		}
		size := int(p[0]) | int(p[1])<<8 | int(p[2])<<16
		if len(p) < 4+size {
			return false, used
		}
		first := byte(0)
		if size > 0 {
			first = p[4]
		}
		used += 4 + size
		switch b.state {
		case 0:
			if first == 0x00 || first == 0xff {
				return true, used
			}
			b.columns = uint64(first) // < 251 columns in the prototype
			b.state = 1
		case 1:
			b.columns--
			if b.columns == 0 {
				b.state = 2
			}
		case 2:
			b.state = 3 // EOF after the columns
		case 3:
			if (first == 0xfe && size < 9) || first == 0xff {
				return true, used
			}
		}
	}
}

// flushClient writes the client's pending response bytes.
func (l *loop) flushClient(c *cconn) {
	if c.fd < 0 {
		c.out = c.out[:0]
		return
	}
	for len(c.out) > 0 {
		w, err := syscall.Write(c.fd, c.out)
		if err == syscall.EAGAIN {
			if !c.outWait {
				c.outWait = true
				ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(c.fd)}
				_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev)
			}
			return
		}
		if err != nil {
			l.closeClient(c)
			c.out = c.out[:0]
			return
		}
		c.out = c.out[:copy(c.out, c.out[w:])]
	}
	if c.outWait {
		c.outWait = false
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev)
	}
}
