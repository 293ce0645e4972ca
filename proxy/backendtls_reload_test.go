package proxy

import (
	"testing"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
)

// TestTLSGeneration checks that a reload makes new pools exactly when a
// backend's TLS policy changed: connections opened under an old policy are
// never borrowed again, and reloads that leave TLS alone keep the pools.
func TestTLSGeneration(t *testing.T) {
	base := config.Default()
	base.Backends = []config.Backend{{Name: "db1", Address: "127.0.0.1:1"}, {Name: "db2", Address: "127.0.0.1:2"}}
	withDB2 := func(mode string) config.Config {
		c := base
		c.Backends = append([]config.Backend(nil), base.Backends...)
		c.Backends[1].TLS = &config.BackendTLS{Mode: mode}
		return c
	}
	load := func(c config.Config) tlsconf.Backends {
		t.Helper()
		tls, err := tlsconf.Load(c)
		if err != nil {
			t.Fatal(err)
		}
		return tls
	}
	p := newPools(base, load(base), nil)
	steps := []struct {
		name string
		cfg  config.Config
		gen  uint64
	}{
		{"same policies", base, 0},
		{"db2 required", withDB2(config.TLSRequired), 1},
		{"db2 still required, pool settings changed", func() config.Config { c := withDB2(config.TLSRequired); c.Pool.MaxPerBackend = 3; return c }(), 1},
		{"db2 back to the default", base, 2},
		{"backend_tls disabled", func() config.Config { c := base; c.BackendTLS.Mode = config.TLSDisabled; return c }(), 3},
	}
	for _, st := range steps {
		p.reconfigure(st.cfg, load(st.cfg))
		if got := p.tls.Load().gen; got != st.gen {
			t.Errorf("%s: generation %d, want %d", st.name, got, st.gen)
		}
	}
	if got := p.tls.Load().For("db9").Mode; got != config.TLSDisabled {
		t.Errorf("a backend no longer configured gets mode %q, want backend_tls's %q", got, config.TLSDisabled)
	}
}
