package proxy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/backend"
)

// pools holds one backend connection pool per (backend, user, dialect).
// Safe for concurrent use.
type pools struct {
	cfg    backend.PoolConfig
	onWait func(time.Duration)
	// onQueue gives each backend's gate what it tells how long each
	// borrow queued (Gate.OnWait).
	onQueue func(backend string) func(waited time.Duration, granted bool)
	// active is pool.max_active_per_backend, under mu.
	active int

	mu sync.Mutex // serializes making pools; guards cfg
	// byKey holds the pools by backend.Key, made once under mu and removed
	// only when a reload retires them: every statement looks its pool up
	// here, so the lookup takes no lock. The map is replaced under mu,
	// never changed (a new pool is rare); a typed key hashes for a fraction
	// of what sync.Map's interface keys cost.
	byKey atomic.Pointer[map[backend.Key]*backend.Pool]
	// gates holds each backend's gate (by name), shared by all its pools:
	// the limit of connections lent at once to it, and its queue. The
	// router reads their load for every read it places. The map is
	// replaced, never changed (a new backend name is rare), so readers
	// take no lock. A gate outlives reloads: its limit changes in place,
	// and connections lent by retired pools still leave it.
	gates atomic.Pointer[map[string]*backend.Gate]
	// cur is the current generation, read once per borrow without a lock.
	cur atomic.Pointer[generation]

	// refused logs backend login refusals of configured users.
	refused refusedLogins

	// learned maps a mysql_native_password hash (SHA1(SHA1(password)), as
	// a string) to SHA1(password), recovered from a client's successful
	// login: what connections of a hash-only user log in with.
	learned sync.Map
}

// generation is the backends' TLS policies and the generation of pools,
// which goes up with every reload that changes a policy or the pool
// settings: pools of an older generation are closed (their lent
// connections when they come back), and the next borrows open connections
// under the new policy, within the new limits.
type generation struct {
	tlsconf.Backends
	gen uint64
}

func newPools(cfg config.Config, tls tlsconf.Backends, onWait func(time.Duration), onQueue func(string) func(time.Duration, bool)) *pools {
	p := &pools{onWait: onWait, onQueue: onQueue}
	p.gates.Store(&map[string]*backend.Gate{})
	p.byKey.Store(&map[backend.Key]*backend.Pool{})
	p.reconfigure(cfg, tls)
	return p
}

// backendCaps are the flags pooled connections use for a client with
// clientCaps: the client's dialect plus session tracking, which the proxy
// reads (GTIDs, schema) and strips for clients that did not ask for it.
func backendCaps(clientCaps uint32) uint32 {
	return clientCaps&backend.Behavioral | mysql.CLIENT_SESSION_TRACK
}

// backendExtCaps are the MariaDB extended flags asked of backend
// connections: bulk execution always (it changes nothing but what the
// server accepts, so it does not split the pools, and works for a TLS
// client whose flags the proxy cannot read), progress reports only for
// clients that asked for them (they add packets to responses).
func backendExtCaps(clientExt uint32) uint32 {
	return backend.ExtBulkOperations | clientExt&backend.ExtProgress
}

// reconfigure applies new pool and TLS settings. Changed TLS policies or
// pool settings start a new generation of pools.
func (p *pools) reconfigure(cfg config.Config, tls tlsconf.Backends) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := backend.PoolConfig{
		Max:         cfg.Pool.MaxPerBackend,
		WaitTimeout: cfg.Pool.WaitTimeout,
		IdleTimeout: cfg.Pool.IdleTimeout,
		DialTimeout: cfg.Limits.ConnectTimeout,
		OnWait:      p.onWait,
	}
	next := &generation{Backends: tls}
	if old := p.cur.Load(); old != nil {
		next.gen = old.gen
		if !old.Same(tls) || !samePoolSettings(p.cfg, pc) {
			next.gen++
		}
	}
	p.cur.Store(next)
	p.cfg = pc
	p.active = cfg.Pool.MaxActivePerBackend
	for _, g := range *p.gates.Load() {
		g.SetLimit(p.active)
	}
	var kept map[backend.Key]*backend.Pool
	for key, pool := range p.all() {
		if key.Generation < next.gen {
			pool.Close() // its idle connections now, the lent ones when they return
			continue
		}
		if kept == nil {
			kept = make(map[backend.Key]*backend.Pool)
		}
		kept[key] = pool
	}
	p.byKey.Store(&kept)
}

