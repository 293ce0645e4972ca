package classify

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzClassify checks that no text panics the classifier; that unparsable
// text is a Write; that the cache never changes the answer for a text the
// parser reads (a digest shared by texts of different meaning would); that
// replacing literals, which the digest hides, never changes a parsed
// answer; and that the parser's own reading never finds a write, a pin or a
// session function the classifier missed.
func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.sql)
	}
	cached := New(256)
	f.Fuzz(func(t *testing.T, sql string) {
		st := cached.Classify(sql)
		checkInvariants(t, sql, st)
		if n := analyzePanics.Load(); n != 0 {
			t.Fatalf("%q: analyze panicked (%d so far)", sql, n)
		}
		fresh := New(0).Classify(sql)
		// A statement the parser rejects (alone or in a batch) may be
		// answered for by a valid sibling of the same digest: it differs
		// from it only by a literal, and the server rejects it anyway.
		if !fresh.Unparsed && (!reflect.DeepEqual(comparable(st), comparable(fresh)) || st.Digest != fresh.Digest) {
			t.Fatalf("%q: cached %+v\nfresh %+v", sql, st, fresh)
		}
		p, ok := parserOnly(sql)
		if !ok {
			return
		}
		if p.Kind == Write && st.Kind != Write {
			t.Fatalf("%q: classified %v, the parser says write", sql, st.Kind)
		}
		if p.Pin&^st.Pin != 0 {
			t.Fatalf("%q: pins %v, the parser says %v", sql, st.Pin, p.Pin)
		}
		if p.UsesSessionFunc && !st.UsesSessionFunc {
			t.Fatalf("%q: missed a session function", sql)
		}
		// SET autocommit's answer depends on its literal; it is never cached.
		if c, ok := canonical(sql); ok && p.Autocommit == -1 {
			if q, ok := parserOnly(c); ok && !reflect.DeepEqual(comparable(p), comparable(q)) {
				t.Fatalf("%q and %q have one digest but read differently:\n%+v\n%+v", sql, c, p, q)
			}
		}
	})
}

// canonical replaces the literals the digest hides with fixed ones of the
// same lexical class; false when the lexing is mode-dependent.
func canonical(sql string) (string, bool) {
	l := lexer{s: sql}
	var b strings.Builder
	last := 0
	for t := l.next(); t.kind != tEOF; t = l.next() {
		var repl string
		switch t.kind {
		case tNumber:
			if t.pos > 0 && sql[t.pos-1] == '.' || t.end < len(sql) && sql[t.end] == '.' {
				continue // kept verbatim by the digest
			}
			repl = "1"
		case tString:
			text := sql[t.pos:t.end]
			q := strings.IndexAny(text, `'"`)
			repl = text[:q] + "'a'"
		default:
			continue
		}
		b.WriteString(sql[last:t.pos])
		b.WriteString(repl)
		last = t.end
	}
	b.WriteString(sql[last:])
	return b.String(), !l.ambiguous && !l.backslash
}
