package classify

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
	rNamedLock                  // GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK
	rSessFunc                   // LAST_INSERT_ID, FOUND_ROWS, ROW_COUNT, @@IDENTITY, @@LAST_INSERT_ID, @@WARNING_COUNT, @@ERROR_COUNT
	rCalcFound                  // SQL_CALC_FOUND_ROWS
	rSleep                      // SLEEP
	rServer                     // functions that wait on this server's replication position
	rHint                       // SWITCHYARD, MAXSCALE: a hint comment may be anywhere
	rDML                        // INSERT, UPDATE, DELETE, REPLACE (matters after WITH)
	rUserVar                    // @name
	rSemi                       // ';': maybe several statements
)

// selectRisk is what keeps a SELECT off the fast path.
const selectRisk = ^risk(0) &^ rDML

// dmlRisk is what keeps INSERT/UPDATE/DELETE/REPLACE off the fast path: they
// are writes anyway, but pins and session functions need the parser.
const dmlRisk = rNamedLock | rSessFunc | rCalcFound | rHint | rUserVar | rSemi

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
			j, digit := i, false
			for j < n && class[s[j]]&cWord != 0 {
				digit = digit || class[s[j]]&cDigit != 0
				j++
			}
			r |= wordRisk(s[i:j])
			if digit {
				// A keyword glued to a number ("1FOR UPDATE", "1e1INTO") may
				// still lex as a keyword: look at every piece that starts
				// where a digit meets a letter.
				for k := i + 1; k < j; k++ {
					if class[s[k-1]]&cDigit != 0 && class[s[k]]&cDigit == 0 {
						r |= wordRisk(s[k:j])
					}
				}
			}
			i = j
		case c == '@':
			if i+1 < n && s[i+1] == '@' {
				j := sysVarEnd(s, i+2)
				if sysVarRisky(s[i+2 : j]) {
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
// depends on the previous statement of the connection.
func sysVarRisky(name string) bool {
	for k := 0; k < len(name); k++ {
		if name[k] == '.' {
			name = name[k+1:]
			break
		}
	}
	return equalFoldLower(name, "identity") || equalFoldLower(name, "last_insert_id") ||
		equalFoldLower(name, "warning_count") || equalFoldLower(name, "error_count")
}

// wordRisk looks one word up, case-insensitively.
func wordRisk(w string) risk {
	if len(w) < 3 || len(w) > longestRiskWord {
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
	case "get_lock", "release_lock", "release_all_locks", "is_used_lock", "is_free_lock":
		return rNamedLock
	case "last_insert_id", "found_rows", "row_count":
		return rSessFunc
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
