package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// PROXY protocol (HAProxy's, v1 text and v2 binary) on the client
// listener, so that behind a load balancer the client's own address is the
// one the failed-login block, logs and /digests use. It is read only from
// peers in listen_proxy_protocol.trusted, and from them it is required: a
// MySQL server speaks first, so the proxy cannot wait to see whether a
// header comes without stalling clients that send none. A header from any
// other peer is refused (checkUntrustedHeader): it would otherwise let
// anyone choose the address they are blocked as.

// proxyV2Sig starts every v2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	proxyV1MaxLen = 107  // the spec's longest v1 line, CRLF included
	proxyV2MaxLen = 4096 // addresses and TLVs; larger is refused
)

var errProxyHeader = errors.New("PROXY protocol")

// proxiedConn is a client connection whose address came from a PROXY
// header; its reads first drain what the header's reader buffered.
type proxiedConn struct {
	net.Conn
	r      io.Reader
	remote net.Addr
}

func (c *proxiedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *proxiedConn) RemoteAddr() net.Addr       { return c.remote }

// RawTCP gives the socket to wire.Direct (the relay's raw system calls)
// when nothing read with the header is left to drain: the usual case.
func (c *proxiedConn) RawTCP() *net.TCPConn {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok || c.r != io.Reader(c.Conn) {
		return nil
	}
	return tc
}

// trustedPeer tells whether addr is in one of the trusted prefixes.
func trustedPeer(addr net.Addr, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// acceptProxyHeader reads the PROXY header of a connection from a trusted
// peer (bounded by timeout) and returns the connection as the header's
// client. A LOCAL (v2) or UNKNOWN (v1) header, what a load balancer sends
// for its own health checks, keeps the peer's address.
func acceptProxyHeader(nc net.Conn, timeout time.Duration) (net.Conn, error) {
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = nc.SetReadDeadline(time.Time{}) }()
	br := bufio.NewReaderSize(nc, 256)
	src, err := readProxyHeader(br, nc.RemoteAddr())
	if err != nil {
		return nil, err
	}
	var r io.Reader = nc
	if br.Buffered() > 0 { // a client never sends before the greeting; be safe anyway
		r = io.MultiReader(bytes.NewReader(must(br.Peek(br.Buffered()))), nc)
	}
	return &proxiedConn{Conn: nc, r: r, remote: src}, nil
}

func must(b []byte, _ error) []byte { return b }

// readProxyHeader parses one v1 or v2 header from r and returns the
// client's address (peer for LOCAL and UNKNOWN).
func readProxyHeader(r *bufio.Reader, peer net.Addr) (net.Addr, error) {
	first, err := r.Peek(5)
	if err != nil {
		return nil, fmt.Errorf("%w: no header from a trusted peer: %v", errProxyHeader, err)
	}
	switch {
	case string(first) == "PROXY":
		return readProxyV1(r, peer)
	case bytes.Equal(first, proxyV2Sig[:5]):
		return readProxyV2(r, peer)
	}
	return nil, fmt.Errorf("%w: a trusted peer (listen_proxy_protocol.trusted) sent no header; its load balancer must send PROXY protocol v1 or v2", errProxyHeader)
}

// readProxyV1 parses "PROXY TCP4|TCP6 src dst sport dport\r\n" or
// "PROXY UNKNOWN ...\r\n".
func readProxyV1(r *bufio.Reader, peer net.Addr) (net.Addr, error) {
	var line []byte
	for len(line) < proxyV1MaxLen {
		b, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w v1: truncated header: %v", errProxyHeader, err)
		}
		line = append(line, b)
		if bytes.HasSuffix(line, []byte("\r\n")) {
			return parseProxyV1(string(line[:len(line)-2]), peer)
		}
	}
	return nil, fmt.Errorf("%w v1: header longer than %d bytes", errProxyHeader, proxyV1MaxLen)
}

