package proxy

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Client buffers are lent to a session while it works and returned while
// it idles, so that 10,000 idle clients cost little more than their
// goroutines. A session that keeps sending commands (gaps under hotGap)
// keeps its read buffer and waits on it: one read system call per command.
// A session that pauses gives it back and waits on a 4-byte read of the
// next header: one more system call, paid only after a pause.
const (
	clientReadBuffer  = 4 << 10
	clientWriteBuffer = 16 << 10
	hotGap            = time.Second
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReadBuffer) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientWriteBuffer) }}
)

// readCommandHeader waits for the next command's header, with the read
// buffer when the session is hot and without it otherwise, and makes sure
// both buffers are attached for the command.
func (s *Session) readCommandHeader(now time.Time) (size int, seq byte, err error) {
	c := s.client
	// Before startWaiting: a move asked from then on sets a past read
	// deadline that this must not push back.
	s.armIdleTimeout(now)
	if !s.startWaiting() {
		return 0, 0, errMoveNow
	}
	if c.R != nil {
		// Peek first: a wait cut short by an upgrade (requestMove) leaves
		// a partly read header in the buffer, where the move finds it.
		if _, err = c.R.Peek(4); err == nil {
			size, seq, err = c.ReadHeader()
		}
	} else {
		var hdr [4]byte
		var n int
		if n, err = io.ReadFull(c.Sock, hdr[:]); err == nil {
			size, seq = int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16, hdr[3]
			r := readerPool.Get().(*bufio.Reader)
			r.Reset(c.Sock)
			c.R = r
		} else if n > 0 {
			s.pending = append(s.pending, hdr[:n]...)
		}
	}
	if s.stopWaiting() && err == nil {
		s.rearmReadDeadline() // the move was asked just as the command came: it runs first
	}
	if err == nil && c.W == nil {
		w := writerPool.Get().(*bufio.Writer)
		w.Reset(c.Sock)
		c.W = w
	}
	return size, seq, err
}

// armIdleTimeout sets the client read deadline for limits.idle_timeout.
// Re-arming on every command would cost a timer update per statement, so
// the deadline is moved only when a sixteenth of the timeout has passed
// since it was last set: a client is disconnected after between 15/16 and
// all of its idle timeout. now is when the previous command ended, a
// moment ago: the clock is not read again for it.
func (s *Session) armIdleTimeout(now time.Time) {
	idle := s.srv.settings().cfg.Limits.IdleTimeout
	if idle <= 0 {
		return
	}
	if now.Sub(s.idleArmed) < idle/16 {
		return
	}
	s.idleArmed = now
	_ = s.client.Conn.SetReadDeadline(now.Add(idle))
}

// idleBuffers returns the buffers after a command: the writer always (the
// response is flushed), the reader when the session is not hot and nothing
// is buffered in it (a pipelining client keeps it).
func (s *Session) idleBuffers(gap time.Duration) {
	c := s.client
	if c.W != nil && c.W.Buffered() == 0 {
		c.W.Reset(nil)
		writerPool.Put(c.W)
		c.W = nil
	}
	if c.R != nil && gap > hotGap && c.R.Buffered() == 0 {
		c.R.Reset(nil)
		readerPool.Put(c.R)
		c.R = nil
	}
}
