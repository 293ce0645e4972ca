package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file; bad cases below start from it so each
// one breaks exactly one rule.
const minimal = `listen: 127.0.0.1:3306
users:
  - {name: app, password: app}
backends:
  - {name: db1, address: 127.0.0.1:3401}
  - {name: db2, address: 127.0.0.1:3402}
`

func TestLoadGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	no := false
	want := Config{
		Listen:      "127.0.0.1:3306",
		AdminListen: "127.0.0.1:9090",
		Region:      "eu-west",
		Zone:        "eu-west-1a",
		Users:       []User{{Name: "app", Password: "app"}, {Name: "report", Password: "r3port"}},
		Monitor:     Monitor{User: "root"},
		Backends: []Backend{
			{Name: "db1", Address: "127.0.0.1:3401", Region: "eu-west", Zone: "eu-west-1a"},
			{Name: "db2", Address: "127.0.0.1:3402", Region: "us-east"},
			{Name: "db3", Address: "[::1]:3403", Promote: &no, Priority: 5},
		},
		Cluster: &Cluster{
			Name: "proxy-a", Bind: "127.0.0.1:7946",
			Join:         []string{"127.0.0.1:7947", "127.0.0.1:7948"},
			ExpectedSize: 3, Key: "AAECAwQFBgcICQoLDA0ODw==",
		},
		TLS: TLS{Cert: "/etc/switchyard/cert.pem", Key: "/etc/switchyard/key.pem"},
		Limits: Limits{MaxConnections: 500, HandshakeTimeout: 5 * time.Second, ConnectTimeout: 1500 * time.Millisecond,
			MaxPacket: 1 << 30, IdleTimeout: 8 * time.Hour, MaxAuthFailures: 100, AuthBlockTime: 10 * time.Minute},
		Health:     HealthConfig{Interval: 250 * time.Millisecond, Timeout: time.Second},
		Log:        Log{Format: "json", Level: "debug"},
		AdminToken: "0123456789abcdef0123456789abcdef",
		Shutdown:   Shutdown{ReadyDelay: 5 * time.Second, DrainTimeout: 20 * time.Second},
		Upgrade:    Upgrade{Window: 30 * time.Second, KeepParent: true},
		Failover:   defaultFailover(),
		Routing:    defaultRouting(), // good.yaml leaves routing and pool at their defaults
		Pool:       defaultPool(),
		BackendTLS: defaultBackendTLS(),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load mismatch\n got: %+v\nwant: %+v", c, want)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	d := Default()
	if c.AdminListen != d.AdminListen || c.Limits != d.Limits || c.Health != d.Health || c.Log != d.Log || c.Monitor != d.Monitor ||
		c.Shutdown != d.Shutdown || c.AdminToken != "" {
		t.Errorf("defaults not kept: %+v", c)
	}
	if c.Cluster != nil {
		t.Errorf("absent cluster decoded as %+v, want nil", c.Cluster)
	}
	if c.Backends[0].Promote != nil {
		t.Errorf("absent promote decoded as %v, want nil", *c.Backends[0].Promote)
	}
}

