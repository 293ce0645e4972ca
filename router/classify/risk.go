package classify

import "strings"

// The risk scan looks at every word of the raw text - inside strings and
// comments too - for anything that could make a statement more than a plain
// read or add session state. It ignores quoting on purpose: the way a server
// splits text into strings depends on its sql_mode (NO_BACKSLASH_ESCAPES,
// ANSI_QUOTES), which we do not know, while a word that appears nowhere in the
// text cannot appear in any reading of it. A hit costs a trip to the parser
// (and usually a cache hit), never a wrong answer.

type risk uint16

const (
	rLock      risk = 1 << iota // FOR (UPDATE/SHARE, NEXT VALUE FOR), LOCK (IN SHARE MODE), INTO
	rSeq                        // NEXTVAL, LASTVAL, SETVAL
	rGetLock                    // GET_LOCK
	rNamedLock                  // RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK
	rSessFunc                   // LAST_INSERT_ID, ROW_COUNT, @@IDENTITY, @@LAST_INSERT_ID, @@WARNING_COUNT, @@ERROR_COUNT
	rFoundRows                  // FOUND_ROWS (releases PinFoundRows: the parser says when)
	rCalcFound                  // SQL_CALC_FOUND_ROWS
	rSleep                      // SLEEP (harmless in a read, a write is a write anyway)
	rServer                     // functions that wait on this server's replication position
	rHint                       // SWITCHYARD, MAXSCALE: a hint comment may be anywhere
	rDML                        // INSERT, UPDATE, DELETE, REPLACE (matter after WITH)
	rUserVar                    // @name
	rSemi                       // ';': maybe several statements
)

// What the fast path may decide for a SELECT (TABLE, VALUES, WITH) or a
// DML statement once the tokens are known: features it records (pins,
// session functions) and risks it leaves to the parser.
const (
	lexFeatures = rUserVar | rSessFunc | rCalcFound | rGetLock
	selectDeny  = rLock | rSeq | rGetLock | rNamedLock | rFoundRows | rServer | rSemi
	dmlDeny     = rNamedLock | rFoundRows | rSemi
)

// apply records what the risks r found in a statement imply, for the
// risks the fast path decides itself.
func (r risk) apply(st *Statement) {
	if r&rUserVar != 0 {
		st.Pin |= PinUserVariable
	}
	if r&rGetLock != 0 {
		st.Pin |= PinNamedLock
	}
	if r&rCalcFound != 0 {
		st.Pin |= PinFoundRows
	}
	if r&rSessFunc != 0 {
		st.UsesSessionFunc = true
	}
}

// longestRiskWord bounds the words worth looking up.
const longestRiskWord = len("wait_until_sql_thread_after_gtids")

// scanRisk reports the risks found anywhere in s.
func scanRisk(s string) risk {
	var r risk
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		switch {
		case class[c]&cWord != 0:
			j := wordEnd(s, i)
			r |= wordRisks(s[i:j])
			i = j
		case c == '@':
			if i+1 < n && s[i+1] == '@' {
				j := sysVarEnd(s, i+2)
				// A quoted name (@@`identity`) is left to the tokens.
				if sysVarRisky(s[i+2:j]) || j < n && (s[j] == '`' || s[j] == '\'' || s[j] == '"') {
					r |= rSessFunc
				}
				i = j
				continue
			}
			r |= rUserVar
			i++
		case c == ';':
			r |= rSemi
			i++
		default:
			i++
		}
	}
	return r
}

// sysVarRisky reports whether a system variable name (scope optional)
// depends on the previous statement of the connection. The name is what
// follows the last dot, so "session..identity" counts too.
func sysVarRisky(name string) bool {
	if k := strings.LastIndexByte(name, '.'); k >= 0 {
		name = name[k+1:]
	}
	return equalFoldLower(name, "identity") || equalFoldLower(name, "last_insert_id") ||
		equalFoldLower(name, "warning_count") || equalFoldLower(name, "error_count")
}

