package backend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLS modes, as MySQL clients name them (--ssl-mode).
const (
	TLSDisabled       = "disabled"        // never encrypt
	TLSPreferred      = "preferred"       // encrypt when the server offers TLS, without checking its certificate
	TLSRequired       = "required"        // encrypt or fail, without checking the certificate
	TLSVerifyCA       = "verify_ca"       // encrypt, and the certificate must chain to the CA
	TLSVerifyIdentity = "verify_identity" // verify_ca, and the certificate must name the server
)

// TLSFiles are the PEM files of a TLS policy; empty names are unset.
type TLSFiles struct {
	CA, Cert, Key string
	ServerName    string // the name verify_identity expects; default: the host of the address
}

// TLS says whether and how a backend connection is encrypted. The zero
// value is TLSDisabled. It is built once (NewTLS) and shared read-only.
type TLS struct {
	Mode       string
	config     *tls.Config // roots and client certificate; nil when disabled
	serverName string
}

// NewTLS loads the files a policy names. Errors name the file at fault.
func NewTLS(mode string, f TLSFiles) (TLS, error) {
	switch mode {
	case TLSDisabled, "":
		return TLS{Mode: TLSDisabled}, nil
	case TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	default:
		return TLS{}, fmt.Errorf("unknown TLS mode %q", mode)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return TLS{}, fmt.Errorf("ca: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return TLS{}, fmt.Errorf("ca: %s holds no PEM certificate", f.CA)
		}
	}
	if f.Cert != "" || f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return TLS{}, fmt.Errorf("cert/key: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return TLS{Mode: mode, config: conf, serverName: f.ServerName}, nil
}

// errNoServerTLS is returned when the policy needs TLS and the server does
// not offer it.
var errNoServerTLS = fmt.Errorf("%w: the server does not offer TLS (have_ssl is not YES); "+
	"configure ssl_cert and ssl_key on the server, or lower backend_tls.mode", ErrMisconfigured)

// use tells whether to encrypt a connection to a server that offers TLS
// (serverTLS) or not; an error when the policy needs TLS it cannot have.
func (t TLS) use(serverTLS bool) (bool, error) {
	switch t.Mode {
	case TLSDisabled, "":
		return false, nil
	case TLSPreferred:
		return serverTLS, nil
	}
	if !serverTLS {
		return false, errNoServerTLS
	}
	return true, nil
}

// clientConfig is the tls.Config for one connection to address.
func (t TLS) clientConfig(address string) *tls.Config {
	conf := t.config.Clone()
	switch t.Mode {
	case TLSVerifyIdentity:
		conf.ServerName = t.serverName
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(address)
		}
	case TLSVerifyCA:
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
