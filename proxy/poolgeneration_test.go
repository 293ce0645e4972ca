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
		if p.lookup(key) != nil {
			t.Errorf("%s: the retired pool is still looked up", st.name)
		}
	}
	if got := p.cur.Load().For("db9").Mode; got != config.TLSDisabled {
		t.Errorf("a backend no longer configured gets mode %q, want backend_tls's %q", got, config.TLSDisabled)
	}
}

// TestPoolCache checks a session's memory of its pools: a key it was given
// comes back with its pool; a key that differs in anything (the backend's
// name or address, the user, the dialect, the pool generation) does not;
// a fourth pool replaces the oldest; another user or generation starts
// the memory over.
func TestPoolCache(t *testing.T) {
	pools := [5]*backend.Pool{}
	for i := range pools {
		pools[i] = new(backend.Pool)
	}
	key := func(name string) backend.Key {
		return backend.Key{Name: name, Address: name + ":3306", User: "app", Caps: 7, ExtCaps: 1, Collation: 45, Generation: 2}
	}
	var c poolCache
	if got := c.get(key("db1")); got != nil {
		t.Fatalf("empty cache: %p, want nil", got)
	}
	c.put(key("db1"), pools[0])
	c.put(key("db2"), pools[1])
	c.put(key("db3"), pools[2])
	other := func(change func(*backend.Key)) backend.Key { k := key("db1"); change(&k); return k }
	cases := []struct {
		name string
		key  backend.Key
		want *backend.Pool
	}{
		{"db1", key("db1"), pools[0]},
		{"db2", key("db2"), pools[1]},
		{"db3", key("db3"), pools[2]},
		{"another backend", key("db4"), nil},
		{"same name, another address", other(func(k *backend.Key) { k.Address = "10.0.0.9:3306" }), nil},
		{"another user", other(func(k *backend.Key) { k.User = "root" }), nil},
		{"another dialect", other(func(k *backend.Key) { k.Caps = 8 }), nil},
		{"other extended flags", other(func(k *backend.Key) { k.ExtCaps = 0 }), nil},
		{"another collation", other(func(k *backend.Key) { k.Collation = 8 }), nil},
		{"a newer generation", other(func(k *backend.Key) { k.Generation = 3 }), nil},
	}
	for _, tc := range cases {
		if got := c.get(tc.key); got != tc.want {
			t.Errorf("%s: %p, want %p", tc.name, got, tc.want)
		}
	}
	c.put(key("db4"), pools[3]) // replaces db1, the oldest
	if got := c.get(key("db1")); got != nil {
		t.Errorf("db1 after a fourth pool: %p, want nil", got)
	}
	if got := c.get(key("db4")); got != pools[3] {
		t.Errorf("db4: %p, want %p", got, pools[3])
	}
	newer := key("db2")
	newer.Generation = 3
	c.put(newer, pools[4])
	if got := c.get(newer); got != pools[4] {
		t.Errorf("db2 of generation 3: %p, want %p", got, pools[4])
	}
	if got := c.get(key("db4")); got != nil {
		t.Errorf("db4 of generation 2 after generation 3 came: %p, want nil", got)
	}
}
