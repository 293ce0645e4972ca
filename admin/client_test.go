package admin

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	h := New(Options{Topology: newTopo(healthy()), Token: testToken, Digests: &fakeDigests{}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()

	c, err := NewClient(strings.TrimPrefix(srv.URL, "http://"), testToken)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Primary != "db1" || len(v.Servers) != 3 || *v.Servers[1].LagSeconds != 1.5 {
		t.Errorf("topology = %+v", v)
	}
	d, err := c.Digests(ctx, 10)
	if err != nil || len(d) != 1 || d[0].Digest != "abc" {
		t.Errorf("digests = %+v, %v", d, err)
	}

	bad, _ := NewClient(srv.URL, "wrong-token-0123456789")
	if _, err := bad.Topology(ctx); err == nil || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("wrong token: %v", err)
	}

	noDigests := httptest.NewServer(New(Options{Topology: newTopo(healthy())}))
	defer noDigests.Close()
	c2, _ := NewClient(noDigests.URL, "")
	if _, err := c2.Digests(ctx, 10); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("digests without a source: %v", err)
	}
}

func TestNewClientAddress(t *testing.T) {
	for _, tt := range []struct {
		addr, base string
		ok         bool
	}{
		{"127.0.0.1:9090", "http://127.0.0.1:9090", true},
		{"http://127.0.0.1:9090/", "http://127.0.0.1:9090", true},
		{"https://proxy.example:9090", "https://proxy.example:9090", true},
		{"ftp://x:1", "", false},
		{"", "", false},
	} {
		c, err := NewClient(tt.addr, "")
		if (err == nil) != tt.ok {
			t.Errorf("NewClient(%q) err = %v", tt.addr, err)
			continue
		}
		if tt.ok && c.base != tt.base {
			t.Errorf("NewClient(%q).base = %q, want %q", tt.addr, c.base, tt.base)
		}
	}
}
