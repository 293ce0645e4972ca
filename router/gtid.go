package router

import (
	"slices"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction id within its domain.
type GTID struct {
	Server uint32
	Seq    uint64
}

// GTIDPos is a MariaDB GTID position: for each replication domain, the
// newest transaction. Positions are compared per domain by sequence number,
// as MASTER_GTID_WAIT does: a server has applied a position when, in every
// domain of that position, its own sequence number is at least as high.
type GTIDPos map[uint32]GTID

// ParseGTIDPos reads "0-1-42,1-2-7" (domain-server-seq, comma separated).
// Malformed parts are skipped.
func ParseGTIDPos(s string) GTIDPos {
	if s == "" {
		return nil
	}
	pos := GTIDPos{}
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Split(strings.TrimSpace(part), "-")
		if len(fields) != 3 {
			continue
		}
		domain, err1 := strconv.ParseUint(fields[0], 10, 32)
		server, err2 := strconv.ParseUint(fields[1], 10, 32)
		seq, err3 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if seq >= pos[uint32(domain)].Seq {
			pos[uint32(domain)] = GTID{Server: uint32(server), Seq: seq}
		}
	}
	return pos
}

// String formats the position the way MariaDB does, domains in order.
func (p GTIDPos) String() string {
	domains := make([]uint32, 0, len(p))
	for d := range p {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	var b strings.Builder
	for i, d := range domains {
		if i > 0 {
			b.WriteByte(',')
		}
		g := p[d]
		b.WriteString(strconv.FormatUint(uint64(d), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(g.Server), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(g.Seq, 10))
	}
	return b.String()
}

// Covers reports whether p has applied everything in need.
func (p GTIDPos) Covers(need GTIDPos) bool {
	for d, g := range need {
		if p[d].Seq < g.Seq {
			return false
		}
	}
	return true
}

// Merge returns the per-domain newest of p and q as a new position.
func (p GTIDPos) Merge(q GTIDPos) GTIDPos {
	out := make(GTIDPos, len(p)+len(q))
	for d, g := range p {
		out[d] = g
	}
	for d, g := range q {
		if g.Seq > out[d].Seq {
			out[d] = g
		}
	}
	return out
}

// CoveredBy reports whether the position written as have ("0-1-42,...")
// has applied everything in need, without allocating: it runs on every
// read that must see a write.
func (need GTIDPos) CoveredBy(have string) bool {
	if len(need) == 0 {
		return true
	}
	covered := 0
	for len(have) > 0 {
		part := have
		if i := strings.IndexByte(have, ','); i >= 0 {
			part, have = have[:i], have[i+1:]
		} else {
			have = ""
		}
		part = strings.TrimSpace(part)
		d, rest, ok1 := strings.Cut(part, "-")
		_, seqText, ok2 := strings.Cut(rest, "-")
		if !ok1 || !ok2 {
			continue
		}
		domain, err1 := strconv.ParseUint(d, 10, 32)
		seq, err2 := strconv.ParseUint(seqText, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if g, ok := need[uint32(domain)]; ok && seq >= g.Seq {
			covered++
		}
	}
	return covered >= len(need)
}
