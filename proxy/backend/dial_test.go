//go:build linux

package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVanishedHostIsNoticed puts a server in a network namespace of its
// own, behind a veth link. It reads a request and never answers; then the
// link goes down, as when the server's host loses power. A read waiting on
// a connection from dialer() must fail within 30 s (keepalive: about 11 s),
// not after the 2.5 minutes of Go's default keepalive.
func TestVanishedHostIsNoticed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keepalive to give up")
	}
	hostIf, addr := vethNamespace(t)
	ln := listenIn(t, "sytest"+fmt.Sprint(os.Getpid()), addr+":3306")
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nc, err := dialer().DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var srv net.Conn
	select {
	case srv = <-accepted:
		defer srv.Close()
	case <-ctx.Done():
		t.Fatal("the server in the namespace accepted nothing")
	}
	if _, err := nc.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(srv, make([]byte, 7)); err != nil {
		t.Fatalf("the request did not reach the server: %v", err)
	}

	ip(t, "link", "set", hostIf, "down") // the host vanishes
	gone := time.Now()
	_ = nc.SetReadDeadline(gone.Add(60 * time.Second))
	_, err = nc.Read(make([]byte, 16))
	waited := time.Since(gone)
	switch {
	case err == nil:
		t.Fatal("a read from the vanished host returned data")
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("the read still waited 60 s after the host vanished: %v", err)
	case waited > 30*time.Second:
		t.Fatalf("the read failed only %v after the host vanished: %v", waited.Round(time.Second), err)
	}
	t.Logf("the read failed %v after the host vanished: %v", waited.Round(100*time.Millisecond), err)
}

// vethNamespace makes a network namespace (sytest<pid>) linked to this one
// by a veth pair on 10.213.N.0/30, and removes both when the test ends. It
// returns the host side's interface and the namespace side's address. The
// test is skipped where namespaces cannot be made (not root, no ip).
func vethNamespace(t *testing.T) (hostIf, nsAddr string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to make a network namespace")
	}
	pid := os.Getpid()
	ns := fmt.Sprintf("sytest%d", pid)
	hostIf, nsIf := fmt.Sprintf("syh%d", pid%1000000), fmt.Sprintf("syn%d", pid%1000000)
	subnet := fmt.Sprintf("10.213.%d", pid%250)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	ip(t, "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	ip(t, "link", "set", nsIf, "netns", ns)
	ip(t, "addr", "add", subnet+".1/30", "dev", hostIf)
	ip(t, "link", "set", hostIf, "up")
	ip(t, "-n", ns, "addr", "add", subnet+".2/30", "dev", nsIf)
	ip(t, "-n", ns, "link", "set", nsIf, "up")
	ip(t, "-n", ns, "link", "set", "lo", "up")
	return hostIf, subnet + ".2"
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// listenIn listens on addr inside the named network namespace: a socket
// stays in the namespace it was made in, whichever thread uses it later.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, moved to the namespace, ends with
		// this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		res <- result{ln, err}
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.ln
}
