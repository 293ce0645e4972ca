package main

import (
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/internal/netfd"
)

// The epoll mode (--loops N) relays like HAProxy does: N event loops, each
// a goroutine locked to its thread, waiting in epoll_wait on non-blocking
// sockets that Go's poller does not know, and doing a connection's reads
// and writes inline when it is ready. No goroutine parks or wakes per read.
// It exists to measure what that I/O model is worth in Go on this machine,
// beside the goroutine-per-connection relay above.

// endpoint is one socket of a relayed pair, owned by one loop.
type endpoint struct {
	fd       int
	peer     *endpoint
	pending  []byte // read from peer, not yet written to fd
	readDone bool   // fd gave its end of stream (passed on once pending is written)
	watching uint32 // the events fd is in the epoll set for; 0: not in it
	closed   bool
}

// loop is one event loop and the endpoints it owns. mu is held while an
// event is handled and while add registers a pair, so the two never see
// an endpoint half changed.
type loop struct {
	epfd int
	mu   sync.Mutex
	ends map[int32]*endpoint
}

// serveEpoll relays every connection ln accepts with n event loops.
func serveEpoll(ln net.Listener, backends []string, n int) error {
	loops := make([]*loop, n)
	for i := range loops {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		loops[i] = &loop{epfd: epfd, ends: map[int32]*endpoint{}}
		go loops[i].run()
	}
	var next atomic.Uint64
	return acceptEach(ln, backends, func(c *net.TCPConn, backend string) {
		if err := loops[next.Add(1)%uint64(n)].add(c, backend); err != nil {
			slog.Warn("relay not started", "backend", backend, "err", err)
		}
	})
}

// add dials addr and hands both sockets to l, leaving Go's poller.
func (l *loop) add(client *net.TCPConn, addr string) error {
	defer client.Close()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	cfd, err := netfd.Detach(client)
	if err != nil {
		return err
	}
	sfd, err := netfd.Detach(nc.(*net.TCPConn))
	if err != nil {
		syscall.Close(cfd)
		return err
	}
	c, s := &endpoint{fd: cfd}, &endpoint{fd: sfd}
	c.peer, s.peer = s, c
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends[int32(cfd)], l.ends[int32(sfd)] = c, s
	if err := l.watch(c); err != nil {
		l.closePair(c)
		return err
	}
	if err := l.watch(s); err != nil {
		l.closePair(c)
		return err
	}
	return nil
}

func (l *loop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			slog.Error("epoll_wait", "err", err)
			return
		}
		for _, ev := range events[:n] {
			l.mu.Lock()
			l.handle(ev, buf)
			l.mu.Unlock()
		}
	}
}

// handle serves one event. A socket is in the epoll set only while the
// loop wants to read or write it (watch), so a hang-up reported for a
// socket held back by its peer, or already read to its end, cannot spin.
func (l *loop) handle(ev syscall.EpollEvent, buf []byte) {
	e := l.ends[ev.Fd]
	if e == nil || e.closed {
		return
	}
	if ev.Events&syscall.EPOLLERR != 0 {
		l.closePair(e)
		return
	}
	if ev.Events&syscall.EPOLLOUT != 0 {
		l.flush(e)
	}
	if !e.closed && ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP) != 0 && !e.readDone && len(e.peer.pending) == 0 {
		l.readFrom(e, buf) // a hang-up may leave data to read: read until the end of stream
	}
}

// readFrom reads once from e (level-triggered: more data is reported
// again) and writes it to its peer, keeping what the peer cannot take yet.
func (l *loop) readFrom(e *endpoint, buf []byte) {
	n, err := syscall.Read(e.fd, buf)
	switch {
	case err == syscall.EAGAIN:
		return
	case err != nil:
		l.closePair(e)
		return
	case n == 0:
		e.readDone = true
		if e.peer.readDone {
			l.closePair(e)
			return
		}
		_ = syscall.Shutdown(e.peer.fd, syscall.SHUT_WR)
		l.rewatch(e)
		return
	}
	w, err := syscall.Write(e.peer.fd, buf[:n])
	if err == syscall.EAGAIN {
		w, err = 0, nil
	}
	if err != nil {
		l.closePair(e)
		return
	}
	if w < n {
		e.peer.pending = append(e.peer.pending[:0], buf[w:n]...)
		l.rewatch(e)
		l.rewatch(e.peer)
	}
}

// flush writes what e holds for its socket and resumes reading its peer.
func (l *loop) flush(e *endpoint) {
	for len(e.pending) > 0 {
		w, err := syscall.Write(e.fd, e.pending)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			l.closePair(e)
			return
		}
		e.pending = e.pending[w:]
	}
	if e.peer.readDone {
		_ = syscall.Shutdown(e.fd, syscall.SHUT_WR)
	}
	l.rewatch(e)
	l.rewatch(e.peer)
}

// watch puts e in the epoll set for what the loop waits for on it now:
// readable while it may be read (not at its end, and its peer has taken
// everything), writable while it holds bytes to write; out of the set
// when neither.
func (l *loop) watch(e *endpoint) error {
	var want uint32
	if !e.readDone && len(e.peer.pending) == 0 {
		want |= syscall.EPOLLIN
	}
	if len(e.pending) > 0 {
		want |= syscall.EPOLLOUT
	}
	if want == e.watching {
		return nil
	}
	op := syscall.EPOLL_CTL_MOD
	switch {
	case want == 0:
		op = syscall.EPOLL_CTL_DEL
	case e.watching == 0:
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: want, Fd: int32(e.fd)}
	if err := syscall.EpollCtl(l.epfd, op, e.fd, &ev); err != nil {
		return err
	}
	e.watching = want
	return nil
}

// rewatch is watch for a pair already relaying: a failure ends the pair.
func (l *loop) rewatch(e *endpoint) {
	if !e.closed && l.watch(e) != nil {
		l.closePair(e)
	}
}

func (l *loop) closePair(e *endpoint) {
	for _, x := range []*endpoint{e, e.peer} {
		if !x.closed {
			x.closed = true
			delete(l.ends, int32(x.fd))
			syscall.Close(x.fd) // its only descriptor: it leaves the epoll set
		}
	}
}
