package proxy

import (
	"fmt"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/backend"
)

// tlsPolicy is a loaded TLS policy and id, the config values it came from.
type tlsPolicy struct {
	backend.TLS
	id string
}

// backendTLS holds the TLS policy of each configured backend. Read-only
// once built.
type backendTLS struct {
	byName   map[string]tlsPolicy
	fallback tlsPolicy // backend_tls, for a server no longer in the config
}

// same reports whether o holds the same policies as b.
func (b backendTLS) same(o backendTLS) bool {
	if b.fallback.id != o.fallback.id || len(b.byName) != len(o.byName) {
		return false
	}
	for name, t := range b.byName {
		if ot, ok := o.byName[name]; !ok || ot.id != t.id {
			return false
		}
	}
	return true
}

func (b backendTLS) of(name string) tlsPolicy {
	if t, ok := b.byName[name]; ok {
		return t
	}
	return b.fallback
}

// loadBackendTLS reads the files of every backend's TLS policy, once per
// distinct policy. Errors name the config field that holds the policy.
func loadBackendTLS(cfg config.Config) (backendTLS, error) {
	loaded := map[config.BackendTLS]tlsPolicy{}
	load := func(path string, t config.BackendTLS) (tlsPolicy, error) {
		if p, ok := loaded[t]; ok {
			return p, nil
		}
		bt, err := backend.NewTLS(t.Mode, backend.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key, ServerName: t.ServerName})
		if err != nil {
			return tlsPolicy{}, fmt.Errorf("%s: %w", path, err)
		}
		p := tlsPolicy{TLS: bt, id: fmt.Sprintf("%+v", t)}
		loaded[t] = p
		return p, nil
	}
	fallback, err := load("backend_tls", cfg.BackendTLS)
	if err != nil {
		return backendTLS{}, err
	}
	out := backendTLS{byName: make(map[string]tlsPolicy, len(cfg.Backends)), fallback: fallback}
	for i, b := range cfg.Backends {
		path := "backend_tls"
		if b.TLS != nil {
			path = fmt.Sprintf("backends[%d].tls (with backend_tls)", i)
		}
		if out.byName[b.Name], err = load(path, cfg.BackendTLSFor(b)); err != nil {
			return backendTLS{}, err
		}
	}
	return out, nil
}
