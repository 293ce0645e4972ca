// Package netfd takes TCP sockets out of Go's poller for code that waits
// on them with its own epoll loop (the benchmark floors bench/cmd/tcprelay
// --loops and bench/cmd/evproto).
package netfd

import (
	"net"
	"syscall"
)

// Detach returns a non-blocking duplicate of c's socket. The caller then
// closes c, which takes the original out of Go's poller; the duplicate,
// now the socket's only descriptor, is the caller's to close.
func Detach(c *net.TCPConn) (int, error) {
	f, err := c.File()
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}
