package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

// Error codes of the limits, as MySQL and MariaDB use them.
const (
	codeHostBlocked       = 1129 // ER_HOST_IS_BLOCKED
	codeTooManyUserConns  = 1203 // ER_TOO_MANY_USER_CONNECTIONS
	codePacketTooLarge    = 1153 // ER_NET_PACKET_TOO_LARGE
	codeSecureTransport   = 3159 // ER_SECURE_TRANSPORT_REQUIRED
	codeClientIdleTimeout = 4031 // ER_CLIENT_INTERACTION_TIMEOUT
)

// Failed logins from one address are slowed, then blocked, as MySQL's
// connection_control plugin and max_connect_errors do: after
// authSlowdownAfter failures every new connection from the address waits
// before its greeting, authSlowdownStep longer for each further failure up
// to authSlowdownMax, and limits.max_auth_failures blocks it (1129) for
// limits.auth_block_time. The wait is before the greeting, whatever the
// credential: were only failures delayed, a client could stop waiting for
// an answer after a few milliseconds and take the silence for a failure.
// Only a wrong credential (1045, at login or COM_CHANGE_USER) is a
// failure; a connection closed, timed out or cut in TLS before its
// credential came is counted apart (switchyard_client_handshakes_abandoned_total),
// so a load balancer's TCP health checks never block the address they
// come from.
//
// A waiting connection holds a goroutine; their number is bounded per
// address (maxDelayedPerHost) and in all (maxDelayed), and a connection
// past either bound is refused at once with 1040 instead of waiting, so a
// flood from one address holds a few goroutines, not one per attempt.
// A good client from an address without failures never waits.
const (
	authSlowdownAfter      = 3
	authSlowdownStep       = 100 * time.Millisecond
	authSlowdownMax        = 2 * time.Second
	maxDelayedPerHost      = 8
	maxDelayed             = 512
	maxFailedUsers         = 16     // user names remembered per address (see succeeded)
	maxTrackedFailureHosts = 100000 // bounds the failure table against address floods
)

// guard enforces the per-user connection caps and the per-host login
// failure throttle. Safe for concurrent use.
type guard struct {
	mu       sync.Mutex
	perUser  map[string]int
	failures map[string]*hostFailures
	delayed  int // connections waiting before their greeting, all hosts

	m *authMetrics
}

type hostFailures struct {
	count        int
	first        time.Time
	blockedUntil time.Time
	waiting      int                 // connections from the host waiting now
	users        map[string]struct{} // whose credentials failed; nil past maxFailedUsers
	manyUsers    bool
}

// admission is what guard.admit decides for a new connection.
type admission int

const (
	admitted admission = iota
	admitBlocked
	admitBusy // too many connections wait already
)

// admit decides whether a new connection from host is served and how
// long it waits first. Failures older than window (auth_block_time) are
// forgotten, as failed does. A connection told to wait must call
// doneWaiting with the returned record when its wait ends.
func (g *guard) admit(host string, now time.Time, window time.Duration) (admission, time.Duration, *hostFailures) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failures[host]
	switch {
	case f == nil:
		return admitted, 0, nil
	case now.Before(f.blockedUntil):
		return admitBlocked, 0, nil
	case now.Sub(f.first) > window:
		return admitted, 0, nil
	}
	d := slowdown(f.count)
	if d == 0 {
		return admitted, 0, nil
	}
	if f.waiting >= maxDelayedPerHost || g.delayed >= maxDelayed {
		return admitBusy, 0, nil
	}
	f.waiting++
	g.delayed++
	return admitted, d, f
}

// slowdown is how long a connection waits after count failures.
func slowdown(count int) time.Duration {
	if count < authSlowdownAfter {
		return 0
	}
	return min(time.Duration(count-authSlowdownAfter+1)*authSlowdownStep, authSlowdownMax)
}

// doneWaiting ends a wait admit started.
func (g *guard) doneWaiting(f *hostFailures) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiting--
	g.delayed--
}

// blocked reports whether host is blocked now.
func (g *guard) blocked(host string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failures[host]
	return f != nil && now.Before(f.blockedUntil)
}

// failed records a wrong credential for user from host; past max failures
// within window the host is blocked for window.
func (g *guard) failed(host, user string, now time.Time, max int, window time.Duration) {
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
	f.addUser(user)
	if f.count >= max {
		f.blockedUntil = now.Add(window)
	}
}

