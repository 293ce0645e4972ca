package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Validate checks every rule and returns all problems at once as a
// *ValidationError (nil when the config is usable). Entries name the field
// path; they carry a line only when the config came from Parse or Load.
func (c Config) Validate() error {
	return c.validate().err()
}

func (c Config) validate() problems {
	var p problems

	checkListen(&p, "listen", c.Listen)
	checkListen(&p, "admin_listen", c.AdminListen)
	c.validateRouting(&p)
	c.validateFailover(&p)
	c.validateBackendTLS(&p)
	checkAdminToken(&p, c.AdminListen, c.AdminToken)
	if _, err := c.ListenProxyProtocol.TrustedPrefixes(); err != nil {
		p.add("listen_proxy_protocol.trusted", "%v; list the load balancers' networks, e.g. [10.0.0.0/8, 192.168.1.10]", err)
	}

	if len(c.Users) == 0 {
		p.add("users", "no client users; add at least one, e.g. users: [{name: app, password: secret}]")
	}
	userAt := map[string]int{}
	for i, u := range c.Users {
		path := fmt.Sprintf("users[%d].name", i)
		switch first, dup := userAt[u.Name]; {
		case u.Name == "":
			p.add(path, "empty user name; set the name clients log in with")
		case dup:
			p.add(path, "user %q is already defined at users[%d]; user names must be unique", u.Name, first)
		default:
			userAt[u.Name] = i
		}
	}

	if c.Monitor.User == "" {
		p.add("monitor.user", "empty; set the account used for probes, promotion and fencing")
	}

	if len(c.Backends) == 0 {
		p.add("backends", "no backends; add at least one, e.g. backends: [{name: db1, address: 127.0.0.1:3306}]")
	}
	nameAt, addrAt := map[string]int{}, map[string]int{}
	for i, b := range c.Backends {
		path := fmt.Sprintf("backends[%d]", i)
		switch first, dup := nameAt[b.Name]; {
		case b.Name == "":
			p.add(path+".name", "empty backend name; give each backend a short unique name such as db1")
		case dup:
			p.add(path+".name", "backend name %q is already used by backends[%d]; backend names must be unique", b.Name, first)
		default:
			nameAt[b.Name] = i
		}
		if msg := hostPort(b.Address, false); msg != "" {
			p.add(path+".address", "%s", msg)
		} else if first, dup := addrAt[b.Address]; dup {
			p.add(path+".address", "address %q is already used by backends[%d]; list each server once", b.Address, first)
		} else {
			addrAt[b.Address] = i
		}
	}

	if cl := c.Cluster; cl != nil {
		checkListen(&p, "cluster.bind", cl.Bind)
		if cl.ExpectedSize < 1 {
			p.add("cluster.expected_size", "is %d; set it to the number of proxies in the cluster (at least 1)", cl.ExpectedSize)
		}
		for i, j := range cl.Join {
			if msg := hostPort(j, false); msg != "" {
				p.add(fmt.Sprintf("cluster.join[%d]", i), "%s", msg)
			}
		}
		if cl.Key == "" && !cl.Insecure && hostPort(cl.Bind, true) == "" && !IsLoopback(cl.Bind) {
			p.add("cluster.bind", "%q is reachable from other hosts and cluster.key is empty: anyone who can reach it can vote in the failover quorum; "+
				"set cluster.key (generate one with: openssl rand -base64 32), bind to 127.0.0.1, or set cluster.insecure: true", cl.Bind)
		}
		if cl.Key != "" {
			key, err := base64.StdEncoding.DecodeString(cl.Key)
			switch {
			case err != nil:
				p.add("cluster.key", "not valid base64; generate one with: openssl rand -base64 32")
			case len(key) != 16 && len(key) != 24 && len(key) != 32:
				p.add("cluster.key", "decodes to %d bytes, need 16, 24 or 32; generate one with: openssl rand -base64 32", len(key))
			}
		}
	}

	switch {
	case c.TLS.Cert != "" && c.TLS.Key == "":
		p.add("tls.key", "tls.cert is set but tls.key is not; set both to offer TLS, or neither")
	case c.TLS.Cert == "" && c.TLS.Key != "":
		p.add("tls.cert", "tls.key is set but tls.cert is not; set both to offer TLS, or neither")
	}

	if c.Limits.MaxConnections <= 0 {
		p.add("limits.max_connections", "is %d; set a positive number of client connections (default %d)",
			c.Limits.MaxConnections, Default().Limits.MaxConnections)
	}
	p.positive("limits.handshake_timeout", c.Limits.HandshakeTimeout, Default().Limits.HandshakeTimeout)
	p.positive("limits.connect_timeout", c.Limits.ConnectTimeout, Default().Limits.ConnectTimeout)
	if c.Health.Interval <= 0 {
		p.add("health.interval", "is %s; set a positive probe period (default %s)",
			c.Health.Interval, Default().Health.Interval)
	}
	if c.Health.Timeout <= 0 {
		p.add("health.timeout", "is %s; set a positive probe timeout (default %s)",
			c.Health.Timeout, Default().Health.Timeout)
	}

	if c.Shutdown.ReadyDelay < 0 {
		p.add("shutdown.ready_delay", "is %s; set a duration of 0 or more (default %s)",
			c.Shutdown.ReadyDelay, Default().Shutdown.ReadyDelay)
	}
	if c.Shutdown.DrainTimeout < 0 {
		p.add("shutdown.drain_timeout", "is %s; set a duration of 0 or more (default %s)",
			c.Shutdown.DrainTimeout, Default().Shutdown.DrainTimeout)
	}

	if c.Upgrade.Window <= 0 {
		p.add("upgrade.window", "is %s; set a positive duration (default %s)",
			c.Upgrade.Window, Default().Upgrade.Window)
	}

	switch c.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", "%q is not a log format; use text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not a log level; use debug, info, warn or error", c.Log.Level)
	}
	return p
}

