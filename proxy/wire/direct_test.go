//go:build unix

package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestDirectIsUsedForTCPOnly(t *testing.T) {
	a, _ := tcpPair(t)
	if _, ok := Direct(a).(*direct); !ok {
		t.Fatal("a TCP connection is not read directly")
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if Direct(p) != io.ReadWriter(p) {
		t.Fatal("a connection without a socket is not used as it is")
	}
}

// TestDirectReadWrite moves more than the socket buffers hold (the writer
// must wait for the reader), then checks EOF, a read deadline and a Close
// from another goroutine, which must unblock a waiting read.
func TestDirectReadWrite(t *testing.T) {
	a, b := tcpPair(t)
	da, db := Direct(a), Direct(b)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	done := make(chan error, 1)
	go func() {
		n, err := da.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		done <- err
		_ = a.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
	if n, err := db.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after the peer's FIN: %d, %v; want 0, EOF", n, err)
	}

	c, d := tcpPair(t)
	dd := Direct(d)
	_ = d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := dd.Read(make([]byte, 8)); !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	_ = d.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		d.Close()
	}()
	if _, err := dd.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := dd.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v, want net.ErrClosed", err)
	}
	c.Close()
}

func TestDirectAllocatesNothing(t *testing.T) {
	a, b := tcpPair(t)
	da, db := Direct(a), Direct(b)
	out, in := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := da.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(db, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read, want 0", allocs)
	}
}

// readable reports whether c has data to read now, without reading it.
func readable(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var perr error
	if err := rc.Control(func(fd uintptr) {
		n, _, perr = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		t.Fatal(err)
	}
	return perr == nil && n > 0
}

// readPacket reads one single-frame packet's payload.
func readPacket(c *Conn) ([]byte, error) {
	size, _, err := c.ReadHeader()
	if err != nil {
		return nil, err
	}
	return c.ReadBody(nil, size, MaxPayload)
}

// TestFlushForReply checks that FlushForReply sends the request, returns
// only once the reply can be read, and still sends a request larger than
// the socket's buffers whole; a Close while it waits is no write error
// (the request was sent: the read after it reports the close).
func TestFlushForReply(t *testing.T) {
	a, b := tcpPair(t)
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failed server fails the test, not hangs it
	ca, cb := NewConn(a, 4096, 4096), NewConn(b, 4096, 4096)
	for round := range 3 {
		req := []byte(fmt.Sprintf("request %d", round))
		served := make(chan struct{})
		go func() {
			defer close(served)
			got, err := readPacket(cb)
			if err == nil && !bytes.Equal(got, req) {
				err = fmt.Errorf("server read %q, want %q", got, req)
			}
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(20 * time.Millisecond) // the server thinks
			if _, err := cb.Write([]byte("reply"), 1); err == nil {
				_ = cb.Flush()
			}
		}()
		if _, err := ca.Write(req, 0); err != nil {
			t.Fatal(err)
		}
		if err := ca.FlushForReply(); err != nil {
			t.Fatal(err)
		}
		if !readable(t, a) {
			t.Fatalf("round %d: FlushForReply returned before the reply arrived", round)
		}
		if got, err := readPacket(ca); err != nil || string(got) != "reply" {
			t.Fatalf("round %d: reply %q, %v", round, got, err)
		}
		<-served
	}

	// A request larger than the socket buffers, all in the write buffer:
	// the write inside the read operation stops at EAGAIN (the server reads
	// nothing for a while) and the rest goes out the ordinary way.
	c, d := tcpPair(t)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_ = c.(*net.TCPConn).SetWriteBuffer(16 << 10)
	_ = d.(*net.TCPConn).SetReadBuffer(16 << 10)
	cc, cd := NewConn(c, 4096, 1<<20), NewConn(d, 1<<20, 4096)
	big := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		p, err := readPacket(cd)
		if err != nil {
			t.Error(err)
		}
		got <- p
		if _, err := cd.Write([]byte("ok"), 1); err == nil {
			_ = cd.Flush()
		}
	}()
	if _, err := cc.Write(big, 0); err != nil {
		t.Fatal(err)
	}
	if cc.W.Buffered() != len(big)+4 {
		t.Fatalf("%d bytes buffered, want the whole request for FlushForReply", cc.W.Buffered())
	}
	if err := cc.FlushForReply(); err != nil {
		t.Fatal(err)
	}
	if p := <-got; !bytes.Equal(p, big) {
		t.Fatalf("server got %d bytes, want the %d sent, unchanged", len(p), len(big))
	}
	if reply, err := readPacket(cc); err != nil || string(reply) != "ok" {
		t.Fatalf("reply to the large request: %q, %v", reply, err)
	}

	// Closed while waiting for a reply that never comes: the request was
	// sent, so Flush succeeds and the next read reports the close.
	e, f := tcpPair(t)
	ce := NewConn(e, 4096, 4096)
	go func() {
		buf := make([]byte, 16)
		_, _ = f.Read(buf)
		time.Sleep(20 * time.Millisecond)
		e.Close()
	}()
	if _, err := ce.Write([]byte("never answered"), 0); err != nil {
		t.Fatal(err)
	}
	if err := ce.FlushForReply(); err != nil {
		t.Fatalf("flush of a request that was sent: %v, want nil", err)
	}
	if _, err := readPacket(ce); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after the close: %v, want net.ErrClosed", err)
	}
}
