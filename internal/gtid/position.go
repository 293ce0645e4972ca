package gtid

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadPosition means a GTID position or set could not be parsed.
var ErrBadPosition = errors.New("gtid: bad GTID position")

// Position is a replication position: what a server has (or must have)
// applied. For MariaDB it is a GTID position, one domain-server-seq per
// domain ("0-1-42,1-2-7"); in strict mode sequence numbers grow within a
// domain, so a position covers every transaction of its domains up to seq.
// For MySQL it is a GTID set ("uuid:1-5:7,uuid2:1-3").
//
// The zero Position is empty and contains nothing. A Position is a value;
// methods never modify their receiver.
type Position struct {
	flavor Flavor
	maria  map[uint32]mariaGTID // domain → last GTID
	mysql  map[string][]span    // lower-case source uuid → sorted, disjoint, non-adjacent spans
}

type mariaGTID struct {
	server uint32
	seq    uint64
}

// span is the closed interval [lo, hi] of transaction numbers.
type span struct{ lo, hi uint64 }

// Parse reads a position in either flavor, as the server prints it (MySQL
// may break long sets across lines), telling the flavors apart by form: a
// MySQL set names source uuids ("uuid:1-5"), a MariaDB position never has
// a colon. An empty string is the zero Position, which merges with and is
// covered by either flavor.
func Parse(s string) (Position, error) {
	if strings.IndexByte(s, ':') >= 0 {
		return ParseAs(MySQL, s)
	}
	if strings.TrimSpace(s) == "" {
		return Position{}, nil
	}
	return ParseAs(MariaDB, s)
}

// ParseAs parses a position of flavor f; an empty string is f's empty
// position.
func ParseAs(f Flavor, s string) (Position, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Join(strings.Fields(s), "")
	}
	switch f {
	case MariaDB:
		return parseMaria(s)
	case MySQL:
		return parseMySQL(s)
	default:
		return Position{}, fmt.Errorf("%w: unknown flavor %q", ErrBadPosition, f)
	}
}

// MustParse is Parse for tests and constants; it panics on error.
func MustParse(s string) Position {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func parseMaria(s string) (Position, error) {
	p := Position{flavor: MariaDB, maria: map[uint32]mariaGTID{}}
	if s == "" {
		return p, nil
	}
	for g := range strings.SplitSeq(s, ",") {
		d, sv, n, err := ParseMariaGTID(g)
		if err != nil {
			return Position{}, err
		}
		if old, ok := p.maria[d]; !ok || n > old.seq {
			p.maria[d] = mariaGTID{server: sv, seq: n}
		}
	}
	return p, nil
}

// ParseMariaGTID splits one MariaDB GTID "domain-server-seq".
func ParseMariaGTID(g string) (domain, server uint32, seq uint64, err error) {
	a, rest, ok1 := strings.Cut(g, "-")
	b, c, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return 0, 0, 0, fmt.Errorf("%w: %q is not domain-server-seq", ErrBadPosition, g)
	}
	d, err1 := strconv.ParseUint(a, 10, 32)
	sv, err2 := strconv.ParseUint(b, 10, 32)
	n, err3 := strconv.ParseUint(c, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, fmt.Errorf("%w: %q is not domain-server-seq", ErrBadPosition, g)
	}
	return uint32(d), uint32(sv), n, nil
}

func parseMySQL(s string) (Position, error) {
	p := Position{flavor: MySQL, mysql: map[string][]span{}}
	if s == "" {
		return p, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Split(part, ":")
		if len(fields) < 2 || !isUUID(fields[0]) {
			return Position{}, fmt.Errorf("%w: %q is not uuid:interval[:interval...]", ErrBadPosition, part)
		}
		uuid := strings.ToLower(fields[0])
		for _, iv := range fields[1:] {
			a, b, isRange := strings.Cut(iv, "-")
			lo, err := strconv.ParseUint(a, 10, 64)
			if err != nil || lo == 0 {
				return Position{}, fmt.Errorf("%w: bad interval %q in %q", ErrBadPosition, iv, part)
			}
			hi := lo
			if isRange {
				if hi, err = strconv.ParseUint(b, 10, 64); err != nil || hi < lo {
					return Position{}, fmt.Errorf("%w: bad interval %q in %q", ErrBadPosition, iv, part)
				}
			}
			p.mysql[uuid] = addSpan(p.mysql[uuid], span{lo, hi})
		}
	}
	return p, nil
}

// isUUID reports whether s is a uuid as MySQL prints it: 8-4-4-4-12 hex
// digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// addSpan inserts s into the normalized list spans.
func addSpan(spans []span, s span) []span {
	out := make([]span, 0, len(spans)+1)
	for _, x := range spans {
		switch {
		case x.hi+1 < s.lo: // entirely before
			out = append(out, x)
		case s.hi+1 < x.lo: // entirely after: s goes first
			out = append(out, s)
			s = x
		default: // overlap or adjacent: merge into s
			s = span{min(s.lo, x.lo), max(s.hi, x.hi)}
		}
	}
	return append(out, s)
}

// Flavor returns the position's flavor ("" for the zero Position).
func (p Position) Flavor() Flavor { return p.flavor }

// IsEmpty reports whether p contains no transaction.
func (p Position) IsEmpty() bool { return len(p.maria) == 0 && len(p.mysql) == 0 }

