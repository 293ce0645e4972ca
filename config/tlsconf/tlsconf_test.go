package tlsconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      config.BackendTLS
		wantErr string
	}{
		{"empty mode is disabled", config.BackendTLS{}, ""},
		{"preferred without files", config.BackendTLS{Mode: config.TLSPreferred}, ""},
		{"unknown mode", config.BackendTLS{Mode: "sometimes"}, `unknown TLS mode "sometimes"`},
		{"missing CA", config.BackendTLS{Mode: config.TLSVerifyCA, CA: filepath.Join(dir, "nope.pem")}, "ca: open"},
		{"CA without a certificate", config.BackendTLS{Mode: config.TLSVerifyCA, CA: notPEM}, "holds no PEM certificate"},
		{"bad client certificate", config.BackendTLS{Mode: config.TLSRequired, Cert: notPEM, Key: notPEM}, "cert/key:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEncrypt(t *testing.T) {
	tests := []struct {
		mode              string
		offered, notOffer bool // encrypt when the server offers TLS / when it does not
		failsWithout      bool // ErrNoServerTLS when it does not
	}{
		{config.TLSDisabled, false, false, false},
		{config.TLSPreferred, true, false, false},
		{config.TLSRequired, true, false, true},
		{config.TLSVerifyCA, true, false, true},
		{config.TLSVerifyIdentity, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p, err := New(config.BackendTLS{Mode: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := p.Encrypt(true); got != tt.offered || err != nil {
				t.Errorf("Encrypt(offered) = %v, %v; want %v", got, err, tt.offered)
			}
			got, err := p.Encrypt(false)
			if got != tt.notOffer || errors.Is(err, ErrNoServerTLS) != tt.failsWithout {
				t.Errorf("Encrypt(not offered) = %v, %v; want %v, fails %v", got, err, tt.notOffer, tt.failsWithout)
			}
			if (p.ClientConfig("127.0.0.1:3306") == nil) != (tt.mode == config.TLSDisabled) {
				t.Errorf("ClientConfig nil = %v for mode %s", p.ClientConfig("127.0.0.1:3306") == nil, tt.mode)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	cfg := config.Default()
	cfg.Backends = []config.Backend{
		{Name: "db1", Address: "127.0.0.1:1"},
		{Name: "db2", Address: "127.0.0.1:2", TLS: &config.BackendTLS{Mode: config.TLSRequired}},
	}
	b, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"db1": config.TLSPreferred, "db2": config.TLSRequired, "db9": config.TLSPreferred} {
		if got := b.For(name).Mode; got != want {
			t.Errorf("For(%s).Mode = %s, want %s", name, got, want)
		}
	}
	again, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Same(again) {
		t.Error("two loads of one config are not Same")
	}
	cfg.Backends[1].TLS = &config.BackendTLS{Mode: config.TLSVerifyCA, CA: filepath.Join(t.TempDir(), "gone.pem")}
	if _, err := Load(cfg); err == nil || !strings.HasPrefix(err.Error(), "backends[1].tls (with backend_tls): ca: open") {
		t.Errorf("Load with a missing CA: %v; want the field and the file named", err)
	}
	cfg.Backends[1].TLS = &config.BackendTLS{Mode: config.TLSDisabled}
	changed, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Same(changed) {
		t.Error("a changed backend policy is Same")
	}
}

// TestSameSeesReplacedFiles: a CA replaced under the same path is a
// different policy, so a reload makes new connections with it.
func TestSameSeesReplacedFiles(t *testing.T) {
	dir := t.TempDir()
	first := testenv.NewCA(t, dir, "first")
	second := testenv.NewCA(t, dir, "second")
	path := filepath.Join(dir, "ca.pem")
	use := func(caFile string) Policy {
		t.Helper()
		b, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := New(config.BackendTLS{Mode: config.TLSVerifyCA, CA: path})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, again, b := use(first.File), use(first.File), use(second.File)
	if !a.Same(again) {
		t.Error("the same CA file read twice is not Same")
	}
	if a.Same(b) {
		t.Error("a CA replaced under the same path is Same")
	}
}
