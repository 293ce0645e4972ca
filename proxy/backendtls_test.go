package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestBackendTLS restarts the primary of a private topology with a
// certificate signed by a test CA (the replicas stay without TLS) and runs
// one proxy per backend_tls policy.
func TestBackendTLS(t *testing.T) {
	topo := testenv.NewTopology(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	other := newTestCA(t, dir, "other-ca")
	cert, key := ca.issue(t, dir, "db1.test")
	enablePrimaryTLS(t, topo, ca.file, cert, key)

	// proxy starts a switchyard whose db1 has the TLS policy db1TLS and
	// whose other backends follow global.
	proxy := func(t *testing.T, global, db1TLS string) *sql.DB {
		yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "backend_tls: "+global+"\n")
		if db1TLS != "" {
			yaml = strings.Replace(yaml, "region: local}", "region: local, tls: "+db1TLS+"}", 1)
		}
		s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
		return open(t, s.Addr, "")
	}
	cipherOn := func(t *testing.T, db *sql.DB, hint string) (string, error) {
		// A SELECT, not SHOW STATUS: the proxy sends SHOW of one server's
		// state to the primary whatever the hint says.
		var cipher string
		err := db.QueryRow(fmt.Sprintf("/* switchyard: %s */ SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "+
			"WHERE VARIABLE_NAME = 'Ssl_cipher'", hint)).Scan(&cipher)
		return cipher, err
	}
	encrypted := func(t *testing.T, db *sql.DB, hint string, want bool) {
		t.Helper()
		cipher, err := cipherOn(t, db, hint)
		if err != nil {
			t.Fatalf("Ssl_cipher on the %s: %v", hint, err)
		}
		if (cipher != "") != want {
			t.Fatalf("Ssl_cipher on the %s = %q; want encrypted = %v", hint, cipher, want)
		}
	}
	refused := func(t *testing.T, db *sql.DB, hint string, wants ...string) {
		t.Helper()
		_, err := cipherOn(t, db, hint)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 2003 {
			t.Fatalf("statement on the %s: got %v, want MySQL error 2003", hint, err)
		}
		for _, w := range wants {
			if !strings.Contains(me.Message, w) {
				t.Errorf("error %q does not mention %q", me.Message, w)
			}
		}
	}

	t.Run("verify_ca with the server's CA", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", ca.file))
		encrypted(t, db, "primary", true)
		encrypted(t, db, "replica", false)
	})
	t.Run("verify_identity with the certificate's name", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_identity, ca: %q, server_name: db1.test}", ca.file))
		encrypted(t, db, "primary", true)
	})
	t.Run("verify_identity with another name", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_identity, ca: %q, server_name: db9.test}", ca.file))
		refused(t, db, "primary", "db1", "TLS", "db9.test")
	})
	t.Run("verify_ca with another CA", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", fmt.Sprintf("{mode: verify_ca, ca: %q}", other.file))
		refused(t, db, "primary", "db1", "TLS", "certificate")
		// The session survives: the replicas still answer it.
		encrypted(t, db, "replica", false)
	})
	t.Run("required on servers without TLS", func(t *testing.T) {
		db := proxy(t, "{mode: required}", "")
		encrypted(t, db, "primary", true)
		refused(t, db, "replica", "does not offer TLS")
	})
	t.Run("preferred by default", func(t *testing.T) {
		db := proxy(t, "{}", "")
		encrypted(t, db, "primary", true)
		encrypted(t, db, "replica", false)
	})
	t.Run("disabled", func(t *testing.T) {
		db := proxy(t, "{mode: disabled}", "")
		encrypted(t, db, "primary", false)
	})
}

// enablePrimaryTLS restarts the primary (db1) with a certificate: MariaDB
// 10.11 reads ssl_cert and ssl_key at start only.
func enablePrimaryTLS(t *testing.T, topo *testenv.Topo, caFile, certFile, keyFile string) {
	t.Helper()
	topo.Kill(t, topo.Primary)
	cnf := filepath.Join(topo.BaseDir, "db1", "my.cnf")
	f, err := os.OpenFile(cnf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "ssl_ca=%s\nssl_cert=%s\nssl_key=%s\n", caFile, certFile, keyFile)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	topo.Start(t)
}

// testCA is a certificate authority for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "switchyard test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

// issue signs a server certificate for dnsName and 127.0.0.1.
func (ca *testCA) issue(t *testing.T, dir, dnsName string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, dnsName+".pem"), filepath.Join(dir, dnsName+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