func parseProxyV1(line string, peer net.Addr) (net.Addr, error) {
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[0] == "PROXY" && f[1] == "UNKNOWN" {
		return peer, nil
	}
	if len(f) != 6 || f[0] != "PROXY" || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w v1: malformed header %q", errProxyHeader, line)
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Is4() != (f[1] == "TCP4") || ip.Zone() != "" {
		return nil, fmt.Errorf("%w v1: bad source address %q", errProxyHeader, f[2])
	}
	if _, err := netip.ParseAddr(f[3]); err != nil {
		return nil, fmt.Errorf("%w v1: bad destination address %q", errProxyHeader, f[3])
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil || (len(f[4]) > 1 && f[4][0] == '0') {
		return nil, fmt.Errorf("%w v1: bad source port %q", errProxyHeader, f[4])
	}
	if _, err := strconv.ParseUint(f[5], 10, 16); err != nil {
		return nil, fmt.Errorf("%w v1: bad destination port %q", errProxyHeader, f[5])
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
}

// readProxyV2 parses the binary header: signature, version and command,
// family, length, then addresses and TLVs (skipped).
func readProxyV2(r *bufio.Reader, peer net.Addr) (net.Addr, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w v2: truncated header: %v", errProxyHeader, err)
	}
	if !bytes.Equal(hdr[:12], proxyV2Sig) {
		return nil, fmt.Errorf("%w v2: bad signature", errProxyHeader)
	}
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if n > proxyV2MaxLen {
		return nil, fmt.Errorf("%w v2: %d bytes of addresses and TLVs, more than %d", errProxyHeader, n, proxyV2MaxLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w v2: truncated addresses: %v", errProxyHeader, err)
	}
	return parseProxyV2(hdr[12], hdr[13], body, peer)
}

func parseProxyV2(verCmd, fam byte, body []byte, peer net.Addr) (net.Addr, error) {
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("%w v2: version %d", errProxyHeader, verCmd>>4)
	}
	switch verCmd & 0xF {
	case 0: // LOCAL: the load balancer's own connection (a health check)
		return peer, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w v2: command %d", errProxyHeader, verCmd&0xF)
	}
	var ip netip.Addr
	var port uint16
	switch fam >> 4 {
	case 1: // AF_INET: src, dst, sport, dport
		if len(body) < 12 {
			return nil, fmt.Errorf("%w v2: short IPv4 addresses", errProxyHeader)
		}
		ip = netip.AddrFrom4([4]byte(body[:4]))
		port = binary.BigEndian.Uint16(body[8:10])
	case 2: // AF_INET6
		if len(body) < 36 {
			return nil, fmt.Errorf("%w v2: short IPv6 addresses", errProxyHeader)
		}
		ip = netip.AddrFrom16([16]byte(body[:16]))
		port = binary.BigEndian.Uint16(body[32:34])
	default: // AF_UNSPEC, AF_UNIX: no IP to use
		return peer, nil
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), port)), nil
}

// clientConn returns nc as the client it carries: itself, or for a peer in
// listen_proxy_protocol.trusted the client its PROXY header names. A
// trusted peer without a valid header is closed (nil).
func (s *Server) clientConn(nc net.Conn) net.Conn {
	set := s.settings()
	if len(set.trusted) == 0 || !trustedPeer(nc.RemoteAddr(), set.trusted) {
		return nc
	}
	pc, err := acceptProxyHeader(nc, set.cfg.Limits.HandshakeTimeout)
	if err != nil {
		s.guard.m.abandoned.WithLabelValues("proxy_header").Inc()
		s.log.Warn("closing a connection from a trusted load balancer: bad PROXY protocol header", "peer", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return nil
	}
	return pc
}

// looksLikeProxyHeader tells whether the first bytes a client sent (in
// place of a packet header) start a PROXY header.
func looksLikeProxyHeader(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PROX")) || bytes.HasPrefix(b, proxyV2Sig[:min(len(b), len(proxyV2Sig))])
}
