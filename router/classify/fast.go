package classify

import "strings"

// fast decides the statements a few keywords settle, without the parser,
// the cache or any allocation. It answers false whenever it is not sure; the
// slow path then decides.
//
// depth counts the statements this one is nested in (EXPLAIN ANALYZE, SET
// STATEMENT ... FOR, ANALYZE <statement>), so that a chain of them costs
// linear time and stack, not quadratic: past maxNesting the parser decides.
func (c *Classifier) fast(sql string, depth int) (Statement, bool) {
	if depth > maxNesting {
		return Statement{}, false
	}
	l := lexer{s: sql, hints: true, depth: depth}
	t := l.next()
	paren := false
	for l.isPunct(t, '(') {
		paren = true
		t = l.next()
	}
	if t.kind != tWord || l.ambiguous {
		return Statement{}, false
	}
	var kwBuf [12]byte
	kw := lowerInto(&kwBuf, l.text(t))
	var st Statement
	switch string(kw) {
	case "select", "table", "values", "with":
		// Read, unless a word anywhere in the text says otherwise; then
		// look at the tokens, and leave what they cannot settle to the
		// parser.
		deny := selectDeny
		if kw[0] == 'w' {
			deny |= rDML // WITH ... UPDATE/DELETE
		}
		r := scanRisk(sql[t.end:])
		if r&(deny|lexFeatures|rHint) != 0 {
			if r = l.tokenRisk(); r&deny != 0 || l.ambiguous || l.backslash {
				return Statement{}, false
			}
		}
		st = newStatement(Read)
		r.apply(&st)
	case "insert", "update", "delete", "replace":
		// Write by keyword; the words only add pins.
		if paren {
			return Statement{}, false
		}
		r := scanRisk(sql[t.end:])
		if r&(dmlDeny|lexFeatures|rHint) != 0 {
			if r = l.tokenRisk(); r&dmlDeny != 0 || l.ambiguous || l.backslash {
				return Statement{}, false
			}
		}
		st = newStatement(Write)
		r.apply(&st)
	default:
		if paren {
			return Statement{}, false
		}
		var ok bool
		if st, ok = c.grammar(&l, string(kw)); !ok || l.ambiguous || l.backslash {
			return Statement{}, false
		}
	}
	st.Hint = l.hint
	return st, true
}

const maxNesting = 3

// lowerInto lower-cases an ASCII word into buf; nil if it does not fit.
func lowerInto(buf *[12]byte, w string) []byte {
	if len(w) > len(buf) {
		return nil
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(w)]
}

// grammar handles statements whose few keywords decide them: transaction
// control (including the forms the TiDB parser does not read: BEGIN WORK,
// COMMIT WORK, XA, characteristics lists), USE, the common SET forms, LOCK
// and UNLOCK TABLES, HANDLER, GET DIAGNOSTICS, EXPLAIN/DESCRIBE and ANALYZE.
func (c *Classifier) grammar(l *lexer, kw string) (Statement, bool) {
	switch kw {
	case "begin":
		t := l.next()
		if l.is(t, "work") {
			t = l.next()
		}
		return txStatement(TxBegin), l.endAt(t)
	case "start":
		return startTransaction(l)
	case "commit", "rollback":
		return commitRollback(l, kw == "commit")
	case "savepoint":
		if t := l.next(); !isName(t) {
			return Statement{}, false
		}
		return txStatement(TxOther), l.atEnd()
	case "release":
		if !l.is(l.next(), "savepoint") || !isName(l.next()) {
			return Statement{}, false
		}
		return txStatement(TxOther), l.atEnd()
	case "xa":
		return xa(l)
	case "use":
		t := l.next()
		if !isName(t) || !l.atEnd() {
			return Statement{}, false
		}
		st := newStatement(Session)
		st.UseDB = strings.Clone(unquoteName(l.text(t)))
		return st, true
	case "set":
		return c.set(l)
	case "lock":
		if t := l.next(); !l.is(t, "tables") && !l.is(t, "table") {
			return Statement{}, false // LOCK INSTANCE FOR BACKUP and the like
		}
		st := newStatement(Session)
		st.Pin = PinLockTables
		return st, l.drain()
	case "unlock":
		if t := l.next(); !l.is(t, "tables") && !l.is(t, "table") {
			return Statement{}, false
		}
		st := newStatement(Session)
		st.Unpin = PinLockTables
		return st, l.atEnd()
	case "handler":
		return handler(l)
	case "get":
		t := l.next()
		if l.is(t, "current") || l.is(t, "stacked") {
			t = l.next()
		}
		if !l.is(t, "diagnostics") {
			return Statement{}, false
		}
		st := newStatement(Read)
		st.UsesSessionFunc = true
		for t = l.next(); t.kind != tEOF; t = l.next() {
			if t.kind == tUserVar {
				st.Pin |= PinUserVariable
			}
			if l.isPunct(t, ';') {
				return st, l.next().kind == tEOF
			}
		}
		return st, true
	case "explain", "describe", "desc":
		return c.explain(l)
	case "analyze":
		return c.analyzeStmt(l)
	}
	return Statement{}, false
}

