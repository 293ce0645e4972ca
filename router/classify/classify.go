package classify

import (
	"slices"
	"strings"
)

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
	if st, ok := c.fast(sql, 0); ok {
		return st
	}
	return c.slow(sql)
}

// slow splits the text into statements, classifies each (fast path, then
// cache, then parser) and merges the answers.
func (c *Classifier) slow(sql string) Statement {
	bp := keyBufs.Get().(*[]byte)
	sc := scan(sql, false, (*bp)[:0])
	splitsDiffer := false
	if !sc.info.ambiguous && strings.IndexByte(sql, '\\') >= 0 {
		// A backslash in a string: would a NO_BACKSLASH_ESCAPES session cut
		// the text into the same statements?
		other := scan(sql, true, nil)
		sc.info.ambiguous = other.info.ambiguous
		splitsDiffer = sc.n != other.n || sc.one != other.one || !slices.Equal(sc.more, other.more)
	}
	var st Statement
	switch {
	case sc.info.ambiguous || splitsDiffer:
		st = parseClassify(sql, nil, lexInfo{ambiguous: sc.info.ambiguous, backslash: true})
		st.Digest = string(sc.key)
	case sc.n == 0: // nothing but comments: the server answers an error
		st = unknownWrite(false)
	case sc.n == 1 && !sc.semis:
		// The fast path has seen this very statement and passed: go
		// straight to the cache with the digest scan just made.
		st = c.slowPart(sql, bp, sc.key, sc.info)
		st.Hint = sc.hint
		return st
	case sc.n == 1:
		st = c.classifyPart(sql[sc.one.start:sc.one.end], 0)
	case sc.first == "create" || sc.first == "alter":
		// Stored program bodies hold ';': let the parser split.
		st = c.slowPart(sql, bp, sc.key, sc.info)
		st.Hint = sc.hint
		return st
	default:
		st = own(c.classifyPart(sql[sc.one.start:sc.one.end], 0))
		sets := 0
		if st.SetsSessionVars {
			sets++
		}
		for _, p := range sc.more[1:] {
			part := c.classifyPart(sql[p.start:p.end], 0)
			if part.SetsSessionVars {
				sets++
			}
			st = merge(st, part)
		}
		endBatch(&st, sets, sc.n)
		st.Digest = string(sc.key)
	}
	putKeyBuf(bp, sc.key)
	st.Hint = sc.hint
	return st
}

type span struct{ start, end int }

// scanned is what one lexer pass over a whole text learns.
type scanned struct {
	n     int     // the number of non-empty statements between ';'
	one   span    // the first of them
	more  []span  // all of them, when n > 1
	first string  // the first word, if "create" or "alter"
	semis bool    // a ';' was seen
	key   []byte  // the digest of the whole text (when asked for)
	info  lexInfo // ambiguity and backslashes
	hint  Hint    // hints of all comments
}

// scan cuts sql at ';' into statements and, when key is not nil, appends
// the digest of the whole text to it, in one pass.
func scan(sql string, noBackslash bool, key []byte) scanned {
	l := lexer{s: sql, hints: true, noBackslash: noBackslash}
	d := digester{dst: key, lastSemi: -1}
	var sc scanned
	start, seen := 0, false
	for {
		t := l.next()
		if t.kind == tEOF {
			break
		}
		if key != nil {
			d.add(sql, t)
		}
		if l.isPunct(t, ';') {
			if l.inExec {
				l.ambiguous = true // a ';' inside /*! ... */
			}
			if seen {
				sc.add(span{start, t.pos})
			}
			start, seen, sc.semis = t.end, false, true
			continue
		}
		if !seen && sc.n == 0 {
			switch {
			case l.is(t, "create"):
				sc.first = "create"
			case l.is(t, "alter"):
				sc.first = "alter"
			}
		}
		seen = true
	}
	if seen {
		sc.add(span{start, len(sql)})
	}
	if key != nil {
		sc.key = d.finish()
	}
	sc.info = lexInfo{ambiguous: l.ambiguous, backslash: l.backslash}
	sc.hint = l.hint
	return sc
}

// add records a statement; only several cost an allocation.
func (sc *scanned) add(p span) {
	switch sc.n {
	case 0:
		sc.one = p
	case 1:
		sc.more = append(make([]span, 0, 4), sc.one, p)
	default:
		sc.more = append(sc.more, p)
	}
	sc.n++
}

// classifyPart classifies one statement (no ';' inside, except in stored
// program bodies). Its hints are the caller's business.
func (c *Classifier) classifyPart(text string, depth int) Statement {
	if st, ok := c.fast(text, depth); ok {
		st.Hint = Hint{}
		return st
	}
	bp := keyBufs.Get().(*[]byte)
	key, info := normalize((*bp)[:0], text)
	return c.slowPart(text, bp, key, info)
}

// slowPart looks the statement's digest up and parses on a miss. key is
// text's digest, in the pooled buffer bp, which slowPart returns to the
// pool.
//
// Only parses that succeeded are kept under the digest. Texts sharing a
// digest have the same words and differ only in literals, so the server
// reads them alike - unless a literal makes one invalid (KILL 'x', LIMIT
// 1.5, SET NAMES 'bogus'): the parser's failure then says nothing about its
// siblings, and keeping it under the digest would send every sibling to
// the primary as unparsed. Failures are kept under their exact text.
func (c *Classifier) slowPart(text string, bp *[]byte, key []byte, info lexInfo) Statement {
	buf := key
	nkey := len(key)
	both := info.backslash || info.ambiguous
	// Text that lexes differently by sql_mode, or that is huge, is parsed
	// every time: its digest does not pin down its meaning, or would cost
	// too much memory to keep.
	cacheable := c.cache != nil && !both && nkey <= maxKeyLen
	exact := cacheable && len(text) < maxKeyLen
	if exact {
		// " " + text: a digest never starts with a space, so exact keys
		// and digests cannot meet.
		buf = append(buf, ' ')
		buf = append(buf, text...)
	}
	key = buf[:nkey]
	if cacheable {
		st, ok := c.cache.get(key, true)
		if !ok && exact {
			st, ok = c.cache.get(buf[nkey:], false)
		}
		if ok {
			putKeyBuf(bp, buf)
			return st
		}
	}
	var unambiguous []byte
	if !both {
		unambiguous = key
	}
	st := parseClassify(text, unambiguous, info)
	st.Digest = string(key)
	// SET autocommit's answer depends on a literal the digest hides.
	switch {
	case !cacheable || st.Autocommit != -1:
	case !st.Unparsed:
		c.cache.put(st.Digest, st)
	case exact:
		c.cache.put(string(buf[nkey:]), st)
	}
	putKeyBuf(bp, buf)
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
// options) does not hide, and unreadable SETs pinned. The words are those of the digest key when there
// is one (no comments, no string contents), else of the raw text.
func fallback(text string, key []byte) Statement {
	st := unknownWrite(true)
	words := text
	if key != nil {
		words = string(key) // no copy: does not escape scanRisk
	}
	r := scanRisk(words)
	r.apply(&st)
	if r&rFoundRows != 0 {
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
	case l.is(t, "set"):
		// A SET we cannot read (a character set TiDB does not know, SET
		// PERSIST, ...) may change session state nobody can replay: keep
		// the session where it ran.
		st.Pin |= PinSessionState
	}
	return st
}
