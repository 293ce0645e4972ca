package router

import (
	"errors"

	"github.com/switchyard/switchyard/health"
)

// ErrNoPrimary means no server is known to be a writable primary right now.
var ErrNoPrimary = errors.New("no primary is available")

// Decision is where a statement runs and why.
type Decision struct {
	Backend health.Server
	Reason  string
}

// Route picks the backend for a statement.
func Route(topo *health.Topology) (Decision, error) {
	if topo == nil {
		return Decision{}, ErrNoPrimary
	}
	p, ok := topo.Primary()
	if !ok {
		return Decision{}, ErrNoPrimary
	}
	return Decision{Backend: p, Reason: "primary"}, nil
}
