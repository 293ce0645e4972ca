//go:build unix

package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
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
