package classify

import (
	"strconv"
	"strings"
	"time"
)

// Hint comments. Accepted in any comment of the statement (/* */, -- , #):
//
//	/* switchyard: primary */
//	/* switchyard: replica, max_staleness=500ms */
//	/* switchyard: consistency=session */          eventual|session|global|primary
//	-- maxscale route to master                     (alias of primary)
//	-- maxscale route to slave                      (alias of replica)
//
// Items are separated by commas or spaces; later items win. "master" and
// "slave" are accepted for primary and replica, and "route=primary" for
// "primary". max_staleness takes a Go duration ("2s", "500ms") or whole
// seconds ("2"). An item that cannot be read is reported in Hint.Invalid and
// otherwise ignored.

// hintComment reads a comment body and, if it is a hint, applies it.
func (l *lexer) hintComment(body string) {
	b := trimSpace(body)
	switch {
	case hasPrefixFold(b, "switchyard"):
		rest := trimSpace(b[len("switchyard"):])
		if len(rest) == 0 || rest[0] != ':' {
			return // "switchyard" in an ordinary comment
		}
		parseHintItems(rest[1:], &l.hint)
	case hasPrefixFold(b, "maxscale") && (len(b) == len("maxscale") || class[b[len("maxscale")]]&cSpace != 0):
		parseMaxScale(b[len("maxscale"):], &l.hint)
	}
}

func parseHintItems(s string, h *Hint) {
	i, n := 0, len(s)
	for i < n {
		for i < n && (class[s[i]]&cSpace != 0 || s[i] == ',') {
			i++
		}
		if i >= n {
			return
		}
		start := i
		for i < n && hintKeyByte(s[i]) {
			i++
		}
		key := s[start:i]
		if key == "" { // not a word: report up to the next separator
			for i < n && class[s[i]]&cSpace == 0 && s[i] != ',' {
				i++
			}
			invalidHint(h, s[start:i])
			continue
		}
		j := i
		for j < n && class[s[j]]&cSpace != 0 {
			j++
		}
		if j < n && s[j] == '=' {
			j++
			for j < n && class[s[j]]&cSpace != 0 {
				j++
			}
			vs := j
			for j < n && class[s[j]]&cSpace == 0 && s[j] != ',' {
				j++
			}
			applyHintValue(h, key, s[vs:j], s[start:j])
			i = j
			continue
		}
		if !setRoute(h, key) {
			invalidHint(h, key)
		}
	}
}

// setRoute sets h.Route from a route name (primary/master, replica/slave)
// and says whether it was one.
func setRoute(h *Hint, name string) bool {
	switch {
	case equalFoldLower(name, "primary"), equalFoldLower(name, "master"):
		h.Route = HintPrimary
	case equalFoldLower(name, "replica"), equalFoldLower(name, "slave"):
		h.Route = HintReplica
	default:
		return false
	}
	return true
}

func applyHintValue(h *Hint, key, val, item string) {
	switch {
	case equalFoldLower(key, "route"):
		if !setRoute(h, val) {
			invalidHint(h, item)
		}
	case equalFoldLower(key, "consistency"):
		for _, c := range [...]string{"eventual", "session", "global", "primary"} {
			if equalFoldLower(val, c) {
				h.Consistency = c
				return
			}
		}
		invalidHint(h, item)
	case equalFoldLower(key, "max_staleness"):
		d, err := time.ParseDuration(val)
		if err != nil {
			secs, err2 := strconv.ParseUint(val, 10, 32)
			if err2 != nil {
				invalidHint(h, item)
				return
			}
			d = time.Duration(secs) * time.Second
		}
		if d < 0 {
			invalidHint(h, item)
			return
		}
		h.MaxStaleness = d
	default:
		invalidHint(h, item)
	}
}

// parseMaxScale reads the body after "maxscale": "route to master" or
// "route to slave". Other MaxScale hints (route to server X, named hints)
// are reported as invalid: Switchyard has no equivalent.
func parseMaxScale(s string, h *Hint) {
	var words [3]string
	rest := s
	for k := range words {
		rest = trimSpace(rest)
		e := 0
		for e < len(rest) && class[rest[e]]&cSpace == 0 {
			e++
		}
		words[k], rest = rest[:e], rest[e:]
	}
	if equalFoldLower(words[0], "route") && equalFoldLower(words[1], "to") && trimSpace(rest) == "" {
		switch {
		case equalFoldLower(words[2], "master"), equalFoldLower(words[2], "primary"):
			h.Route = HintPrimary
			return
		case equalFoldLower(words[2], "slave"), equalFoldLower(words[2], "replica"):
			h.Route = HintReplica
			return
		}
	}
	invalidHint(h, trimSpace(s))
}

func invalidHint(h *Hint, item string) {
	if h.Invalid == "" {
		h.Invalid = strings.Clone(item)
		if h.Invalid == "" {
			h.Invalid = "(empty)"
		}
	}
}

func hintKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && class[s[i]]&cSpace != 0 {
		i++
	}
	for j > i && class[s[j-1]]&cSpace != 0 {
		j--
	}
	return s[i:j]
}