func (f *hostFailures) addUser(user string) {
	if f.manyUsers {
		return
	}
	if len(f.users) >= maxFailedUsers {
		f.users, f.manyUsers = nil, true
		return
	}
	if f.users == nil {
		f.users = make(map[string]struct{})
	}
	f.users[user] = struct{}{}
}

// succeeded forgets a host's failures after a good login of user, as MySQL
// does, unless the host is blocked or some failures were another user's:
// otherwise a client with one good account could guess another's password
// with COM_CHANGE_USER and log in again before each block.
func (g *guard) succeeded(host, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failures[host]
	if f == nil || !f.blockedUntil.IsZero() || f.manyUsers {
		return
	}
	for u := range f.users {
		if u != user {
			return
		}
	}
	delete(g.failures, host)
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

// authMetrics count logins by outcome. Registered with the proxy's.
type authMetrics struct {
	failures  *prometheus.CounterVec // wrong credentials, by command
	abandoned *prometheus.CounterVec // handshakes ended before a credential, by reason
}

func newAuthMetrics() *authMetrics {
	m := &authMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_auth_failures_total",
			Help: "Wrong credentials (1045), by command: handshake or change_user. These count toward limits.max_auth_failures.",
		}, []string{"command"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_client_handshakes_abandoned_total",
			Help: "Client connections that ended before sending a credential (load balancer probes, timeouts, unfinished TLS, malformed packets), by reason. Not failed logins.",
		}, []string{"reason"}),
	}
	for _, c := range []string{"handshake", "change_user"} {
		m.failures.WithLabelValues(c)
	}
	for _, r := range []string{"closed", "timeout", "tls", "malformed", "proxy_header"} {
		m.abandoned.WithLabelValues(r)
	}
	return m
}

// collectors are the guard's metrics, with the number of connections
// waiting before their greeting now.
func (g *guard) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.m.failures, g.m.abandoned,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchyard_auth_delayed_connections",
			Help: "Client connections waiting before their greeting because their address had failed logins.",
		}, func() float64 {
			g.mu.Lock()
			defer g.mu.Unlock()
			return float64(g.delayed)
		}),
	}
}

// admitHost applies the failure throttle to a new connection: a blocked
// host is refused (1129), one with failures waits first or, when too many
// wait already, is refused (1040). It returns false when nc was refused
// or ctx ended; nc is then closed.
func (s *Server) admitHost(ctx context.Context, nc net.Conn, host string) bool {
	verdict, wait, f := s.guard.admit(host, time.Now(), s.settings().cfg.Limits.AuthBlockTime)
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		s.guard.doneWaiting(f)
		if ctx.Err() != nil {
			_ = nc.Close()
			return false
		}
		if s.guard.blocked(host, time.Now()) { // blocked while it waited
			verdict = admitBlocked
		}
	}
	switch verdict {
	case admitBlocked:
		s.metrics.refused.WithLabelValues("host_blocked").Inc()
		e := errHostBlocked(host)
		s.refuse(nc, e.Code, e.State, e.Message)
		return false
	case admitBusy:
		s.metrics.refused.WithLabelValues("auth_delay_full").Inc()
		s.refuse(nc, mysql.ER_CON_COUNT_ERROR, "08004", fmt.Sprintf("Too many connections from '%s' are waiting after failed logins from that address; retry later (switchyard limits.max_auth_failures)", host))
		return false
	}
	return true
}

// loginFailed records a wrong credential for user from host.
func (s *Server) loginFailed(host, user, command string) {
	lim := s.settings().cfg.Limits
	s.guard.m.failures.WithLabelValues(command).Inc()
	s.guard.failed(host, user, time.Now(), lim.MaxAuthFailures, lim.AuthBlockTime)
}

// abandonedReason names why a handshake without a credential ended:
// timeout (limits.handshake_timeout passed), tls (the client asked for TLS
// and the handshake or what followed failed), closed (the connection ended
// between packets: a TCP probe), or malformed.
func abandonedReason(err error, deadline time.Time, askedTLS bool) string {
	switch {
	case !time.Now().Before(deadline):
		return "timeout"
	case askedTLS:
		return "tls"
	case errors.Is(err, mysql.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return "malformed"
}

// isWrongCredential tells a failed login (1045) from a handshake that
// ended before any credential was checked.
func isWrongCredential(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me) && me.Code == mysql.ER_ACCESS_DENIED_ERROR
}
