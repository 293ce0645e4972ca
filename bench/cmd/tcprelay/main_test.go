package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestRelayBothWays relays to two echo servers in turn, with goroutines and
// with event loops: every client gets its own bytes back through the relay,
// and its end of stream reaches the server and comes back as the relay's.
func TestRelayBothWays(t *testing.T) {
	t.Run("goroutines", func(t *testing.T) { testRelayBothWays(t, serve) })
	t.Run("epoll", func(t *testing.T) {
		testRelayBothWays(t, func(ln net.Listener, backends []string) error { return serveEpoll(ln, backends, 2) })
	})
}

func testRelayBothWays(t *testing.T, serve func(net.Listener, []string) error) {
	var backends []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		backends = append(backends, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c) // echo until the client's end of stream
				}()
			}
		}()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = serve(ln, backends) }()

	for i := range 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		want := bytes.Repeat([]byte{byte('a' + i)}, 16<<20) // more than the socket buffers hold
		go func() {
			_, _ = c.Write(want)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		time.Sleep(200 * time.Millisecond) // the buffers fill: the relay must wait for the client to read
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("client %d: got %d bytes back, want its %d", i, len(got), len(want))
		}
	}
}
