// Command tcprelay is the smallest useful TCP proxy in Go: each client
// connection is relayed byte for byte to the next backend in turn, by two
// goroutines with a read/write loop each. It parses nothing.
//
// `make bench` runs it beside HAProxy and Switchyard (target go-relay) to
// separate what Go's goroutine-per-connection networking costs from what
// Switchyard's own work (parsing, routing, pools) adds on top.
//
//	tcprelay --listen 127.0.0.1:6039 --backends 127.0.0.1:3412,127.0.0.1:3413
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
	if err := serve(ln, addrs); err != nil {
		fmt.Fprintln(os.Stderr, "tcprelay:", err)
		os.Exit(1)
	}
}

// serve relays every connection ln accepts until ln is closed.
func serve(ln net.Listener, backends []string) error {
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		addr := backends[next.Add(1)%uint64(len(backends))]
		go relay(c.(*net.TCPConn), addr)
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