// String prints p as the server would accept it, domains and uuids sorted.
func (p Position) String() string {
	var parts []string
	switch p.flavor {
	case MariaDB:
		for _, d := range slices.Sorted(mapsKeys(p.maria)) {
			g := p.maria[d]
			parts = append(parts, fmt.Sprintf("%d-%d-%d", d, g.server, g.seq))
		}
	case MySQL:
		for _, u := range slices.Sorted(mapsKeys(p.mysql)) {
			var b strings.Builder
			b.WriteString(u)
			for _, s := range p.mysql[u] {
				if s.lo == s.hi {
					fmt.Fprintf(&b, ":%d", s.lo)
				} else {
					fmt.Fprintf(&b, ":%d-%d", s.lo, s.hi)
				}
			}
			parts = append(parts, b.String())
		}
	}
	return strings.Join(parts, ",")
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Covers reports whether every transaction of q is in p: a server at p has
// applied q, as MASTER_GTID_WAIT and WAIT_FOR_EXECUTED_GTID_SET judge it.
// Positions of different flavors cover nothing of each other, except the
// empty one. It runs on every read that must see a write: it allocates
// nothing.
func (p Position) Covers(q Position) bool {
	if q.IsEmpty() {
		return true
	}
	if p.flavor != q.flavor {
		return false
	}
	for d, g := range q.maria {
		if p.maria[d].seq < g.seq {
			return false
		}
	}
	for u, spans := range q.mysql {
		have := p.mysql[u]
		for _, s := range spans {
			if !within(have, s) {
				return false
			}
		}
	}
	return true
}

// within reports whether one span of the normalized spans holds all of s
// (normalized spans are disjoint and not adjacent, so one must).
func within(spans []span, s span) bool {
	for _, x := range spans {
		if x.lo <= s.lo && s.hi <= x.hi {
			return true
		}
	}
	return false
}

// Missing counts the transactions of q that p lacks.
func (p Position) Missing(q Position) uint64 {
	if q.IsEmpty() {
		return 0
	}
	if p.flavor != q.flavor && !p.IsEmpty() {
		return q.Count()
	}
	var n uint64
	switch q.flavor {
	case MariaDB:
		for d, g := range q.maria {
			if have := p.maria[d].seq; have < g.seq {
				n += g.seq - have
			}
		}
	case MySQL:
		for u, spans := range q.mysql {
			for _, s := range spans {
				n += s.hi - s.lo + 1 - overlap(p.mysql[u], s)
			}
		}
	}
	return n
}

// overlap counts the numbers of s that spans cover.
func overlap(spans []span, s span) uint64 {
	var n uint64
	for _, x := range spans {
		lo, hi := max(x.lo, s.lo), min(x.hi, s.hi)
		if lo <= hi {
			n += hi - lo + 1
		}
	}
	return n
}

// Count is the number of transactions p covers (MariaDB: the sum of the
// sequence numbers of its domains). It orders positions consistently with
// Covers: if p covers q, p.Count() >= q.Count().
func (p Position) Count() uint64 {
	var n uint64
	for _, g := range p.maria {
		n += g.seq
	}
	for _, spans := range p.mysql {
		for _, s := range spans {
			n += s.hi - s.lo + 1
		}
	}
	return n
}

// Merge returns the union of p and q (MariaDB: the newest GTID per domain)
// as a new position. A zero Position merges as the identity; positions of
// different flavors do not merge (the result is p, or q when p is empty).
func (p Position) Merge(q Position) Position {
	switch {
	case p.flavor == "":
		return q.clone()
	case q.flavor == "":
		return p.clone()
	case p.flavor != q.flavor:
		if p.IsEmpty() {
			return q.clone()
		}
		return p.clone()
	}
	out := p.clone()
	for d, g := range q.maria {
		if old, ok := out.maria[d]; !ok || g.seq > old.seq {
			out.maria[d] = g
		}
	}
	for u, spans := range q.mysql {
		for _, s := range spans {
			out.mysql[u] = addSpan(out.mysql[u], s)
		}
	}
	return out
}

func (p *Position) init() {
	switch p.flavor {
	case MariaDB:
		p.maria = map[uint32]mariaGTID{}
	case MySQL:
		p.mysql = map[string][]span{}
	}
}

func (p Position) clone() Position {
	out := Position{flavor: p.flavor}
	out.init()
	for d, g := range p.maria {
		out.maria[d] = g
	}
	for u, s := range p.mysql {
		out.mysql[u] = slices.Clone(s)
	}
	return out
}

// Ahead reports whether p has transactions in a domain (MariaDB) that q
// has not reached: a server at p cannot replicate from a server at q
// without losing or conflicting on them.
func (p Position) Ahead(q Position) bool { return q.Missing(p) > 0 }

// Filled is p with each MySQL source's set filled from 1 to its highest
// number (MariaDB positions are already so). A primary numbers its own
// transactions in order and a replica applies them in order, so a server
// that applied uuid:N has applied uuid:1-N: the filled set asks no more of
// a replica and stays one span long, where the union of many sessions'
// single GTIDs ("uuid:7", "uuid:9") would grow a span per gap.
func (p Position) Filled() Position {
	if p.flavor != MySQL {
		return p
	}
	out := Position{flavor: MySQL, mysql: make(map[string][]span, len(p.mysql))}
	for u, spans := range p.mysql {
		if len(spans) > 0 {
			out.mysql[u] = []span{{1, spans[len(spans)-1].hi}}
		}
	}
	return out
}
