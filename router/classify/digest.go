package classify

import "sync"

// The digest is the text with comments dropped (executable comments keep
// their body), runs of whitespace collapsed to one space, literals and ?
// placeholders replaced by ?, and lists of them ("1, 2, 3") collapsed to
// "?...". Words, identifiers, variables and operators are kept verbatim and
// in their case: two texts with the same digest differ only in literal
// values and spacing, which is what lets one parse answer for both.
// Whitespace is kept where the source had it, so "a>=1" and "a >= 1" are
// different digests; that costs a cache entry, never a wrong answer.
//
// This is our own single pass over the text instead of TiDB's
// parser.NormalizeDigest, which lexes with the full TiDB scanner, lower-cases
// and also hashes (see BenchmarkDigest*); the result is only a cache key and a
// metrics label, so the cheaper one wins.

// maxKeyLen bounds the digests kept in the cache (so the cache's memory is
// bounded by entries × maxKeyLen); longer statements are parsed every time
// they miss the fast path.
const maxKeyLen = 2048

type lexInfo struct {
	ambiguous bool // see lexer.ambiguous
	backslash bool // see lexer.backslash
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// normalize appends the digest of s to dst.
func normalize(dst []byte, s string) ([]byte, lexInfo) {
	l := lexer{s: s}
	d := digester{dst: dst, start: len(dst), lastSemi: -1}
	for t := l.next(); t.kind != tEOF; t = l.next() {
		d.add(s, t)
	}
	return d.finish(), lexInfo{ambiguous: l.ambiguous, backslash: l.backslash}
}

// digester builds a digest token by token.
type digester struct {
	dst      []byte
	start    int // where the digest starts in dst
	lastSemi int // where the last token, if it was ';', is in dst; else -1
}

func (d *digester) add(s string, t token) {
	dst := d.dst
	if len(dst) > d.start && t.space {
		dst = append(dst, ' ')
	}
	d.lastSemi = -1
	switch t.kind {
	case tNumber:
		// Digits next to a dot may be part of a name ("t.1", "0. x" is
		// column x of table 0): keep them.
		if t.pos > 0 && s[t.pos-1] == '.' || t.end < len(s) && s[t.end] == '.' {
			dst = append(dst, s[t.pos:t.end]...)
		} else {
			dst = appendLiteral(dst, d.start)
		}
	case tString, tParam:
		dst = appendLiteral(dst, d.start)
	case tPunct:
		if s[t.pos] == ';' {
			d.lastSemi = len(dst)
		}
		dst = append(dst, s[t.pos])
	default:
		dst = append(dst, s[t.pos:t.end]...)
	}
	d.dst = dst
}

// finish drops a trailing ';', which is not part of the statement.
func (d *digester) finish() []byte {
	dst := d.dst
	if d.lastSemi >= 0 {
		dst = dst[:d.lastSemi]
		for len(dst) > d.start && dst[len(dst)-1] == ' ' {
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// appendLiteral appends "?", folding "?, ?" into "?...".
func appendLiteral(dst []byte, start int) []byte {
	j := len(dst)
	for j > start && dst[j-1] == ' ' {
		j--
	}
	if j > start && dst[j-1] == ',' {
		m := j - 1
		for m > start && dst[m-1] == ' ' {
			m--
		}
		if m-start >= 4 && string(dst[m-4:m]) == "?..." {
			return dst[:m]
		}
		if m > start && dst[m-1] == '?' {
			return append(dst[:m], "..."...)
		}
	}
	return append(dst, '?')
}

// Digest returns the normalized text of sql (see the package doc), the same
// string Statement.Digest holds when the statement went through the cache.
func Digest(sql string) string {
	bp := keyBufs.Get().(*[]byte)
	b, _ := normalize((*bp)[:0], sql)
	d := string(b)
	*bp = b
	keyBufs.Put(bp)
	return d
}
