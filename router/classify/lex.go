package classify

import "strings"

// A small MySQL/MariaDB lexer: enough to find statement boundaries, the
// first keywords, literals (for the digest) and comments (for hints). It
// never allocates. It lexes strings the default way (backslash escapes on)
// and records when that assumption mattered, so callers can be careful
// where a session with NO_BACKSLASH_ESCAPES would read the text differently.

const (
	cWord  uint8 = 1 << iota // continues an unquoted identifier: [A-Za-z0-9_$] and bytes >= 0x80
	cDigit                   // [0-9]
	cSpace                   // whitespace MySQL skips
	cHex                     // [0-9A-Fa-f]
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= '0' && c <= '9':
			t[c] = cWord | cDigit | cHex
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			t[c] = cWord | cHex
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$', c >= 0x80:
			t[c] = cWord
		case c == ' ', c == '\t', c == '\n', c == '\r', c == '\f', c == '\v':
			t[c] = cSpace
		}
	}
	return t
}()

func isWordByte(c byte) bool { return class[c]&cWord != 0 }
func isDigit(c byte) bool    { return class[c]&cDigit != 0 }

func wordEnd(s string, i int) int {
	for i < len(s) && class[s[i]]&cWord != 0 {
		i++
	}
	return i
}

type tokKind uint8

const (
	tEOF         tokKind = iota
	tWord                // unquoted identifier or keyword
	tQuotedIdent         // `identifier`
	tString              // '...' or "..." (also N'..', _charset'..')
	tNumber              // 123, 1.5e3, 0x1F, 0b101, X'1F', B'101'
	tUserVar             // @name, @'name', @`name`
	tSysVar              // @@name, @@session.name
	tParam               // ? placeholder
	tPunct               // any other single byte, including ';'
)

type token struct {
	kind     tokKind
	pos, end int
	// space: whitespace or a comment separated this token from the previous
	// one (for the digest, which keeps "a>=1" and "a >= 1" apart).
	space bool
}

// lexer scans one SQL text. The zero value plus s is ready to use.
type lexer struct {
	s   string
	pos int
	// noBackslash lexes strings as with sql_mode NO_BACKSLASH_ESCAPES.
	noBackslash bool
	// hints parses switchyard/maxscale comments into hint.
	hints bool
	hint  Hint
	// inExec is true inside an executable comment /*! ... */ or /*M! ... */,
	// whose body MySQL/MariaDB run as SQL.
	inExec bool
	// ambiguous: the reading of the text depends on server details we do not
	// know (a comment inside an executable comment, an unterminated string,
	// comment or executable comment). Such text is never decided lexically
	// nor cached.
	ambiguous bool
	// backslash: a quoted string or identifier contains a backslash, so the
	// text may lex differently under NO_BACKSLASH_ESCAPES.
	backslash bool
	// depth is the caller's statement nesting (see Classifier.fast).
	depth int
}

func (l *lexer) text(t token) string { return l.s[t.pos:t.end] }

// skip skips whitespace and comments and reports whether it skipped any.
func (l *lexer) skip() bool {
	s, n, skipped := l.s, len(l.s), false
	for l.pos < n {
		c := s[l.pos]
		switch {
		case class[c]&cSpace != 0:
			l.pos++
		case c == '#':
			l.lineComment(l.pos + 1)
		case c == '-' && l.pos+1 < n && s[l.pos+1] == '-' && (l.pos+2 == n || s[l.pos+2] <= ' '):
			l.lineComment(l.pos + 2)
		case c == '/' && l.pos+1 < n && s[l.pos+1] == '*':
			i := l.pos + 2
			exec, mariadb := false, false
			if i < n && s[i] == '!' {
				exec, i = true, i+1
			} else if i+1 < n && s[i] == 'M' && s[i+1] == '!' {
				exec, mariadb, i = true, true, i+2
			}
			if exec {
				if l.inExec {
					l.ambiguous = true // nested executable comments: servers disagree
				}
				k := 0
				for ; k < 6 && i < n && isDigit(s[i]); k++ {
					i++
				}
				if k == 6 && !mariadb {
					// /*!123456: a 6-digit version, or 5 and a digit of
					// code? Servers differ.
					l.ambiguous = true
				}
				l.inExec = true
				l.pos = i
				break
			}
			if l.inExec {
				l.ambiguous = true // a comment inside /*! ... */ may swallow its end
			}
			body, next := "", n
			if end := strings.Index(s[l.pos+2:], "*/"); end >= 0 {
				body, next = s[l.pos+2:l.pos+2+end], l.pos+2+end+2
			} else {
				body = s[l.pos+2:]
				l.ambiguous = true // unterminated comment: a syntax error on the server
			}
			if l.hints {
				l.hintComment(body)
			}
			l.pos = next
		case c == '*' && l.inExec && l.pos+1 < n && s[l.pos+1] == '/':
			l.inExec = false
			l.pos += 2
		default:
			return skipped
		}
		skipped = true
	}
	return skipped
}