// samePoolSettings compares what the config sets of two pool configs.
func samePoolSettings(a, b backend.PoolConfig) bool {
	return a.Max == b.Max && a.WaitTimeout == b.WaitTimeout && a.IdleTimeout == b.IdleTimeout && a.DialTimeout == b.DialTimeout
}

// get borrows a connection to server for user in the session's dialect.
// A reload that retires the pool between the lookup and the borrow sends
// the borrow to the new generation's pool (a few times at most).
// cache is the session's (see poolCache); beside: the session holds a
// connection already (backend.Pool.GetWhere).
func (p *pools) get(ctx context.Context, cache *poolCache, server health.Server, u config.User, caps, ext uint32, collation uint8, accept func(*backend.Conn) bool, beside bool) (*backend.Conn, error) {
	for range 3 {
		cur := p.cur.Load()
		key := keyFor(server.Name, server.Address, u, caps, ext, collation, cur)
		pool := cache.get(key)
		var err error
		if pool == nil {
			if pool, err = p.pool(key, u, cur); err == nil {
				cache.put(key, pool)
			}
		}
		if err == nil {
			var c *backend.Conn
			if c, err = pool.GetWhere(ctx, accept, beside); err == nil {
				return c, nil
			}
		}
		if !errors.Is(err, backend.ErrPoolClosed) {
			p.refused.note(err, u.Name)
			return nil, err
		}
	}
	return nil, &backend.Error{Name: server.Name, Address: server.Address,
		Err: errors.New("the pools were reconfigured by reloads three times during one borrow")}
}

// keyFor is the key of the pool of backend name at address for user u in
// a client's dialect, in generation cur.
func keyFor(name, address string, u config.User, caps, ext uint32, collation uint8, cur *generation) backend.Key {
	return backend.Key{Name: name, Address: address, User: u.Name, Caps: backendCaps(caps), ExtCaps: backendExtCaps(ext),
		Collation: collation, Generation: cur.gen}
}

// poolCache is one session's memory of the pools it borrowed from last.
// The pool a statement needs is nearly always one of the few the session
// used before (the primary, a replica or two), and comparing its key with
// theirs costs less than hashing it for the shared map on every
// statement. The generation is part of the key: after a reload that
// retires pools, no entry matches and the cache starts over. Used by its
// session's goroutine only.
type poolCache struct {
	// What every entry's key has: the session's user and dialect, and
	// the generation of pools.
	user       string
	caps, ext  uint32
	collation  uint8
	generation uint64
	next       int // the entry put replaces
	entries    [3]struct {
		name, address string
		pool          *backend.Pool
	}
}

func (c *poolCache) get(key backend.Key) *backend.Pool {
	if key.User != c.user || key.Caps != c.caps || key.ExtCaps != c.ext || key.Collation != c.collation || key.Generation != c.generation {
		return nil
	}
	for i := range c.entries {
		if e := &c.entries[i]; e.pool != nil && e.name == key.Name && e.address == key.Address {
			return e.pool
		}
	}
	return nil
}

func (c *poolCache) put(key backend.Key, pool *backend.Pool) {
	if key.User != c.user || key.Caps != c.caps || key.ExtCaps != c.ext || key.Collation != c.collation || key.Generation != c.generation {
		*c = poolCache{user: key.User, caps: key.Caps, ext: key.ExtCaps, collation: key.Collation, generation: key.Generation}
	}
	e := &c.entries[c.next]
	e.name, e.address, e.pool = key.Name, key.Address, pool
	c.next = (c.next + 1) % len(c.entries)
}

// adopt makes a connection an upgrade handed over one of the pool's that
// the session would borrow it from, so that it is pooled when the session
// gives it back (it is closed instead when that pool is full).
func (p *pools) adopt(c *backend.Conn, u config.User, caps, ext uint32, collation uint8) {
	cur := p.cur.Load()
	key := keyFor(c.Name, c.Address, u, caps, ext, collation, cur)
	if pool, err := p.pool(key, u, cur); err == nil {
		pool.Adopt(c)
	}
}