func txStatement(op TxOp) Statement {
	st := newStatement(Transaction)
	st.Tx = op
	return st
}

// endAt reports whether t ends the statement: end of text, or a ';' with
// nothing after it.
func (l *lexer) endAt(t token) bool {
	if l.isPunct(t, ';') {
		t = l.next()
	}
	return t.kind == tEOF
}

// drain consumes the rest of the statement, collecting hints, and reports
// whether it is a single statement.
func (l *lexer) drain() bool {
	for t := l.next(); t.kind != tEOF; t = l.next() {
		if l.isPunct(t, ';') {
			return l.next().kind == tEOF
		}
	}
	return true
}

// lowerCopy lower-cases s into a new string that does not alias the
// caller's text.
func lowerCopy(s string) string { return strings.Clone(strings.ToLower(s)) }

func isName(t token) bool { return t.kind == tWord || t.kind == tQuotedIdent }

// unquoteName strips backquotes from an identifier.
func unquoteName(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		s = s[1 : len(s)-1]
		if strings.Contains(s, "``") {
			s = strings.ReplaceAll(s, "``", "`")
		}
	}
	return s
}

// startTransaction: START TRANSACTION [c [, c]...], c = WITH CONSISTENT
// SNAPSHOT | READ ONLY | READ WRITE.
func startTransaction(l *lexer) (Statement, bool) {
	if !l.is(l.next(), "transaction") {
		return Statement{}, false // START SLAVE, START REPLICA, ...
	}
	ro, rw := false, false
	t := l.next()
	for t.kind != tEOF && !l.isPunct(t, ';') {
		switch {
		case l.is(t, "with"):
			if !l.is(l.next(), "consistent") || !l.is(l.next(), "snapshot") {
				return Statement{}, false
			}
		case l.is(t, "read"):
			switch t = l.next(); {
			case l.is(t, "only"):
				ro = true
			case l.is(t, "write"):
				rw = true
			default:
				return Statement{}, false
			}
		default:
			return Statement{}, false
		}
		if t = l.next(); l.isPunct(t, ',') {
			t = l.next()
			if t.kind == tEOF {
				return Statement{}, false
			}
		}
	}
	op := TxBegin
	if ro && !rw {
		op = TxBeginReadOnly
	}
	return txStatement(op), l.endAt(t)
}

// commitRollback: COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE];
// ROLLBACK [WORK] [TO [SAVEPOINT] name | AND [NO] CHAIN] [[NO] RELEASE].
func commitRollback(l *lexer, commit bool) (Statement, bool) {
	op := TxRollback
	if commit {
		op = TxCommit
	}
	t := l.next()
	if l.is(t, "work") {
		t = l.next()
	}
	if !commit && l.is(t, "to") {
		if t = l.next(); l.is(t, "savepoint") {
			t = l.next()
		}
		if !isName(t) {
			return Statement{}, false
		}
		return txStatement(TxOther), l.atEnd()
	}
	if l.is(t, "and") {
		t = l.next()
		chain := true
		if l.is(t, "no") {
			chain = false
			t = l.next()
		}
		if !l.is(t, "chain") {
			return Statement{}, false
		}
		if chain {
			op = TxOther // ends one transaction and opens the next
		}
		t = l.next()
	}
	if l.is(t, "no") {
		t = l.next()
		if !l.is(t, "release") {
			return Statement{}, false
		}
		t = l.next()
	} else if l.is(t, "release") {
		t = l.next()
	}
	return txStatement(op), l.endAt(t)
}

// xa: XA {START|BEGIN} opens a transaction branch that must stay on its
// connection, XA COMMIT/ROLLBACK close it, the rest are TxOther.
func xa(l *lexer) (Statement, bool) {
	t := l.next()
	var op TxOp
	switch {
	case l.is(t, "start"), l.is(t, "begin"):
		op = TxBegin
	case l.is(t, "commit"):
		op = TxCommit
	case l.is(t, "rollback"):
		op = TxRollback
	case l.is(t, "end"), l.is(t, "prepare"), l.is(t, "recover"):
		op = TxOther
	default:
		return Statement{}, false
	}
	return txStatement(op), l.drain()
}

