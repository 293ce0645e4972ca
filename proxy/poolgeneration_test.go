package proxy

import (
	"errors"
	"testing"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/proxy/backend"
)

// TestPoolGeneration checks that a reload makes new pools exactly when a
// backend's TLS policy or the pool settings changed: connections opened
// under an old policy or limit are never borrowed again (the old pools are
// closed), and reloads that change neither keep the pools.
func TestPoolGeneration(t *testing.T) {
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
	p := newPools(base, load(base), nil, nil)
	steps := []struct {
		name string
		cfg  config.Config
		gen  uint64
	}{
		{"same policies", base, 0},
		{"db2 required", withDB2(config.TLSRequired), 1},
		{"db2 still required, routing changed", func() config.Config { c := withDB2(config.TLSRequired); c.Routing.MaxReplicaLag *= 2; return c }(), 1},
		{"db2 still required, pool size changed", func() config.Config { c := withDB2(config.TLSRequired); c.Pool.MaxPerBackend = 3; return c }(), 2},
		{"db2 back to the default, pool size back", base, 3},
		{"pool wait timeout changed", func() config.Config { c := base; c.Pool.WaitTimeout *= 2; return c }(), 4},
		{"backend_tls disabled", func() config.Config { c := base; c.BackendTLS.Mode = config.TLSDisabled; return c }(), 5},
	}
	for _, st := range steps {
		// A pool of the generation before: a reload that starts a new
		// one closes it.
		key := backend.Key{Name: "db1", Address: "127.0.0.1:1", User: "app", Generation: p.cur.Load().gen}
		old, err := p.pool(key, config.User{Name: "app", Password: "app"}, p.cur.Load())
		if err != nil {
			t.Fatal(err)
		}
		p.reconfigure(st.cfg, load(st.cfg))
		gen := p.cur.Load().gen
		if gen != st.gen {
			t.Errorf("%s: generation %d, want %d", st.name, gen, st.gen)
		}
		if closed := old.Closed(); closed != (gen != key.Generation) {
			t.Errorf("%s: the pool of generation %d is closed: %v, want %v", st.name, key.Generation, closed, !closed)
		}
		if gen == key.Generation {
			continue
		}
		// A borrow that looked before the reload: the retired pool lends
		// nothing, and none is made again for the old generation.
		if _, err := old.Get(t.Context()); !errors.Is(err, backend.ErrPoolClosed) {
			t.Errorf("%s: Get on the retired pool: %v, want ErrPoolClosed", st.name, err)
		}
		if _, err := p.pool(key, config.User{Name: "app", Password: "app"}, p.cur.Load()); !errors.Is(err, backend.ErrPoolClosed) {
			t.Errorf("%s: a pool of the old generation after the reload: %v, want ErrPoolClosed", st.name, err)
		}
		if _, ok := p.byKey.Load(key); ok {
			t.Errorf("%s: the retired pool is still looked up", st.name)
		}
	}
	if got := p.cur.Load().For("db9").Mode; got != config.TLSDisabled {
		t.Errorf("a backend no longer configured gets mode %q, want backend_tls's %q", got, config.TLSDisabled)
	}
}