// wordRisks looks a run of word bytes up. Servers and parsers do not agree
// on every byte: a non-ASCII byte may be a space in the connection's
// character set (0xA0 in latin1), and a keyword glued to a number ("1FOR
// UPDATE", "1e1INTO") may still lex as a keyword. So the run is cut at
// every non-ASCII byte and '$', and every piece that starts where a digit
// meets a letter is looked up too: more hits, never fewer.
func wordRisks(w string) risk {
	var r risk
	start := 0
	for i := 0; i <= len(w); i++ {
		if i < len(w) && w[i] < 0x80 && w[i] != '$' {
			continue
		}
		if p := w[start:i]; len(p) >= 3 {
			r |= wordRisk(p)
			for k := 1; k < len(p); k++ {
				if class[p[k-1]]&cDigit != 0 && class[p[k]]&cDigit == 0 {
					r |= wordRisk(p[k:])
				}
			}
		}
		start = i + 1
	}
	return r
}

// tokenRisk lexes the rest of the statement and reports the risks found in
// its tokens: words, quoted identifiers and variables, not string contents
// or comments (whose hints the lexer records). The answer is only as good
// as the lexing: callers check l.ambiguous and l.backslash.
func (l *lexer) tokenRisk() risk {
	var r risk
	semi := false
	for t := l.next(); t.kind != tEOF; t = l.next() {
		if semi {
			r |= rSemi // a ';' with something after it
		}
		semi = false
		switch t.kind {
		case tWord:
			r |= wordRisks(l.text(t))
		case tQuotedIdent:
			r |= wordRisk(unquoteName(l.text(t)))
		case tUserVar:
			r |= rUserVar
		case tSysVar:
			name := l.text(t)[2:]
			if strings.ContainsAny(name, "`'\"") {
				name = strings.Map(func(r rune) rune {
					if r == '`' || r == '\'' || r == '"' {
						return -1
					}
					return r
				}, name)
			}
			if sysVarRisky(name) {
				r |= rSessFunc
			}
		case tPunct:
			semi = l.s[t.pos] == ';'
		}
	}
	return r
}

// riskWords are the words wordRisk knows, for riskShape.
var riskWords = [...]string{
	"for", "lock", "into", "nextval", "lastval", "setval", "get_lock",
	"release_lock", "release_all_locks", "is_used_lock", "is_free_lock",
	"last_insert_id", "row_count", "found_rows", "sql_calc_found_rows",
	"sleep", "master_pos_wait", "source_pos_wait", "master_gtid_wait",
	"wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids",
	"switchyard", "maxscale", "insert", "update", "delete", "replace",
}

// riskShape[first letter] has bit n set when a risky word of length n
// starts with that letter: most words are rejected on that alone.
var riskShape = func() (t [26]uint64) {
	for _, w := range riskWords {
		t[w[0]-'a'] |= 1 << len(w)
	}
	return t
}()

// wordRisk looks one word up, case-insensitively.
func wordRisk(w string) risk {
	if len(w) < 3 || len(w) > longestRiskWord {
		return 0
	}
	if f := w[0] | 0x20; f < 'a' || f > 'z' || riskShape[f-'a']&(1<<len(w)) == 0 {
		return 0
	}
	var buf [longestRiskWord]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(w)]) {
	case "for", "lock", "into":
		return rLock
	case "nextval", "lastval", "setval":
		return rSeq
	case "get_lock":
		return rGetLock
	case "release_lock", "release_all_locks", "is_used_lock", "is_free_lock":
		return rNamedLock
	case "last_insert_id", "row_count":
		return rSessFunc
	case "found_rows":
		return rFoundRows
	case "sql_calc_found_rows":
		return rCalcFound
	case "sleep":
		return rSleep
	case "master_pos_wait", "source_pos_wait", "master_gtid_wait",
		"wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids":
		return rServer
	case "switchyard", "maxscale":
		return rHint
	case "insert", "update", "delete", "replace":
		return rDML
	}
	return 0
}
