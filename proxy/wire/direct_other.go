//go:build !unix

package wire

import (
	"io"
	"net"
)

// Direct returns nc: raw socket system calls are used on Unix only
// (direct.go).
func Direct(nc net.Conn) io.ReadWriter { return nc }
