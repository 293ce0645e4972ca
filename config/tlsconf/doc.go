// Package tlsconf turns the backend_tls settings of the config into loaded
// TLS policies: it checks the mode, reads the CA, certificate and key files,
// and builds the *tls.Config of each connection (verify_ca checks the chain
// alone, verify_identity the chain and the name, preferred and required check
// nothing, as MySQL clients do).
//
// It is a leaf below both users of the policy: the proxy's data path
// (proxy/backend, which runs the MySQL handshake itself) and the monitor
// account's sessions (health's probes, failover's promotions and fences, the
// proxy's KILL), which go through go-mysql's client. The import rule
// cmd → proxy → router → health → config keeps health from importing
// proxy/backend, so the policy lives here, once, and the MySQL protocol stays
// with each user.
//
// Concurrency: a Policy and a Backends are built once (New, Load) and are
// read-only afterwards; share them freely. Files are read only by New and
// Load, at start and on reload.
package tlsconf