// handler: HANDLER t OPEN [[AS] alias] pins the connection; HANDLER t CLOSE
// drops it; HANDLER t READ ... runs on it. All go to the primary.
func handler(l *lexer) (Statement, bool) {
	name := l.next()
	if !isName(name) {
		return Statement{}, false
	}
	t := l.next()
	if l.isPunct(t, '.') { // db.table
		if name = l.next(); !isName(name) {
			return Statement{}, false
		}
		t = l.next()
	}
	st := newStatement(Write)
	switch {
	case l.is(t, "open"):
		st.Pin = PinHandler
		obj := name
		if t = l.next(); l.is(t, "as") {
			t = l.next()
		}
		if isName(t) {
			obj, t = t, l.next()
		}
		st.Objects = []string{lowerCopy(unquoteName(l.text(obj)))}
		return st, l.endAt(t)
	case l.is(t, "close"):
		st.Drop = PinHandler
		st.Objects = []string{lowerCopy(unquoteName(l.text(name)))}
		return st, l.atEnd()
	case l.is(t, "read"):
		return st, l.drain()
	}
	return Statement{}, false
}

// explain: EXPLAIN/DESCRIBE/DESC [EXTENDED|PARTITIONS|FORMAT=x] ... reads
// nothing but metadata, except EXPLAIN ANALYZE, which runs its statement,
// and EXPLAIN FOR CONNECTION, which is about one server.
func (c *Classifier) explain(l *lexer) (Statement, bool) {
	t := l.next()
	for {
		switch {
		case l.is(t, "extended"), l.is(t, "partitions"):
			t = l.next()
			continue
		case l.is(t, "format"):
			if !l.isPunct(l.next(), '=') {
				return Statement{}, false
			}
			l.next()
			t = l.next()
			continue
		}
		break
	}
	switch {
	case !isName(t) && !l.isPunct(t, '('):
		return Statement{}, false // EXPLAIN 'digest' (TiDB), garbage
	case l.is(t, "analyze"):
		t = l.next()
		if l.is(t, "format") {
			if !l.isPunct(l.next(), '=') {
				return Statement{}, false
			}
			l.next()
			t = l.next()
		}
		if t.kind == tEOF {
			return Statement{}, false
		}
		inner := l.s[t.pos:]
		if !l.drain() {
			return Statement{}, false
		}
		return c.classifyPart(inner, l.depth+1), true
	case l.is(t, "for"):
		return newStatement(Write), l.drain()
	case l.is(t, "insert"), l.is(t, "update"), l.is(t, "delete"), l.is(t, "replace"):
		// It writes nothing, but a read-only session refuses it (1792),
		// as replica connections are (proxy's READ ONLY guard).
		return newStatement(Write), l.drain()
	}
	return newStatement(Read), l.drain()
}

// analyzeStmt: ANALYZE [NO_WRITE_TO_BINLOG|LOCAL] TABLE writes statistics;
// MariaDB's ANALYZE [FORMAT=JSON] <statement> runs the statement.
func (c *Classifier) analyzeStmt(l *lexer) (Statement, bool) {
	t := l.next()
	switch {
	case l.is(t, "table"), l.is(t, "tables"), l.is(t, "no_write_to_binlog"), l.is(t, "local"):
		return newStatement(Write), l.drain()
	case l.is(t, "format"):
		if !l.isPunct(l.next(), '=') {
			return Statement{}, false
		}
		l.next()
		t = l.next()
	}
	if t.kind != tWord {
		return Statement{}, false
	}
	inner := l.s[t.pos:]
	if !l.drain() {
		return Statement{}, false
	}
	return c.classifyPart(inner, l.depth+1), true
}

// set handles SET autocommit, SET [scope] TRANSACTION, SET NAMES, SET
// CHARACTER SET/CHARSET and MariaDB's SET STATEMENT ... FOR; other SETs go
// to the parser.
func (c *Classifier) set(l *lexer) (Statement, bool) {
	t := l.next()
	scope := "" // "", "session", "global"
	switch {
	case l.is(t, "session"), l.is(t, "local"):
		scope, t = "session", l.next()
	case l.is(t, "global"):
		scope, t = "global", l.next()
	}
	switch {
	case l.is(t, "transaction"):
		return setTransaction(l, scope)
	case scope != "":
		if l.is(t, "autocommit") {
			return setAutocommit(l, scope)
		}
		return Statement{}, false
	case l.is(t, "statement"):
		return c.setStatement(l)
	case l.is(t, "names"):
		return setNames(l, namesNames)
	case l.is(t, "charset"):
		return setNames(l, namesCharset)
	case l.is(t, "character"):
		if !l.is(l.next(), "set") {
			return Statement{}, false
		}
		return setNames(l, namesCharset)
	case l.is(t, "autocommit"):
		return setAutocommit(l, "session")
	case t.kind == tSysVar:
		name := l.text(t)[2:]
		switch {
		case hasPrefixFold(name, "session."):
			name = name[len("session."):]
		case hasPrefixFold(name, "local."):
			name = name[len("local."):]
		}
		if equalFoldLower(name, "autocommit") {
			return setAutocommit(l, "session")
		}
	}
	return Statement{}, false
}

