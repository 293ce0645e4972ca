package proxy

import (
	"strings"
	"sync"

	"github.com/switchyard/switchyard/router/classify"
)

// maxLoggedHints bounds how many distinct unreadable hints are logged:
// the items are application text, so their number is not ours to bound.
const maxLoggedHints = 64

// invalidHints logs each unreadable hint item once, and counts them all
// (switchyard_hints_invalid_total): a misspelt /* switchyard: primry */ is
// otherwise ignored without a word, and the statement runs where the hint
// meant it not to.
type invalidHints struct {
	mu     sync.Mutex
	logged map[string]struct{}
}

// noteHint counts and logs, once per item, a hint the classifier could not
// read. EXPLAIN ROUTE shows it too (describeHint).
func (s *Session) noteHint(h classify.Hint) {
	if h.Invalid == "" {
		return
	}
	s.srv.metrics.hintsInvalid.Inc()
	ih := &s.srv.invalidHints
	ih.mu.Lock()
	_, seen := ih.logged[h.Invalid]
	first := !seen && len(ih.logged) < maxLoggedHints
	if first {
		if ih.logged == nil {
			ih.logged = map[string]struct{}{}
		}
		ih.logged[h.Invalid] = struct{}{}
	}
	ih.mu.Unlock()
	if first {
		s.log.Warn("a switchyard hint could not be read and was ignored; the rest of the hint applies. "+
			"Known: primary, replica, consistency=eventual|session|global|primary, max_staleness=DURATION",
			"hint", h.Invalid)
	}
}

// describeHint says what a statement's hint asked for, for EXPLAIN ROUTE:
// "primary", "replica,max_staleness=2s", "none", or with
// "ignored=ITEM" for what could not be read.
func describeHint(h classify.Hint) string {
	var parts []string
	switch h.Route {
	case classify.HintPrimary:
		parts = append(parts, "primary")
	case classify.HintReplica:
		parts = append(parts, "replica")
	}
	if h.Consistency != "" {
		parts = append(parts, "consistency="+h.Consistency)
	}
	if h.MaxStaleness > 0 {
		parts = append(parts, "max_staleness="+h.MaxStaleness.String())
	}
	if h.Invalid != "" {
		parts = append(parts, "ignored="+h.Invalid)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// sessionPins names why the session is pinned to its backend connection
// ("user_variable,temporary_table"), or "none".
func sessionPins(pins uint16) string {
	if pins == 0 {
		return "none"
	}
	names := classify.Pin(pins &^ pinConnectionID).String()
	if pins&pinConnectionID == 0 {
		return names
	}
	if pins == pinConnectionID {
		return "connection_id"
	}
	return names + ",connection_id"
}
