package proxy

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Error codes of the limits, as MySQL and MariaDB use them.
const (
	codeHostBlocked        = 1129 // ER_HOST_IS_BLOCKED
	codeTooManyUserConns   = 1203 // ER_TOO_MANY_USER_CONNECTIONS
	codePacketTooLarge     = 1153 // ER_NET_PACKET_TOO_LARGE
	codeSecureTransport    = 3159 // ER_SECURE_TRANSPORT_REQUIRED
	codeClientIdleTimeout  = 4031 // ER_CLIENT_INTERACTION_TIMEOUT
	authSlowdownAfter      = 3    // failures from a host before each next one is slowed
	authSlowdownStep       = 100 * time.Millisecond
	authSlowdownMax        = 2 * time.Second
	maxTrackedFailureHosts = 100000 // bounds the failure table against address floods
)

// guard enforces the per-user connection caps and the per-host login
// failure throttle. Safe for concurrent use.
type guard struct {
	mu       sync.Mutex
	perUser  map[string]int
	failures map[string]*hostFailures
}

type hostFailures struct {
	count        int
	first        time.Time
	blockedUntil time.Time
}

// blocked reports whether host is blocked now.
func (g *guard) blocked(host string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failures[host]
	return f != nil && now.Before(f.blockedUntil)
}

// failed records a failed login from host and returns how long to delay
// the answer: nothing for the first few, then growing, so that password
// guessing is slow; past max failures within window the host is blocked.
func (g *guard) failed(host string, now time.Time, max int, window time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures == nil {
		g.failures = make(map[string]*hostFailures)
	}
	f := g.failures[host]
	if f == nil || now.Sub(f.first) > window {
		if f == nil && len(g.failures) >= maxTrackedFailureHosts {
			clear(g.failures)
		}
		f = &hostFailures{first: now}
		g.failures[host] = f
	}
	f.count++
	if f.count >= max {
		f.blockedUntil = now.Add(window)
	}
	if f.count <= authSlowdownAfter {
		return 0
	}
	return min(time.Duration(f.count-authSlowdownAfter)*authSlowdownStep, authSlowdownMax)
}

// succeeded forgets a host's failures, as MySQL does after a good login.
func (g *guard) succeeded(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.failures[host]; f != nil && f.blockedUntil.IsZero() {
		delete(g.failures, host)
	}
}

// admitUser takes a connection slot of user, or says no past its cap.
func (g *guard) admitUser(user string, limit int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perUser == nil {
		g.perUser = make(map[string]int)
	}
	if limit > 0 && g.perUser[user] >= limit {
		return false
	}
	g.perUser[user]++
	return true
}

func (g *guard) leaveUser(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perUser[user]--; g.perUser[user] <= 0 {
		delete(g.perUser, user)
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func errHostBlocked(host string) *mysql.MyError {
	return &mysql.MyError{Code: codeHostBlocked, State: "HY000",
		Message: fmt.Sprintf("Host '%s' is blocked because of many connection errors; it is unblocked after limits.auth_block_time, or restart switchyard", host)}
}

func errTooManyUserConns(user string) *mysql.MyError {
	return &mysql.MyError{Code: codeTooManyUserConns, State: "42000",
		Message: fmt.Sprintf("User %s already has more than 'max_user_connections' active connections (users[].max_connections in switchyard's config)", user)}
}