// checkListen accepts an address to listen on: the host may be empty (all
// interfaces) and the port may be 0 (the kernel picks one; tests do this).
func checkListen(p *problems, path, addr string) {
	if msg := hostPort(addr, true); msg != "" {
		p.add(path, "%s", msg)
	}
}

// minAdminToken is the shortest admin_token accepted: 16 random characters
// are out of reach of guessing over HTTP.
const minAdminToken = 16

// checkAdminToken requires a token when the admin API is reachable from
// other hosts, and a usable one whenever it is set.
func checkAdminToken(p *problems, listen, token string) {
	const gen = "generate one with: openssl rand -hex 32"
	switch {
	case token == "":
		if hostPort(listen, true) == "" && !IsLoopback(listen) {
			p.add("admin_listen", "%q is reachable from other hosts, and the admin API can switch the primary over; "+
				"set admin_token (%s) or listen on 127.0.0.1", listen, gen)
		}
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		p.add("admin_token", "contains spaces or control characters, which an Authorization header cannot carry; %s", gen)
	case len(token) < minAdminToken:
		p.add("admin_token", "is %d characters; use at least %d (%s)", len(token), minAdminToken, gen)
	}
}

// IsLoopback reports whether the listen address addr binds only to the
// loopback interface: "localhost" or a loopback IP. An empty host (all
// interfaces) and other host names are not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostPort returns "" when addr is a usable host:port, else what to do.
// listen relaxes the rules for addresses we bind rather than dial.
func hostPort(addr string, listen bool) string {
	example := "127.0.0.1:3306"
	if addr == "" {
		return "empty; set host:port, e.g. " + example
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port; write it like %s (IPv6 in brackets: [::1]:3306)", addr, example)
	}
	if host == "" && !listen {
		return fmt.Sprintf("%q has no host; write it like %s", addr, example)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Sprintf("%q has an invalid host; write it like %s", addr, example)
	}
	n, err := strconv.Atoi(port)
	lo := 1
	if listen {
		lo = 0
	}
	if err != nil || n < lo || n > 65535 {
		return fmt.Sprintf("%q has an invalid port; use a number from %d to 65535", addr, lo)
	}
	return ""
}

// withLines sets each problem's line from the line of its path, or of the
// nearest ancestor the file mentions ("backends[1].address" falls back to
// "backends[1]" when the address key is missing).
func (p problems) withLines(lines map[string]int) problems {
	for _, fe := range p {
		if fe.Line != 0 {
			continue
		}
		for path := fe.Path; path != ""; path = parentPath(path) {
			if l, ok := lines[path]; ok {
				fe.Line = l
				break
			}
		}
	}
	return p
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// positive reports a duration that must be above zero, with its default.
func (p *problems) positive(path string, d, def time.Duration) {
	if d <= 0 {
		p.add(path, "is %s; set a positive duration (default %s)", d, def)
	}
}