func (l *lexer) lineComment(body int) {
	end := strings.IndexByte(l.s[body:], '\n')
	if end < 0 {
		end = len(l.s)
	} else {
		end += body
	}
	if l.inExec {
		l.ambiguous = true
	}
	if l.hints {
		l.hintComment(l.s[body:end])
	}
	l.pos = end
}

// next returns the next token; at the end it returns tEOF (repeatedly).
func (l *lexer) next() token {
	space := l.skip()
	s, n, start := l.s, len(l.s), l.pos
	t := token{pos: start, space: space}
	if start >= n {
		if l.inExec {
			l.ambiguous = true // unterminated executable comment
		}
		t.end = n
		return t
	}
	c := s[start]
	switch {
	case c == '\'' || c == '"':
		t.kind, t.end = tString, l.quoted(start+1, c)
	case c == '`':
		t.kind, t.end = tQuotedIdent, l.quoted(start+1, '`')
	case isDigit(c):
		t.kind, t.end = l.number(start)
	case isWordByte(c):
		end := wordEnd(s, start)
		t.kind, t.end = tWord, end
		if end < n && s[end] == '\'' {
			// Introducers and typed literals: N'..', X'..', B'..', _utf8mb4'..'.
			switch {
			case end-start == 1 && (c|0x20 == 'x' || c|0x20 == 'b'):
				t.kind, t.end = tNumber, l.quoted(end+1, '\'')
			case end-start == 1 && c|0x20 == 'n', c == '_':
				t.kind, t.end = tString, l.quoted(end+1, '\'')
			}
		}
	case c == '@':
		// @name, @'name', @@name, @@session.name, @@`name`, @@"name": the
		// whole name, quoted parts included, is one token.
		t.kind, t.end = tUserVar, start+1
		if t.end < n && s[t.end] == '@' {
			t.kind, t.end = tSysVar, t.end+1
		}
		for {
			t.end = sysVarEnd(s, t.end)
			if t.end < n && (s[t.end] == '`' || s[t.end] == '\'' || s[t.end] == '"') {
				t.end = l.quoted(t.end+1, s[t.end])
				continue
			}
			break
		}
	case c == '?':
		t.kind, t.end = tParam, start+1
	default:
		t.kind, t.end = tPunct, start+1
	}
	l.pos = t.end
	return t
}

// sysVarEnd scans a variable name: word bytes and dots (scope.name).
func sysVarEnd(s string, i int) int {
	for i < len(s) && (isWordByte(s[i]) || s[i] == '.') {
		i++
	}
	return i
}

// quoted scans a quoted string or identifier whose opening quote q is just
// before i and returns the index after the closing quote.
func (l *lexer) quoted(i int, q byte) int {
	s, n := l.s, len(l.s)
	for i < n {
		c := s[i]
		switch {
		case c == '\\':
			l.backslash = true
			if !l.noBackslash && q != '`' {
				i += 2
				continue
			}
		case c == q:
			if i+1 < n && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	l.ambiguous = true // unterminated: a syntax error on the server
	return n
}

// number scans a token starting with a digit. MySQL identifiers may start
// with digits (1abc), so anything that is not clearly a number is a word:
// the digest keeps words verbatim, and only clear literals become '?'.
func (l *lexer) number(start int) (tokKind, int) {
	s, n := l.s, len(l.s)
	i := start
	// 0x1F and 0b101; the prefix is case-sensitive (0X1F is a name).
	if s[i] == '0' && i+1 < n && (s[i+1] == 'x' || s[i+1] == 'b') {
		hex := s[i+1] == 'x'
		j := i + 2
		for j < n && (hex && class[s[j]]&cHex != 0 || !hex && (s[j] == '0' || s[j] == '1')) {
			j++
		}
		if j > i+2 && (j == n || !isWordByte(s[j])) {
			return tNumber, j
		}
		return tWord, wordEnd(s, start)
	}
	j := i
	for j < n && isDigit(s[j]) {
		j++
	}
	if j+1 < n && s[j] == '.' && isDigit(s[j+1]) {
		j++
		for j < n && isDigit(s[j]) {
			j++
		}
	}
	if j < n && s[j]|0x20 == 'e' {
		k := j + 1
		if k < n && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < n && isDigit(s[k]) {
			for k < n && isDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	if j < n && isWordByte(s[j]) {
		return tWord, wordEnd(s, start)
	}
	return tNumber, j
}

// is reports whether t is the unquoted word w (w is lower-case ASCII).
func (l *lexer) is(t token, w string) bool {
	return t.kind == tWord && t.end-t.pos == len(w) && equalFoldLower(l.s[t.pos:t.end], w)
}

// isPunct reports whether t is the single byte c.
func (l *lexer) isPunct(t token, c byte) bool {
	return t.kind == tPunct && l.s[t.pos] == c
}

// atEnd consumes an optional ';' and reports whether nothing but whitespace
// and comments remains.
func (l *lexer) atEnd() bool {
	t := l.next()
	if l.isPunct(t, ';') {
		t = l.next()
	}
	return t.kind == tEOF
}

// equalFoldLower compares s with the lower-case ASCII word w, ignoring the
// case of s.
func equalFoldLower(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, w string) bool {
	return len(s) >= len(w) && equalFoldLower(s[:len(w)], w)
}
