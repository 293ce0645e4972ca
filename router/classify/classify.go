package classify

import "strings"

// DefaultCacheSize is the number of digests the package-level classifier
// (used by Classify) remembers.
const DefaultCacheSize = 10000

// Classifier classifies statement texts, remembering parser decisions by
// digest. It is safe for concurrent use by any number of sessions; the zero
// value is not usable, call New.
type Classifier struct {
	cache *cache // nil: no cache
}

// New returns a Classifier whose cache holds at most cacheSize decisions;
// cacheSize <= 0 disables the cache (every text the fast path cannot decide
// is parsed).
func New(cacheSize int) *Classifier {
	return &Classifier{cache: newCache(cacheSize)}
}

var std = New(DefaultCacheSize)

// Classify classifies sql with the package-level Classifier.
func Classify(sql string) Statement { return std.Classify(sql) }

// Stats returns the cache's hit and miss counts since New. Texts decided by
// the fast path do not touch the cache and are not counted.
func (c *Classifier) Stats() (hits, misses uint64) {
	if c.cache == nil {
		return 0, 0
	}
	return c.cache.stats()
}

// Len returns the number of decisions in the cache.
func (c *Classifier) Len() int {
	if c.cache == nil {
		return 0
	}
	return c.cache.len()
}

// Classify classifies one COM_QUERY or COM_STMT_PREPARE text, which may hold
// several statements. It never fails: what it cannot classify is a Write.
func (c *Classifier) Classify(sql string) Statement {
	if st, ok := c.fast(sql); ok {
		return st
	}
	return c.slow(sql)
}

type span struct{ start, end int }

// slow splits the text into statements, classifies each (fast path, then
// cache, then parser) and merges the answers.
func (c *Classifier) slow(sql string) Statement {
	var buf [4]span
	parts, first, ambiguous, hint := split(sql, false, buf[:0])
	splitsDiffer := false
	if !ambiguous && strings.IndexByte(sql, '\\') >= 0 {
		// A backslash in a string: would a NO_BACKSLASH_ESCAPES session cut
		// the text into the same statements?
		var buf2 [4]span
		other, _, amb2, _ := split(sql, true, buf2[:0])
		ambiguous = amb2
		splitsDiffer = !sameSpans(parts, other)
	}
	var st Statement
	switch {
	case ambiguous || splitsDiffer:
		st = parseClassify(sql, lexInfo{ambiguous: ambiguous, backslash: true})
		st.Digest = Digest(sql)
	case len(parts) == 0: // nothing but comments: the server answers an error
		st = unknownWrite(false)
	case len(parts) == 1:
		st = c.classifyPart(sql[parts[0].start:parts[0].end])
	case first == "create" || first == "alter":
		// Stored program bodies hold ';': let the parser split.
		st = c.slowPart(sql)
	default:
		st = c.classifyPart(sql[parts[0].start:parts[0].end])
		for _, p := range parts[1:] {
			st = merge(st, c.classifyPart(sql[p.start:p.end]))
		}
		st.Digest = Digest(sql)
	}
	st.Hint = hint
	return st
}

// split cuts sql at ';' into the spans of its non-empty statements and
// reports the first word (lower-case, if create or alter), whether the
// lexing was ambiguous, and the hints of all comments.
func split(sql string, noBackslash bool, parts []span) ([]span, string, bool, Hint) {
	l := lexer{s: sql, hints: true, noBackslash: noBackslash}
	start, seen, first := 0, false, ""
	for {
		t := l.next()
		if t.kind == tEOF {
			break
		}
		if l.isPunct(t, ';') {
			if l.inExec {
				l.ambiguous = true // a ';' inside /*! ... */
			}
			if seen {
				parts = append(parts, span{start, t.pos})
			}
			start, seen = t.end, false
			continue
		}
		if !seen && len(parts) == 0 {
			switch {
			case l.is(t, "create"):
				first = "create"
			case l.is(t, "alter"):
				first = "alter"
			}
		}
		seen = true
	}
	if seen {
		parts = append(parts, span{start, len(sql)})
	}
	return parts, first, l.ambiguous, l.hint
}

func sameSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// classifyPart classifies one statement (no ';' inside, except in stored
// program bodies). Its hints are the caller's business.
func (c *Classifier) classifyPart(text string) Statement {
	if st, ok := c.fast(text); ok {
		st.Hint = Hint{}
		return st
	}
	return c.slowPart(text)
}

// slowPart looks the statement's digest up and parses on a miss.
func (c *Classifier) slowPart(text string) Statement {
	bp := keyBufs.Get().(*[]byte)
	key, info := normalize((*bp)[:0], text)
	both := info.backslash || info.ambiguous
	// Text that lexes differently by sql_mode, or that is huge, is parsed
	// every time: its digest does not pin down its meaning, or would cost
	// too much memory to keep.
	cacheable := c.cache != nil && !both && len(key) <= maxKeyLen
	if cacheable {
		if st, ok := c.cache.get(key); ok {
			putKeyBuf(bp, key)
			return st
		}
	}
	st := parseClassify(text, info)
	st.Digest = string(key)
	putKeyBuf(bp, key)
	// SET autocommit's answer depends on a literal the digest hides.
	if cacheable && st.Autocommit == -1 {
		c.cache.put(st.Digest, st)
	}
	return st
}

func putKeyBuf(bp *[]byte, key []byte) {
	if cap(key) > 64<<10 {
		return // let a huge statement's buffer go
	}
	*bp = key[:0]
	keyBufs.Put(bp)
}

// fallback is the answer for text no parser reading accepts: a Write, with
// whatever pins its words suggest (over-pinning is slow, under-pinning is
// wrong) and temporary tables recognized by their leading keywords, which
// MariaDB-only syntax (CREATE OR REPLACE TEMPORARY TABLE, ... ENGINE=Aria
// options) does not hide.
func fallback(text string) Statement {
	st := unknownWrite(true)
	r := scanRisk(text)
	if r&rUserVar != 0 {
		st.Pin |= PinUserVariable
	}
	if r&rNamedLock != 0 {
		st.Pin |= PinNamedLock
	}
	if r&rCalcFound != 0 {
		st.Pin |= PinFoundRows
	}
	if r&rSessFunc != 0 {
		st.UsesSessionFunc = true
	}
	l := lexer{s: text}
	t := l.next()
	switch {
	case l.is(t, "create"):
		t = l.next()
		if l.is(t, "or") {
			l.next() // REPLACE
			t = l.next()
		}
		if l.is(t, "temporary") {
			st.Pin |= PinTempTable
		}
	case l.is(t, "drop"):
		if l.is(l.next(), "temporary") {
			st.Drop |= PinTempTable
		}
	}
	return st
}