func TestParseGoodVariants(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c Config)
	}{
		{"listen on all interfaces, kernel port", minimal + "admin_listen: \":0\"\nadmin_token: 0123456789abcdef\n", func(t *testing.T, c Config) {
			if c.AdminListen != ":0" || c.AdminToken != "0123456789abcdef" {
				t.Errorf("admin_listen = %q, admin_token = %q", c.AdminListen, c.AdminToken)
			}
		}},
		{"admin on loopback needs no token", minimal + "admin_listen: \"[::1]:9090\"\n", nil},
		{"admin on localhost needs no token", minimal + "admin_listen: localhost:9090\n", nil},
		{"token on loopback is allowed", minimal + "admin_token: 0123456789abcdef\n", nil},
		{"shutdown without waits", minimal + "shutdown: {ready_delay: 0s, drain_timeout: 0s}\n", func(t *testing.T, c Config) {
			if c.Shutdown != (Shutdown{}) {
				t.Errorf("shutdown = %+v", c.Shutdown)
			}
		}},
		{"null sections keep defaults", minimal + "limits: ~\ncluster: ~\n", func(t *testing.T, c Config) {
			if c.Limits != Default().Limits || c.Cluster != nil {
				t.Errorf("got limits %+v cluster %+v", c.Limits, c.Cluster)
			}
		}},
		{"merge keys", `users: [{name: app}]
backends:
  - &base {name: db1, address: 127.0.0.1:3401, region: eu-west, zone: a}
  - <<: *base
    name: db2
    address: 127.0.0.1:3402
`, func(t *testing.T, c Config) {
			if b := c.Backends[1]; b.Name != "db2" || b.Region != "eu-west" || b.Address != "127.0.0.1:3402" {
				t.Errorf("merged backend = %+v", b)
			}
		}},
		{"partial section overrides one default", minimal + "health: {interval: 2s}\n", func(t *testing.T, c Config) {
			if c.Health.Interval != 2*time.Second || c.Health.Timeout != Default().Health.Timeout {
				t.Errorf("health = %+v", c.Health)
			}
		}},
		{"native password hash", strings.Replace(minimal, "password: app", "password: \"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\"", 1), func(t *testing.T, c Config) {
			h, ok := c.Users[0].NativeHash()
			if !ok || len(h) != 20 || h[0] != 0x24 {
				t.Errorf("NativeHash() = %x, %v", h, ok)
			}
		}},
		{"backend tls inherits backend_tls", "backend_tls: {mode: verify_ca, ca: /ca.pem}\n" + minimal +
			"  - {name: db3, address: 127.0.0.1:3403, tls: {mode: verify_identity, server_name: db3.internal}}\n", func(t *testing.T, c Config) {
			want := BackendTLS{Mode: TLSVerifyIdentity, CA: "/ca.pem", ServerName: "db3.internal"}
			if got := c.BackendTLSFor(c.Backends[2]); got != want {
				t.Errorf("BackendTLSFor(db3) = %+v, want %+v", got, want)
			}
			if got := c.BackendTLSFor(c.Backends[0]); got != c.BackendTLS {
				t.Errorf("BackendTLSFor(db1) = %+v, want backend_tls %+v", got, c.BackendTLS)
			}
		}},
		{"cluster without key", minimal + "cluster: {bind: 127.0.0.1:7946, expected_size: 1}\n", func(t *testing.T, c Config) {
			if c.Cluster == nil || c.Cluster.ExpectedSize != 1 {
				t.Errorf("cluster = %+v", c.Cluster)
			}
		}},
		{"cluster reachable, insecure on purpose", minimal + "cluster: {bind: 0.0.0.0:7946, expected_size: 1, insecure: true}\n", func(t *testing.T, c Config) {
			if c.Cluster == nil || !c.Cluster.Insecure {
				t.Errorf("cluster = %+v", c.Cluster)
			}
		}},
		{"cluster reachable with a key", minimal + "cluster: {bind: 10.0.0.1:7946, expected_size: 1, key: AAECAwQFBgcICQoLDA0ODw==}\n", func(t *testing.T, c Config) {
			if c.Cluster == nil || c.Cluster.Key == "" {
				t.Errorf("cluster = %+v", c.Cluster)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int    // 0: the problem has no line (the key is absent)
		path string // field path the message must name
		want string // substring of the message
	}{
		{"unknown top-level key", minimal + "listn: 1.2.3.4:5\n", 7, "", `unknown field "listn"; did you mean "listen"?`},
		{"unknown nested key", minimal + "health:\n  intervall: 1s\n", 8, "health", `unknown field "intervall"`},
		{"unknown key in list item", minimal + "  - {name: db3, adress: 127.0.0.1:1}\n", 7, "backends[2]", `did you mean "address"?`},
		{"key set twice", minimal + "listen: 127.0.0.1:1\n", 7, "listen", "set twice (first on line 1)"},
		{"duration without unit", minimal + "health:\n  interval: 5\n", 8, "health.interval", `"5" is not a duration; write a duration with its unit`},
		{"duration garbage", minimal + "limits: {connect_timeout: soon}\n", 7, "limits.connect_timeout", `"soon" is not a duration`},
		{"int garbage", minimal + "limits: {max_connections: lots}\n", 7, "limits.max_connections", `"lots" is not a whole number`},
		{"bool garbage", minimal + "  - {name: db3, address: 127.0.0.1:1, promote: maybe}\n", 7, "backends[2].promote", "write true or false"},
		{"list expected", minimal + "cluster: {bind: 127.0.0.1:1, expected_size: 1, join: 127.0.0.1:2}\n", 7, "cluster.join", "expected a list"},
		{"mapping expected", minimal + "log: json\n", 7, "log", "expected a mapping of format, level"},
		{"string expected", minimal + "region: [a, b]\n", 7, "region", "expected a string, got a list"},
		{"syntax error", "listen: [\n", 1, "", "YAML syntax"},
		{"two documents", minimal + "---\nlisten: 1.2.3.4:5\n", 7, "", "second YAML document"},
		{"listen not host:port", strings.Replace(minimal, "127.0.0.1:3306", "3306", 1), 1, "listen", `"3306" is not host:port`},
		{"admin_listen bad port", minimal + "admin_listen: 127.0.0.1:99999\n", 7, "admin_listen", "invalid port"},
		{"no users", "backends: [{name: db1, address: 127.0.0.1:1}]\n", 0, "users", "add at least one"},
		{"empty users list", "users: []\nbackends: [{name: db1, address: 127.0.0.1:1}]\n", 1, "users", "add at least one"},
		{"empty user name", strings.Replace(minimal, "name: app", "name: \"\"", 1), 3, "users[0].name", "empty user name"},
		{"missing user name", strings.Replace(minimal, "{name: app, password: app}", "{password: app}", 1), 3, "users[0].name", "empty user name"},
		{"duplicate user", strings.Replace(minimal, "backends:", "  - {name: app}\nbackends:", 1), 4, "users[1].name", `user "app" is already defined at users[0]`},
		{"empty monitor user", minimal + "monitor: {user: \"\"}\n", 7, "monitor.user", "set the account"},
		{"no backends", "users: [{name: app}]\n", 0, "backends", "add at least one"},
		{"empty backend name", minimal + "  - {address: 127.0.0.1:3403}\n", 7, "backends[2].name", "empty backend name"},
		{"duplicate backend name", minimal + "  - {name: db1, address: 127.0.0.1:3403}\n", 7, "backends[2].name", `"db1" is already used by backends[0]`},
		{"backend address not host:port", minimal + "  - {name: db3, address: foo}\n", 7, "backends[2].address", `"foo" is not host:port`},
		{"backend address without host", minimal + "  - {name: db3, address: \":3306\"}\n", 7, "backends[2].address", "has no host"},
		{"backend port zero", minimal + "  - {name: db3, address: \"127.0.0.1:0\"}\n", 7, "backends[2].address", "from 1 to 65535"},
		{"backend address missing", minimal + "  - name: db3\n    region: x\n", 7, "backends[2].address", "empty; set host:port"},
		{"duplicate backend address", minimal + "  - {name: db3, address: 127.0.0.1:3401}\n", 7, "backends[2].address", "already used by backends[0]"},
		{"cluster bind", minimal + "cluster:\n  bind: nope\n  expected_size: 1\n", 8, "cluster.bind", `"nope" is not host:port`},
		{"cluster expected_size", minimal + "cluster:\n  bind: 127.0.0.1:7946\n", 7, "cluster.expected_size", "number of proxies"},
		{"cluster expected_size negative", minimal + "cluster:\n  bind: 127.0.0.1:7946\n  expected_size: -2\n", 9, "cluster.expected_size", "is -2"},
		{"cluster join", minimal + "cluster:\n  bind: 127.0.0.1:7946\n  expected_size: 2\n  join:\n    - 127.0.0.1:7947\n    - host-without-port\n", 12, "cluster.join[1]", "is not host:port"},
		{"cluster key not base64", minimal + "cluster: {bind: 127.0.0.1:1, expected_size: 1, key: \"not base64!\"}\n", 7, "cluster.key", "not valid base64"},
		{"cluster reachable without key", minimal + "cluster:\n  bind: 0.0.0.0:7946\n  expected_size: 3\n", 8, "cluster.bind", "anyone who can reach it can vote in the failover quorum"},
		{"cluster on all interfaces without key", minimal + "cluster:\n  bind: \":7946\"\n  expected_size: 3\n", 8, "cluster.bind", "set cluster.key"},
		{"proxy protocol bad CIDR", minimal + "listen_proxy_protocol: {trusted: [10.0.0.0/8, nope]}\n", 7, "listen_proxy_protocol.trusted", `"nope" is neither a CIDR`},
		{"cluster key wrong size", minimal + "cluster: {bind: 127.0.0.1:1, expected_size: 1, key: AAECAwQ=}\n", 7, "cluster.key", "decodes to 5 bytes, need 16, 24 or 32"},
		{"tls cert without key", minimal + "tls:\n  cert: /c.pem\n", 7, "tls.key", "set both"},
		{"tls key without cert", minimal + "tls:\n  key: /k.pem\n", 7, "tls.cert", "set both"},
		{"max_connections zero", minimal + "limits:\n  max_connections: 0\n", 8, "limits.max_connections", "positive"},
		{"handshake_timeout negative", minimal + "limits:\n  handshake_timeout: -1s\n", 8, "limits.handshake_timeout", "positive"},
		{"connect_timeout zero", minimal + "limits:\n  connect_timeout: 0s\n", 8, "limits.connect_timeout", "positive"},
		{"health interval zero", minimal + "health:\n  interval: 0s\n", 8, "health.interval", "positive probe period"},
		{"health timeout zero", minimal + "health:\n  timeout: 0ms\n", 8, "health.timeout", "positive probe timeout"},
		{"admin on all interfaces without token", minimal + "admin_listen: 0.0.0.0:9090\n", 7, "admin_listen", "set admin_token"},
		{"admin on empty host without token", minimal + "admin_listen: \":9090\"\n", 7, "admin_listen", "reachable from other hosts"},
		{"admin on a host name without token", minimal + "admin_listen: proxy.internal:9090\n", 7, "admin_listen", "set admin_token"},
		{"admin token too short", minimal + "admin_token: secret\n", 7, "admin_token", "is 6 characters; use at least 16"},
		{"admin token with a space", minimal + "admin_token: \"0123456789 abcdef\"\n", 7, "admin_token", "spaces or control characters"},
		{"shutdown ready_delay negative", minimal + "shutdown:\n  ready_delay: -1s\n", 8, "shutdown.ready_delay", "0 or more"},
		{"shutdown drain_timeout negative", minimal + "shutdown:\n  drain_timeout: -5s\n", 8, "shutdown.drain_timeout", "0 or more"},
		{"log format", minimal + "log:\n  format: xml\n", 8, "log.format", "use text or json"},
		{"native hash with caching_sha2_password", strings.Replace(minimal, "{name: app, password: app}", "{name: app, password: \"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\", auth_plugin: caching_sha2_password}", 1),
			3, "users[0].password", "cannot check caching_sha2_password logins"},
		{"backend_tls mode", minimal + "backend_tls: {mode: verify}\n", 7, "backend_tls.mode", `"verify" is not a TLS mode`},
		{"backend_tls cert without key", minimal + "backend_tls:\n  mode: required\n  cert: /c.pem\n", 7, "backend_tls.key", "set both"},
		{"backend tls mode", minimal + "  - {name: db3, address: 127.0.0.1:3403, tls: {mode: on}}\n", 7, "backends[2].tls.mode", `"on" is not a TLS mode`},
		{"backend tls server_name without verify_identity", minimal + "  - {name: db3, address: 127.0.0.1:3403, tls: {mode: verify_ca, server_name: db3}}\n",
			7, "backends[2].tls.server_name", "only checked with mode verify_identity"},
		{"backend tls key without global cert", minimal + "backend_tls: {key: /k.pem}\n", 7, "backend_tls.cert", "set both"},
		{"log level", minimal + "log:\n  level: trace\n", 8, "log.level", "use debug, info, warn or error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			if len(ve.Errors) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(ve.Errors), err)
			}
			fe := ve.Errors[0]
			if fe.Line != tt.line || fe.Path != tt.path || !strings.Contains(fe.Msg, tt.want) {
				t.Errorf("got line=%d path=%q msg=%q\nwant line=%d path=%q msg containing %q",
					fe.Line, fe.Path, fe.Msg, tt.line, tt.path, tt.want)
			}
			// The rendered message leads with the line and the path.
			prefix := ""
			if tt.line > 0 {
				prefix = "line " + strconv.Itoa(tt.line) + ": "
			}
			if tt.path != "" {
				prefix += tt.path + ": "
			}
			if !strings.Contains(err.Error(), prefix) {
				t.Errorf("message %q does not contain %q", err.Error(), prefix)
			}
			if c.Backends != nil || c.Listen != "" {
				t.Errorf("on error Parse returned a non-zero Config: %+v", c)
			}
		})
	}
}

