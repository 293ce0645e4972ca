package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the whole YAML file. Field names are the contract in DESIGN.md;
// new fields may be added, existing ones keep their meaning.
type Config struct {
	Listen      string       `yaml:"listen"`
	AdminListen string       `yaml:"admin_listen"`
	Region      string       `yaml:"region"`
	Zone        string       `yaml:"zone"`
	Users       []User       `yaml:"users"`
	Monitor     Monitor      `yaml:"monitor"`
	Backends    []Backend    `yaml:"backends"`
	Cluster     *Cluster     `yaml:"cluster"`
	TLS         TLS          `yaml:"tls"`
	BackendTLS  BackendTLS   `yaml:"backend_tls"`
	Limits      Limits       `yaml:"limits"`
	Health      HealthConfig `yaml:"health"`
	Log         Log          `yaml:"log"`
	Routing     Routing      `yaml:"routing"`
	Pool        Pool         `yaml:"pool"`
	Failover    Failover     `yaml:"failover"`

	// AdminToken is the bearer token the admin API requires on every
	// endpoint but /healthz and /readyz. It is optional while admin_listen
	// is a loopback address and required otherwise: the admin API can
	// switch the primary over and drain backends.
	AdminToken string   `yaml:"admin_token"`
	Shutdown   Shutdown `yaml:"shutdown"`
	Upgrade    Upgrade  `yaml:"upgrade"`

	// ListenProxyProtocol reads a PROXY protocol header (v1 or v2) on
	// client connections from its trusted networks, and requires one from
	// them; the address it carries is the client's.
	ListenProxyProtocol ProxyProtocol `yaml:"listen_proxy_protocol"`
}

// ProxyProtocol lists the peers (load balancers) whose PROXY protocol
// headers are believed, as CIDRs or single addresses. Empty: none; a
// header from any other peer is refused.
type ProxyProtocol struct {
	Trusted []string `yaml:"trusted"`
}

