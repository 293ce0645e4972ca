package health

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Addresses of servers are compared in one place: a replica's replication
// source (Master_Host:Master_Port as the server reports it) and a backend's
// configured address may name the same server differently — localhost or
// 127.0.0.1, a host name or its address, ::ffff:10.0.0.1 or 10.0.0.1.
// Two host:port addresses are the same server when the ports are equal and
// the hosts share an address: IP literals are canonicalized, localhost is
// the loopback addresses, and host names are resolved. Names are resolved
// by each probe round (hosts.refresh), off every decision's path;
// comparisons read the cache only, so a decision never waits on DNS.

// hostCacheTTL is how long a host name's addresses are kept.
const hostCacheTTL = 30 * time.Second

// hostCache holds the addresses of host names. Safe for concurrent use.
type hostCache struct {
	mu sync.Mutex
	m  map[string]hostEntry
}

type hostEntry struct {
	addrs []netip.Addr
	at    time.Time
}

// hosts is the health package's one host cache.
var hosts hostCache

// refresh resolves the host names of addrs whose cached addresses are
// missing or stale, each bounded by ctx.
func (c *hostCache) refresh(ctx context.Context, addrs ...string) {
	now := time.Now()
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil || literalHost(h) != nil {
			continue
		}
		key := strings.ToLower(h)
		c.mu.Lock()
		e, ok := c.m[key]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < hostCacheTTL {
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil && ok {
			continue // keep what was known rather than forget the server
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = make(map[string]hostEntry)
		}
		c.m[key] = hostEntry{addrs: ips, at: now}
		c.mu.Unlock()
	}
}

// literalHost returns the addresses a host stands for without DNS: an IP
// literal's own, localhost's loopback ones; nil for a host name.
func literalHost(h string) []netip.Addr {
	if strings.EqualFold(h, "localhost") {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return []netip.Addr{ip.Unmap().WithZone("")}
	}
	return nil
}

// addrsOf returns what host stands for: its literal addresses or its
// cached resolution (possibly none yet).
func (c *hostCache) addrsOf(h string) []netip.Addr {
	if l := literalHost(h); l != nil {
		return l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[strings.ToLower(h)].addrs
}

// sameAddr tells whether host:port addresses a and b name the same server.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	if strings.EqualFold(ha, hb) {
		return true
	}
	for _, x := range hosts.addrsOf(ha) {
		for _, y := range hosts.addrsOf(hb) {
			if x == y {
				return true
			}
		}
	}
	return false
}

// sourceName names the server among servers that addr (a replica's
// replication source) is, or "" when it is none of them.
func sourceName(addr string, servers []Server) string {
	if addr == "" {
		return ""
	}
	for _, s := range servers {
		if sameAddr(s.Address, addr) {
			return s.Name
		}
	}
	return ""
}