// TestParseAllProblemsAtOnce checks that validation does not stop at the
// first problem and reports in file order.
func TestParseAllProblemsAtOnce(t *testing.T) {
	const y = `listen: nowhere
users:
  - {name: app}
  - {name: app}
backends:
  - {name: db1, address: foo}
  - {name: db1, address: 127.0.0.1:1}
log: {format: xml, level: loud}
`
	_, err := Parse([]byte(y))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := []string{
		`line 1: listen: "nowhere" is not host:port`,
		`line 4: users[1].name: user "app" is already defined`,
		`line 6: backends[0].address: "foo" is not host:port`,
		`line 7: backends[1].name: backend name "db1" is already used`,
		`line 8: log.format: "xml"`,
		`line 8: log.level: "loud"`,
	}
	if len(ve.Errors) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ve.Errors), len(want), err)
	}
	for i, w := range want {
		if got := ve.Errors[i].Error(); !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want prefix %q", i, got, w)
		}
	}
	if !strings.HasPrefix(err.Error(), "invalid config (6 problems):\n  line 1: ") {
		t.Errorf("rendered error = %q", err.Error())
	}
}

// TestParseAllDecodeProblemsAtOnce: decode problems (unknown keys, types) are
// also all reported together.
func TestParseAllDecodeProblemsAtOnce(t *testing.T) {
	const y = `users: [{name: app, pasword: x}]
backends: [{name: db1, address: 127.0.0.1:1, priority: high}]
health: {interval: 1}
`
	_, err := Parse([]byte(y))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	for i, path := range []string{"users[0]", "backends[0].priority", "health.interval"} {
		if fe := ve.Errors[i]; fe.Line != i+1 || fe.Path != path {
			t.Errorf("problem %d = %v, want line %d path %s", i, fe, i+1, path)
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Default() alone must fail validation (no users, no backends), got %v", err)
	}
	for _, fe := range ve.Errors {
		if fe.Line != 0 {
			t.Errorf("problem without a file has line %d: %v", fe.Line, fe)
		}
	}
	c.Users = []User{{Name: "app"}}
	c.Backends = []Backend{{Name: "db1", Address: "127.0.0.1:3306"}}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want a not-exist error that is not ErrInvalid", err)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte(minimal+"log: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 7: log.level") {
		t.Errorf("bad file: got %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, y := range []string{"", "# only a comment\n", "~\n"} {
		_, err := Parse([]byte(y))
		if err == nil || !strings.Contains(err.Error(), "users:") || !strings.Contains(err.Error(), "backends:") {
			t.Errorf("Parse(%q) = %v, want missing users and backends", y, err)
		}
	}
}

// TestResolvePasswordHash checks that a hash read from the environment is
// held to the same rule as one in the file, with the field named.
func TestResolvePasswordHash(t *testing.T) {
	t.Setenv("SWITCHYARD_TEST_HASH", "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19")
	users, err := ResolvePasswords([]User{{Name: "app", PasswordEnv: "SWITCHYARD_TEST_HASH"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := users[0].NativeHash(); !ok {
		t.Errorf("a hash from password_env is not taken as a hash: %+v", users[0])
	}
	_, err = ResolvePasswords([]User{{Name: "app", PasswordEnv: "SWITCHYARD_TEST_HASH", AuthPlugin: "caching_sha2_password"}})
	if err == nil || !strings.HasPrefix(err.Error(), "users[0].password_env: ") || !strings.Contains(err.Error(), "caching_sha2_password") {
		t.Errorf("hash for a caching_sha2_password user: err = %v, want one naming users[0].password_env", err)
	}
	for _, notHash := range []string{"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1", "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19x", "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1Z"} {
		if IsNativeHash(notHash) {
			t.Errorf("IsNativeHash(%q) = true", notHash)
		}
	}
}

// TestParseUnknownKeysAndBadValuesInOneRound: a file with an unknown key
// and a bad value gets both reported at once, not the unknown key first and
// the value after it is fixed.
func TestParseUnknownKeysAndBadValuesInOneRound(t *testing.T) {
	y := minimal + "routing:\n  consistency: globl\n  gtid_waitt: 1s\nfailover: {cooldown: -1s}\n"
	_, err := Parse([]byte(y))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse = %v", err)
	}
	for _, want := range []string{`unknown field "gtid_waitt"`, "routing.consistency", "failover.cooldown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in one round:\n%v", want, err)
		}
	}
	// A field with a wrong type keeps its default for validation: nothing
	// is said about the default.
	_, err = Parse([]byte(minimal + "health: {interval: 5}\n"))
	if !errors.As(err, &ve) || len(ve.Errors) != 1 {
		t.Errorf("want only the type problem, got %v", err)
	}
}
