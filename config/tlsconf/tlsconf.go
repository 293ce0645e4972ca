package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/switchyard/switchyard/config"
)

// ErrNoServerTLS is returned when the policy needs TLS and the server does
// not offer it.
var ErrNoServerTLS = errors.New("the server does not offer TLS (have_ssl is not YES); " +
	"configure ssl_cert and ssl_key on the server, or lower backend_tls.mode")

// Policy says whether and how a connection to one backend is encrypted.
// The zero value is disabled.
type Policy struct {
	Mode       string      // a config.TLS* mode; "" is disabled
	id         string      // the config values it came from, for Same
	config     *tls.Config // roots and client certificate; nil when disabled
	serverName string
}

// New loads the files t names. Errors name the file at fault.
func New(t config.BackendTLS) (Policy, error) {
	id := fmt.Sprintf("%+v", t)
	switch t.Mode {
	case config.TLSDisabled, "":
		return Policy{Mode: config.TLSDisabled, id: id}, nil
	case config.TLSPreferred, config.TLSRequired, config.TLSVerifyCA, config.TLSVerifyIdentity:
	default:
		return Policy{}, fmt.Errorf("unknown TLS mode %q", t.Mode)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return Policy{}, fmt.Errorf("ca: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return Policy{}, fmt.Errorf("ca: %s holds no PEM certificate", t.CA)
		}
		// The files' contents are part of what Same compares: a CA
		// replaced under the same path on reload makes new connections.
		id += fmt.Sprintf(" ca:%x", sha256.Sum256(pem))
	}
	if t.Cert != "" || t.Key != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return Policy{}, fmt.Errorf("cert/key: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
		id += fmt.Sprintf(" cert:%x", sha256.Sum256(cert.Certificate[0]))
	}
	return Policy{Mode: t.Mode, id: id, config: conf, serverName: t.ServerName}, nil
}

// Disabled reports whether the policy never encrypts.
func (p Policy) Disabled() bool { return p.Mode == config.TLSDisabled || p.Mode == "" }

// Same reports whether p and o came from the same settings.
func (p Policy) Same(o Policy) bool { return p.id == o.id && p.Mode == o.Mode }

// Encrypt tells whether to encrypt a connection to a server that offers TLS
// (serverTLS) or not; ErrNoServerTLS when the policy needs TLS it cannot
// have. Only preferred falls back to plain text.
func (p Policy) Encrypt(serverTLS bool) (bool, error) {
	switch p.Mode {
	case config.TLSDisabled, "":
		return false, nil
	case config.TLSPreferred:
		return serverTLS, nil
	}
	if !serverTLS {
		return false, ErrNoServerTLS
	}
	return true, nil
}

// ClientConfig is the tls.Config for one connection to address (host:port);
// nil when the policy is disabled.
func (p Policy) ClientConfig(address string) *tls.Config {
	if p.Disabled() {
		return nil
	}
	conf := p.config.Clone()
	if conf == nil { // a Policy built by hand rather than by New
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch p.Mode {
	case config.TLSVerifyIdentity:
		conf.ServerName = p.serverName
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(address)
		}
	case config.TLSVerifyCA:
		// Go verifies the chain and the name together; verify_ca checks the
		// chain alone, so the check is done here instead.
		conf.InsecureSkipVerify = true
		roots := conf.RootCAs
		conf.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
	default: // preferred, required: encrypted, the certificate is not checked
		conf.InsecureSkipVerify = true
	}
	return conf
}

// verifyChain checks that the server's certificate chains to roots (the
// system pool when nil), whatever name it carries.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// Backends holds the loaded policy of each configured backend. Read-only
// once built; the zero value gives every backend the disabled policy.
type Backends struct {
	byName   map[string]Policy
	fallback Policy // backend_tls, for a server no longer in the config
}

// Load reads the files of every backend's policy (backend_tls merged with
// the backend's own tls, config.Config.BackendTLSFor), once per distinct
// policy. Errors name the config field that holds the policy.
func Load(cfg config.Config) (Backends, error) {
	loaded := map[config.BackendTLS]Policy{}
	load := func(path string, t config.BackendTLS) (Policy, error) {
		if p, ok := loaded[t]; ok {
			return p, nil
		}
		p, err := New(t)
		if err != nil {
			return Policy{}, fmt.Errorf("%s: %w", path, err)
		}
		loaded[t] = p
		return p, nil
	}
	fallback, err := load("backend_tls", cfg.BackendTLS)
	if err != nil {
		return Backends{}, err
	}
	out := Backends{byName: make(map[string]Policy, len(cfg.Backends)), fallback: fallback}
	for i, b := range cfg.Backends {
		path := "backend_tls"
		if b.TLS != nil {
			path = fmt.Sprintf("backends[%d].tls (with backend_tls)", i)
		}
		if out.byName[b.Name], err = load(path, cfg.BackendTLSFor(b)); err != nil {
			return Backends{}, err
		}
	}
	return out, nil
}

// For is the policy of the backend named name; backend_tls's for a name
// the config does not hold.
func (b Backends) For(name string) Policy {
	if p, ok := b.byName[name]; ok {
		return p
	}
	return b.fallback
}

// Same reports whether o holds the same policies as b.
func (b Backends) Same(o Backends) bool {
	if !b.fallback.Same(o.fallback) || len(b.byName) != len(o.byName) {
		return false
	}
	for name, p := range b.byName {
		if op, ok := o.byName[name]; !ok || !op.Same(p) {
			return false
		}
	}
	return true
}
