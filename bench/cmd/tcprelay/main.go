// Command tcprelay is the smallest useful TCP proxy in Go: each client
// connection is relayed byte for byte to the next backend in turn, by two
// goroutines with a read/write loop each, or with --loops N by N epoll
// event loops (epoll.go). It parses nothing.
//
// `make bench` runs it both ways beside HAProxy and Switchyard (targets
// go-relay and go-epoll) to separate what Go's goroutine-per-connection
// networking costs from what Switchyard's own work (parsing, routing,
// pools) adds on top, and to show what an event-loop I/O core would win.
//
//	tcprelay --listen 127.0.0.1:6039 --backends 127.0.0.1:3412,127.0.0.1:3413
//	tcprelay --loops 2 --listen 127.0.0.1:6040 --backends 127.0.0.1:3412,127.0.0.1:3413
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6039", "address to accept clients on")
	backends := flag.String("backends", "", "comma list of backend addresses, used in turn")
	loops := flag.Int("loops", 0, "relay with this many epoll event loops instead of goroutines per connection")
	flag.Parse()
	addrs := strings.Split(*backends, ",")
	if *backends == "" {
		fmt.Fprintln(os.Stderr, "tcprelay: --backends is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcprelay:", err)
		os.Exit(1)
	}
	slog.Info("tcprelay listening", "listen", ln.Addr().String(), "backends", addrs)
	serveFn := serve
	if *loops > 0 {
		serveFn = func(ln net.Listener, addrs []string) error { return serveEpoll(ln, addrs, *loops) }
	}
	if err := serveFn(ln, addrs); err != nil {
		fmt.Fprintln(os.Stderr, "tcprelay:", err)
		os.Exit(1)
	}
}

// serve relays every connection ln accepts until ln is closed.
func serve(ln net.Listener, backends []string) error {
	return acceptEach(ln, backends, relay)
}

// acceptEach runs handle, in a goroutine of its own, for every connection
// ln accepts with the next backend in turn, until ln is closed.
func acceptEach(ln net.Listener, backends []string, handle func(c *net.TCPConn, backend string)) error {
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go handle(c.(*net.TCPConn), backends[next.Add(1)%uint64(len(backends))])
	}
}

// relay copies both ways between client and a new connection to addr,
// passing on each side's end of stream, and closes both when both ended.
func relay(client *net.TCPConn, addr string) {
	defer client.Close()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		slog.Warn("backend unreachable", "backend", addr, "err", err)
		return
	}
	server := nc.(*net.TCPConn)
	defer server.Close()
	done := make(chan struct{})
	go func() {
		copyHalf(server, client)
		close(done)
	}()
	copyHalf(client, server)
	<-done
}

// copyHalf copies src to dst with a plain read/write loop (no splice: the
// point is the same system calls a proxy that looks at the bytes makes),
// then closes dst for writing.
func copyHalf(dst, src *net.TCPConn) {
	buf := make([]byte, 16<<10)
	_, _ = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
	_ = dst.CloseWrite()
}