// pool returns the pool for key, made on first use with u's credential
// and the backend's policy in gen.
func (p *pools) pool(key backend.Key, u config.User, gen *generation) (*backend.Pool, error) {
	if pool := p.lookup(key); pool != nil {
		return pool, nil
	}
	cred, err := p.credential(u)
	if err != nil {
		return nil, &backend.Error{Name: key.Name, Address: key.Address, Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pool := p.lookup(key); pool != nil {
		return pool, nil
	}
	if key.Generation != p.cur.Load().gen {
		// A reload started a newer generation since the caller looked:
		// a pool made for the old one now would never be retired.
		return nil, backend.ErrPoolClosed
	}
	cfg := p.cfg
	cfg.Gate = p.gateLocked(key.Name)
	pool := backend.NewPool(key, cred, gen.For(key.Name), cfg)
	m := make(map[backend.Key]*backend.Pool, len(*p.byKey.Load())+1)
	maps.Copy(m, *p.byKey.Load())
	m[key] = pool
	p.byKey.Store(&m)
	return pool, nil
}

// lookup returns the pool for key, or nil.
func (p *pools) lookup(key backend.Key) *backend.Pool {
	return (*p.byKey.Load())[key]
}

// updateCredentials gives the pools of each user the credential of users
// (the reloaded config): after a password rotation, new backend
// connections log in with the new password. A hash-only user whose new
// hash no client has logged in with yet keeps the old credential.
func (p *pools) updateCredentials(users map[string]config.User) {
	p.refused.reset()
	for key, pool := range p.all() {
		u, ok := users[key.User]
		if !ok {
			continue // a removed user cannot log in to the proxy any more
		}
		if cred, err := p.credential(u); err == nil {
			pool.SetCredential(cred)
		}
	}
}

// errNotLearned: a hash-only user's backend connections need SHA1(password),
// which only a client's login reveals.
var errNotLearned = fmt.Errorf("%w: the config holds only a mysql_native_password hash for this user, "+
	"and no client has logged in as this user since switchyard started, so switchyard cannot log in to the backend yet", backend.ErrMisconfigured)

// credential is what u's backend connections log in with.
func (p *pools) credential(u config.User) (backend.Credential, error) {
	hash, ok := u.NativeHash()
	if !ok {
		return backend.Credential{Password: u.Password}, nil
	}
	sha, ok := p.learned.Load(string(hash))
	if !ok {
		return backend.Credential{}, fmt.Errorf("user %s: %w", u.Name, errNotLearned)
	}
	return backend.Credential{PasswordSHA1: sha.([]byte)}, nil
}

// learn records SHA1(password) for a native hash, from a verified login.
func (p *pools) learn(hash, passwordSHA1 []byte) {
	p.learned.Store(string(hash), passwordSHA1)
}

// gateLocked returns the gate of the backend called name, adding it (to a
// copy of the map) on first use. p.mu is held.
func (p *pools) gateLocked(name string) *backend.Gate {
	old := *p.gates.Load()
	if g := old[name]; g != nil {
		return g
	}
	m := maps.Clone(old)
	g := backend.NewGate(p.active)
	if p.onQueue != nil {
		g.OnWait = p.onQueue(name)
	}
	m[name] = g
	p.gates.Store(&m)
	return g
}

// all yields every pool with its key.
func (p *pools) all() iter.Seq2[backend.Key, *backend.Pool] {
	return func(yield func(backend.Key, *backend.Pool) bool) {
		for k, v := range *p.byKey.Load() {
			if !yield(k, v) {
				return
			}
		}
	}
}

// inUse counts borrowed connections to a backend, over users and
// dialects, and the borrows queued for it: the router sends a read to the
// replica with the fewest.
func (p *pools) inUse(name string) int {
	if g := (*p.gates.Load())[name]; g != nil {
		return g.Load()
	}
	return 0
}

// closeIdleTo closes every idle connection to backend name: after one
// failed, the others may be as dead, and a recently used one would be lent
// without a check.
func (p *pools) closeIdleTo(name string) {
	for key, pool := range p.all() {
		if key.Name == name {
			pool.CloseIdle(true)
		}
	}
}

// closeIdle closes connections idle for too long, or all idle ones.
func (p *pools) closeIdle(all bool) {
	for _, pool := range p.all() {
		pool.CloseIdle(all)
	}
}
