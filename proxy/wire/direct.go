//go:build unix

package wire

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Direct returns what the buffers of a connection should read from and
// write to: for a plain TCP socket, the socket through raw system calls;
// for anything else (TLS), nc itself.
//
// Why: nearly all of the proxy's CPU is its reads and writes, which on
// loopback each run the whole TCP path for the peer (several µs). Through
// net.Conn every one of them enters and leaves the Go scheduler's syscall
// state, and the scheduler's monitor thread, seeing a thread sit in a
// system call across its 20µs ticks, hands the scheduler slot to another
// thread and keeps waking up to check: context switches that cost more
// than the bookkeeping they save. The sockets are non-blocking, so a raw
// read or write never blocks; when it would (EAGAIN) Direct waits in the
// runtime's poller like net.Conn does, with the same deadlines, and the
// poller's reference count keeps a concurrent Close from reusing the file
// descriptor under it.
func Direct(nc net.Conn) io.ReadWriter {
	if r, ok := nc.(RawTCP); ok && r.RawTCP() != nil {
		nc = r.RawTCP()
	}
	sc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	d := &direct{rc: rc}
	d.rd.fn = d.rd.read
	d.wr.fn = d.wr.write
	d.req.fn = d.req.writeThenWait
	return d
}

// RawTCP is a connection that wraps a TCP socket without changing its
// bytes (a client that sent a PROXY protocol header, read already), and
// returns it, or nil when reads must still go through the wrapper.
type RawTCP interface{ RawTCP() *net.TCPConn }

// direct reads and writes a socket with raw system calls. Read and Write
// may run concurrently with each other (their state is separate), not with
// themselves; a Write made while awaitReply is set holds the read side and
// must not overlap a Read.
type direct struct {
	rc  syscall.RawConn
	rd  rawOp
	wr  rawOp
	req rawOp // a write made while awaitReply is set

	// awaitReply makes Write wait, after writing, until the reply starts
	// to arrive (see FlushForReply).
	awaitReply bool
}

// rawOp is one direction's call in progress: the buffer, how far it got,
// and fn, made once so that a call allocates nothing.
type rawOp struct {
	buf   []byte
	n     int
	err   error
	wrote bool // writeThenWait: the write was made
	fn    func(fd uintptr) bool
}

func (d *direct) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	op := &d.rd
	op.buf, op.n, op.err = p, 0, nil
	err := d.rc.Read(op.fn)
	op.buf = nil
	if err != nil {
		return 0, err // a deadline, or the connection was closed
	}
	return op.n, op.err
}

func (d *direct) Write(p []byte) (int, error) {
	if d.awaitReply {
		return d.writeRequest(p)
	}
	return d.writePlain(p)
}

// writePlain writes all of p, waiting in the poller for room.
func (d *direct) writePlain(p []byte) (int, error) {
	op := &d.wr
	op.buf, op.n, op.err = p, 0, nil
	err := d.rc.Write(op.fn)
	op.buf = nil
	if err == nil {
		err = op.err
	}
	return op.n, err
}

func (d *direct) setAwaitReply(on bool) { d.awaitReply = on }

// writeRequest writes p and returns once the reply starts to arrive.
//
// Why: a read right after a request almost always fails with EAGAIN (the
// server has not answered yet) before it waits in the poller: one wasted
// system call per round trip, about a sixth of the proxy's. Waiting first
// is only safe when no readiness can have been missed, and the poller
// forgets earlier readiness when a read operation starts. So the write is
// made inside the read operation, after that point: the reply cannot come
// before its request, so its arrival wakes the wait. The read that follows
// then finds data at once.
//
// The write's result is what counts: once p is written, a failed wait (a
// deadline, a Close) is left for the next read to report, so a caller
// never takes a request that reached the server for one that did not.
// What the read operation could not write (it cannot wait for room in the
// socket's buffer) is written the ordinary way, without the wait.
func (d *direct) writeRequest(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // no request, no reply to wait for
	}
	op := &d.req
	op.buf, op.n, op.err, op.wrote = p, 0, nil, false
	_ = d.rc.Read(op.fn)
	n, err := op.n, op.err
	op.buf = nil
	if err != nil || n == len(p) {
		return n, err
	}
	m, err := d.writePlain(p[n:])
	return n + m, err
}

// writeThenWait is writeRequest's step in the read operation: the first
// call writes and, if all was written, asks the poller to wait for data;
// the call after the wait ends it.
func (op *rawOp) writeThenWait(fd uintptr) bool {
	if op.wrote {
		return true
	}
	op.wrote = true
	op.write(fd)
	// Wait only when all of it is out; otherwise writeRequest goes on.
	return op.err != nil || op.n < len(op.buf)
}

// read is one read(2); false asks the poller to wait for data.
func (op *rawOp) read(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&op.buf[0])), uintptr(len(op.buf)))
		switch errno {
		case 0:
			op.n = int(n)
			if n == 0 {
				op.err = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("read", errno)
			return true
		}
	}
}

// write writes all of op.buf; false asks the poller to wait until the
// socket takes more.
func (op *rawOp) write(fd uintptr) bool {
	for op.n < len(op.buf) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&op.buf[op.n])), uintptr(len(op.buf)-op.n))
		switch errno {
		case 0:
			if n == 0 { // never for a socket; do not spin if it were
				op.err = io.ErrUnexpectedEOF
				return true
			}
			op.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			op.err = os.NewSyscallError("write", errno)
			return true
		}
	}
	return true
}