// setAutocommit: [SESSION] autocommit {=|:=} {0|1|ON|OFF|TRUE|FALSE|'ON'|...}
// alone; anything else (expressions, lists) goes to the parser.
func setAutocommit(l *lexer, scope string) (Statement, bool) {
	if scope == "global" {
		return Statement{}, false
	}
	t := l.next()
	if l.isPunct(t, ':') {
		t = l.next()
	}
	if !l.isPunct(t, '=') {
		return Statement{}, false
	}
	v := l.next()
	val := l.text(v)
	switch v.kind {
	case tString:
		if len(val) < 2 {
			return Statement{}, false
		}
		val = val[1 : len(val)-1]
	case tNumber, tWord:
	default:
		return Statement{}, false
	}
	var ac int8
	switch {
	case val == "1", equalFoldLower(val, "on"), equalFoldLower(val, "true"):
		ac = 1
	case val == "0", equalFoldLower(val, "off"), equalFoldLower(val, "false"):
		ac = 0
	default:
		return Statement{}, false
	}
	st := txStatement(TxSetAutocommit)
	st.Autocommit = ac
	return st, l.atEnd()
}

// setTransaction: SET TRANSACTION applies to the next transaction only
// (TxOther); SET SESSION TRANSACTION changes the session (replayed); SET
// GLOBAL TRANSACTION changes the server (primary).
func setTransaction(l *lexer, scope string) (Statement, bool) {
	iso, ro := false, false
	for {
		t := l.next()
		switch {
		case l.is(t, "isolation"):
			if !l.is(l.next(), "level") {
				return Statement{}, false
			}
			switch t = l.next(); {
			case l.is(t, "read"):
				if t = l.next(); !l.is(t, "committed") && !l.is(t, "uncommitted") {
					return Statement{}, false
				}
			case l.is(t, "repeatable"):
				if !l.is(l.next(), "read") {
					return Statement{}, false
				}
			case l.is(t, "serializable"):
			default:
				return Statement{}, false
			}
			iso = true
		case l.is(t, "read"):
			if t = l.next(); !l.is(t, "only") && !l.is(t, "write") {
				return Statement{}, false
			}
			ro = true
		default:
			return Statement{}, false
		}
		if t = l.next(); !l.isPunct(t, ',') {
			if !l.endAt(t) {
				return Statement{}, false
			}
			break
		}
	}
	switch scope {
	case "global":
		return newStatement(Write), true
	case "session":
		st := newStatement(Session)
		st.SetsSessionVars = true
		switch {
		case iso && ro:
			st.SessionVarNames = namesTxBoth
		case iso:
			st.SessionVarNames = namesIsolation
		default:
			st.SessionVarNames = namesReadOnly
		}
		return st, true
	}
	return txStatement(TxOther), true
}

// setNames: SET NAMES {charset|DEFAULT} [COLLATE {collation|DEFAULT}] and
// SET CHARACTER SET / CHARSET {charset|DEFAULT}.
func setNames(l *lexer, names []string) (Statement, bool) {
	t := l.next()
	if t.kind != tWord && t.kind != tString && t.kind != tQuotedIdent {
		return Statement{}, false
	}
	t = l.next()
	if l.is(t, "collate") {
		if v := l.next(); v.kind != tWord && v.kind != tString && v.kind != tQuotedIdent {
			return Statement{}, false
		}
		t = l.next()
	}
	st := newStatement(Session)
	st.SetsSessionVars = true
	st.SessionVarNames = names
	return st, l.endAt(t)
}

// setStatement: MariaDB's SET STATEMENT var = value [, ...] FOR statement
// runs the inner statement with the variables set for it alone: it is
// classified as the inner statement, plus what the values reference.
func (c *Classifier) setStatement(l *lexer) (Statement, bool) {
	depth := 0
	var pin Pin
	for {
		t := l.next()
		switch {
		case t.kind == tEOF, l.isPunct(t, ';'):
			return Statement{}, false
		case t.kind == tUserVar:
			pin |= PinUserVariable
		case l.isPunct(t, '('):
			depth++
		case l.isPunct(t, ')'):
			depth--
		case depth == 0 && l.is(t, "for"):
			inner := l.s[t.end:]
			if !l.drain() {
				return Statement{}, false
			}
			st := c.classifyPart(inner, l.depth+1)
			st.Pin |= pin
			return st, true
		}
	}
}
