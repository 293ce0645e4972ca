package netfd

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestDetach: the duplicate still carries the connection after the
// original is closed, and does not block.
func TestDetach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peer <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Detach(c.(*net.TCPConn))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	p := <-peer
	defer p.Close()
	_ = p.SetDeadline(time.Now().Add(5 * time.Second))

	var buf [8]byte
	if _, err := syscall.Read(fd, buf[:]); err != syscall.EAGAIN {
		t.Fatalf("read with nothing sent: %v, want EAGAIN (non-blocking)", err)
	}
	if _, err := syscall.Write(fd, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(p, got); err != nil || string(got) != "ping" {
		t.Fatalf("the peer read %q, %v; want ping", got, err)
	}
}