// TrustedPrefixes parses Trusted; a single address is a prefix of its own
// length. Validate reports what does not parse.
func (p ProxyProtocol) TrustedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, t := range p.Trusted {
		pr, err := netip.ParsePrefix(t)
		if err != nil {
			ip, ipErr := netip.ParseAddr(t)
			if ipErr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an address", t)
			}
			pr = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

// Shutdown paces a graceful stop (SIGTERM): /readyz fails at once, the
// listener stays open for ReadyDelay so that load balancers notice, then new
// connections are refused and open sessions get DrainTimeout to finish their
// transactions before they are closed.
type Shutdown struct {
	ReadyDelay   time.Duration `yaml:"ready_delay"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Upgrade paces switchyard upgrade (and SIGUSR2): the old process hands
// its sessions to the new one, each between two commands, for at most
// Window; a session still in the middle of a command (or a TLS session,
// which cannot move) stays in the old process, which waits Window more for
// them to end and then closes them as a graceful stop does.
//
// KeepParent keeps the first process (the one a supervisor started) as a
// small parent once its sessions moved: it forwards signals to the process
// that serves and exits with its status, so that Kubernetes, systemd or
// Docker, which watch the process they started, see one process from start
// to stop across any number of upgrades.
type Upgrade struct {
	Window     time.Duration `yaml:"window"`
	KeepParent bool          `yaml:"keep_parent"`
}

// User is a client credential. The same name and password open the
// backend connections that serve this user's sessions.
type User struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
	// AuthPlugin is the method clients authenticate with:
	// mysql_native_password (default) or caching_sha2_password.
	AuthPlugin string `yaml:"auth_plugin"`
	// PasswordEnv and PasswordFile give the password from the environment
	// or a file (trailing newline dropped) instead of the config file.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// MaxConnections caps this user's client connections (0: no cap);
	// beyond it a client gets 1203.
	MaxConnections int `yaml:"max_connections"`
}

// Monitor is the account used for probes, promotion and fencing.
type Monitor struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// Backend is one MariaDB or MySQL server. Its role is discovered by probing,
// never configured.
type Backend struct {
	Name     string `yaml:"name"`
	Address  string `yaml:"address"`
	Region   string `yaml:"region"`
	Zone     string `yaml:"zone"`
	Promote  *bool  `yaml:"promote"`  // nil means true: may be promoted
	Priority int    `yaml:"priority"` // higher wins a promotion tie
	// TLS overrides backend_tls for this backend, field by field.
	TLS *BackendTLS `yaml:"tls"`
}

// Cluster is the optional proxy cluster; absent means a cluster of one.
type Cluster struct {
	Name         string   `yaml:"name"`
	Bind         string   `yaml:"bind"`
	Join         []string `yaml:"join"`
	ExpectedSize int      `yaml:"expected_size"`
	Key          string   `yaml:"key"` // gossip encryption key (16, 24 or 32 bytes, base64)
	// Insecure allows a bind address other hosts can reach without a key
	// (a warning is logged at every start): without one, anyone who can
	// reach the port can join and vote in the failover quorum.
	Insecure bool `yaml:"insecure"`
}

// TLS for the client side: when Cert and Key are set, TLS is offered.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Require refuses clients that do not use TLS (3159), like MySQL's
	// require_secure_transport.
	Require bool `yaml:"require"`
}

// Limits protect the proxy and the backends.
type Limits struct {
	MaxConnections   int           `yaml:"max_connections"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	ConnectTimeout   time.Duration `yaml:"connect_timeout"`
	// MaxPacket is the largest command packet a client may send (1153 beyond).
	MaxPacket ByteSize `yaml:"max_packet"`
	// IdleTimeout closes a client connection idle this long (4031).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// QueryTimeout stops a statement that runs longer on its backend: KILL
	// QUERY (the client gets 1317), then its backend connection is closed if
	// the server does not answer. 0 lets statements run as long as the
	// server allows (its max_statement_time).
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// MaxAuthFailures wrong credentials (1045, at login or COM_CHANGE_USER;
	// never a connection that closed before sending one) from one host
	// within AuthBlockTime block that host for AuthBlockTime (1129); the
	// host's new connections are slowed down before that.
	MaxAuthFailures int           `yaml:"max_auth_failures"`
	AuthBlockTime   time.Duration `yaml:"auth_block_time"`
}

// HealthConfig tunes the probes.
type HealthConfig struct {
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
}

// Log selects the log format and level.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Default returns a Config with every default set.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:3306",
		AdminListen: "127.0.0.1:9090",
		Monitor:     Monitor{User: "root"},
		Limits: Limits{
			MaxConnections:   10000,            // client connections; beyond it a client gets 1040
			HandshakeTimeout: 10 * time.Second, // a client that never finishes the handshake is dropped
			ConnectTimeout:   2 * time.Second,  // dialing a backend, handshake included
			MaxPacket:        1 << 30,          // MariaDB's own ceiling for max_allowed_packet
			IdleTimeout:      8 * time.Hour,    // MySQL's default wait_timeout
			QueryTimeout:     0,                // like MariaDB's max_statement_time: no limit unless asked
			MaxAuthFailures:  100,              // MySQL's max_connect_errors
			AuthBlockTime:    10 * time.Minute,
		},
		Health: HealthConfig{
			Interval: 500 * time.Millisecond, // probe period: with 3 misses a dead primary is seen in ~2s
			Timeout:  1 * time.Second,
		},
		Log:        Log{Format: "text", Level: "info"},
		BackendTLS: defaultBackendTLS(),
		Routing:    defaultRouting(),
		Pool:       defaultPool(),
		Failover:   defaultFailover(),
		Shutdown: Shutdown{
			ReadyDelay:   2 * time.Second,  // a few health-check periods of a load balancer that polls /readyz every 1s
			DrainTimeout: 15 * time.Second, // fits, with ReadyDelay, in Kubernetes' default 30s grace period
		},
		// Longer than most statements: a session moves once its command ends.
		Upgrade: Upgrade{Window: 30 * time.Second, KeepParent: true},
	}
}
