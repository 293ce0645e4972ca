package proxy

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/switchyard/switchyard/proxy/backend"
)

// refusedLogins logs a backend's refusal of a configured user's password
// once per backend and user: every statement of every session of that user
// fails the same way, and one line with the field to fix says it all. A
// reload (a new password) logs the next refusal again.
type refusedLogins struct {
	log  *slog.Logger // nil discards
	seen sync.Map     // "backend\x00user" → struct{}
}

// note logs err if it is the first login refusal for its backend and user.
func (r *refusedLogins) note(err error, user string) {
	var be *backend.Error
	if r == nil || r.log == nil || !errors.Is(err, backend.ErrLoginRefused) || !errors.As(err, &be) {
		return
	}
	if _, dup := r.seen.LoadOrStore(be.Name+"\x00"+user, struct{}{}); dup {
		return
	}
	r.log.Error("backend refused switchyard's configured password for a user: fix users[].password (or the account on the server) and reload; "+
		"clients of this user get 1429 until then", "backend", be.Name, "address", be.Address, "user", user, "field", "users[].password", "err", be.Server)
}

// reset forgets what was logged (after a reload).
func (r *refusedLogins) reset() { r.seen.Clear() }
