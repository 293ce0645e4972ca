package config

import "fmt"

// BackendTLS says how the proxy encrypts its connections to backends: the
// data path and the monitor account's sessions (probes, promotion, fencing,
// KILL) alike; package tlsconf loads it. The
// modes are MySQL's --ssl-mode: disabled, preferred (encrypt when the server
// offers TLS), required (encrypt or fail), verify_ca (and the certificate
// chains to CA), verify_identity (and names the server). Certificates are
// not checked in preferred and required, as in MySQL.
//
// backend_tls applies to every backend; a backend's own tls sets the fields
// it names and inherits the rest. Files are read at start and on reload.
type BackendTLS struct {
	Mode string `yaml:"mode"`
	// CA is the PEM file of the CAs that sign the servers' certificates;
	// empty means the system's roots.
	CA string `yaml:"ca"`
	// Cert and Key are a client certificate, for servers that require one
	// (REQUIRE X509).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name verify_identity expects in the certificate;
	// default: the host of the backend's address.
	ServerName string `yaml:"server_name"`
}

// TLS modes for BackendTLS.Mode.
const (
	TLSDisabled       = "disabled"
	TLSPreferred      = "preferred"
	TLSRequired       = "required"
	TLSVerifyCA       = "verify_ca"
	TLSVerifyIdentity = "verify_identity"
)

func defaultBackendTLS() BackendTLS {
	// preferred, as MySQL clients default to: encrypted wherever the server
	// is set up for it, and no change for servers that are not.
	return BackendTLS{Mode: TLSPreferred}
}

// BackendTLSFor is the TLS policy of backend b: backend_tls with the fields
// b.tls sets.
func (c Config) BackendTLSFor(b Backend) BackendTLS {
	t := c.BackendTLS
	if b.TLS == nil {
		return t
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&t.Mode, b.TLS.Mode}, {&t.CA, b.TLS.CA}, {&t.Cert, b.TLS.Cert}, {&t.Key, b.TLS.Key}, {&t.ServerName, b.TLS.ServerName},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	return t
}

func (c Config) validateBackendTLS(p *problems) {
	checkTLSMode(p, "backend_tls.mode", c.BackendTLS.Mode, false)
	checkBackendTLS(p, "backend_tls", c.BackendTLS)
	for i, b := range c.Backends {
		if b.TLS == nil {
			continue
		}
		path := fmt.Sprintf("backends[%d].tls", i)
		checkTLSMode(p, path+".mode", b.TLS.Mode, true)
		checkBackendTLS(p, path, c.BackendTLSFor(b))
	}
}

func checkTLSMode(p *problems, path, mode string, inherit bool) {
	switch mode {
	case TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	case "":
		if !inherit {
			p.add(path, "empty; use disabled, preferred, required, verify_ca or verify_identity (default %s)", TLSPreferred)
		}
	default:
		p.add(path, "%q is not a TLS mode; use disabled, preferred, required, verify_ca or verify_identity", mode)
	}
}

// checkBackendTLS checks a merged policy; path is where its fields are set.
func checkBackendTLS(p *problems, path string, t BackendTLS) {
	switch {
	case t.Cert != "" && t.Key == "":
		p.add(path+".key", "cert is set but key is not; set both to present a client certificate, or neither")
	case t.Cert == "" && t.Key != "":
		p.add(path+".cert", "key is set but cert is not; set both to present a client certificate, or neither")
	}
	if t.ServerName != "" && t.Mode != TLSVerifyIdentity {
		p.add(path+".server_name", "is only checked with mode verify_identity (mode is %s); remove it or set mode: verify_identity", t.Mode)
	}
}
