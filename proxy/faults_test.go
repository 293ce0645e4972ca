package proxy_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
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

// TestUnreachableBackendThenRetry kills the primary of a private topology:
// the client gets an error naming the server, and once the server is back
// the same connection works again.
func TestUnreachableBackendThenRetry(t *testing.T) {
	topo := testenv.NewTopology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "failover: {hold_writes_timeout: 1s}\n")
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	db := open(t, s.Addr, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS retry (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	topo.Kill(t, topo.Primary)
	_, err = c.ExecContext(ctx, "INSERT INTO retry VALUES (1)")
	if err == nil {
		t.Fatal("a write with the primary killed succeeded")
	}
	if !strings.Contains(err.Error(), "db1") {
		t.Fatalf("error does not name the server: %v", err)
	}
	topo.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = c.ExecContext(ctx, "INSERT INTO retry VALUES (2)")
		if err == nil {
			break
		}
		if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
			t.Fatalf("the client connection did not survive: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume on the same connection: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTLS offers TLS with a configured certificate: a client that asks for
// it gets an encrypted session through the proxy.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), fmt.Sprintf("tls: {cert: %q, key: %q}\n", certFile, keyFile))
	s := testenv.StartSwitchyard(t, yaml, addr, admin, true)
	db := open(t, s.Addr, "tls=skip-verify")
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query over TLS: %v", err)
	}
	// The handshake really negotiated TLS: a raw TLS dial after the
	// SSLRequest is what go-sql-driver did; check the plain path also works.
	plain := open(t, s.Addr, "tls=false")
	if err := plain.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatalf("plain query: %v", err)
	}
	if err := open(t, s.Addr, "tls=true").Ping(); err == nil {
		t.Fatal("tls=true accepted a self-signed certificate: the client did not verify, so TLS was not in use")
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "switchyard-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
