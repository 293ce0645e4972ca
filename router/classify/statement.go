package classify

import (
	"slices"
	"strings"
	"time"
)

// Kind is the routing class of a statement.
type Kind uint8

const (
	// Read may run on a replica outside a transaction.
	Read Kind = iota
	// Write must run on the primary: DML, DDL, SELECT ... INTO, locking
	// reads, sequences, named locks, CALL, DO, LOAD DATA, KILL, FLUSH,
	// GRANT, ANALYZE, SHOW of server-specific state, and anything unknown.
	Write
	// Transaction is transaction control: BEGIN, START TRANSACTION, COMMIT,
	// ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO, XA, SET
	// autocommit, SET TRANSACTION. Tx says which.
	Transaction
	// Session changes session state and runs wherever the session's state
	// goes: USE, SET NAMES/CHARACTER SET, SET of session or user variables,
	// PREPARE/EXECUTE/DEALLOCATE PREPARE, LOCK TABLES/UNLOCK TABLES.
	Session
)

// String returns a short lower-case name, bounded, suitable as a metric label.
func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case Transaction:
		return "transaction"
	case Session:
		return "session"
	}
	return "invalid"
}

// rank orders kinds by how restrictive they are, for merging the parts of
// a multi-statement string.
func (k Kind) rank() int {
	switch k {
	case Read:
		return 0
	case Session:
		return 1
	case Transaction:
		return 2
	}
	return 3 // Write and anything invalid
}

// TxOp is the transaction-control operation of a Transaction statement.
type TxOp uint8

const (
	TxNone TxOp = iota
	// TxBegin is BEGIN, START TRANSACTION [READ WRITE | WITH CONSISTENT
	// SNAPSHOT], and XA START/BEGIN (an XA branch is a transaction that
	// must stay on the primary connection until XA COMMIT/ROLLBACK).
	TxBegin
	// TxBeginReadOnly is START TRANSACTION READ ONLY [, WITH CONSISTENT
	// SNAPSHOT].
	TxBeginReadOnly
	// TxCommit is COMMIT [WORK] [RELEASE] and XA COMMIT.
	TxCommit
	// TxRollback is a plain ROLLBACK [WORK] [RELEASE] and XA ROLLBACK; not
	// ROLLBACK TO SAVEPOINT.
	TxRollback
	// TxOther does not open or close a transaction: SAVEPOINT, RELEASE
	// SAVEPOINT, ROLLBACK TO SAVEPOINT, XA END/PREPARE/RECOVER, SET
	// TRANSACTION (next transaction only), and COMMIT/ROLLBACK AND CHAIN
	// (which end a transaction and start the next one at once, so the
	// session stays in a transaction).
	TxOther
	// TxSetAutocommit is SET autocommit = ...; Statement.Autocommit has the
	// value.
	TxSetAutocommit
)

func (t TxOp) String() string {
	switch t {
	case TxNone:
		return "none"
	case TxBegin:
		return "begin"
	case TxBeginReadOnly:
		return "begin_read_only"
	case TxCommit:
		return "commit"
	case TxRollback:
		return "rollback"
	case TxOther:
		return "other"
	case TxSetAutocommit:
		return "set_autocommit"
	}
	return "invalid"
}

// Pin is a bit set of reasons a session must stay on its backend connection
// from a statement on. This package sets only the bits below 1<<8; callers
// may use the others for reasons of their own.
type Pin uint16

const (
	PinTempTable    Pin = 1 << iota // CREATE TEMPORARY TABLE / SEQUENCE
	PinLockTables                   // LOCK TABLES, FLUSH TABLES ... WITH READ LOCK (released by UNLOCK TABLES: see Unpin)
	PinNamedLock                    // GET_LOCK(...)
	PinUserVariable                 // SET @x = / SELECT @x := / SELECT ... INTO @x / any reference to @x
	PinSQLPrepare                   // PREPARE stmt FROM ...
	PinFoundRows                    // SQL_CALC_FOUND_ROWS (released by the next FOUND_ROWS())
	PinHandler                      // HANDLER t OPEN
	// PinSessionState: session variables were set by a text that cannot be
	// replayed elsewhere (a SET batched with other statements, or mixed
	// with GLOBAL assignments), so they live only on this connection.
	PinSessionState
)

var pinNames = [...]string{"temp_table", "lock_tables", "named_lock", "user_variable", "sql_prepare", "found_rows", "handler", "session_state"}

// String lists the reasons, comma-separated ("none" for the empty set).
func (p Pin) String() string {
	if p == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range pinNames {
		if p&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	if rest := p &^ (1<<len(pinNames) - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("unknown")
	}
	return b.String()
}

// HintRoute is a per-statement routing choice made by the application.
type HintRoute uint8

const (
	HintNone    HintRoute = iota
	HintPrimary           // /* switchyard: primary */, -- maxscale route to master
	HintReplica           // /* switchyard: replica */, -- maxscale route to slave
)

func (h HintRoute) String() string {
	switch h {
	case HintNone:
		return "none"
	case HintPrimary:
		return "primary"
	case HintReplica:
		return "replica"
	}
	return "invalid"
}

// Hint is what the application asked for in a comment. A replica hint does
// not make a write a read: the classification is reported as is, and the
// router decides what a hint may override.
type Hint struct {
	Route        HintRoute
	Consistency  string        // "eventual", "session", "global" or "primary"; "" when not given
	MaxStaleness time.Duration // 0 when not given
	// Invalid is the first hint item that could not be read (unknown word,
	// bad duration, unknown consistency), so the caller can warn; the rest
	// of the hint still applies.
	Invalid string
}

// Statement is the classification of one COM_QUERY or COM_STMT_PREPARE text
// (which may hold several statements separated by ';').
//
// No string in a Statement aliases the text it was classified from, so a
// caller may pass a string that views a reused packet buffer.
//
// Fields are independent: a batch such as "SET NAMES utf8; BEGIN" is Kind
// Transaction with SetsSessionVars set, so the caller reads every field it
// cares about rather than switching on Kind alone. Slices are shared with
// the decision cache and must be treated as read-only.
type Statement struct {
	Kind Kind
	Tx   TxOp
	// Autocommit is the value a SET autocommit assigns: 1 or 0, and 0 when
	// the value cannot be known statically (SET autocommit = @v, DEFAULT),
	// because wrongly assuming autocommit=1 would send reads of an open
	// implicit transaction to a replica. -1 when the statement does not set
	// autocommit. In a batch it is the last value set, even if Tx reports a
	// later operation.
	Autocommit int8
	Pin        Pin // pins this statement creates
	Unpin      Pin // pins it releases outright: UNLOCK TABLES → PinLockTables, RELEASE_ALL_LOCKS() → PinNamedLock, FOUND_ROWS() → PinFoundRows
	// Drop is set for statements that drop some of the objects behind a pin
	// (DROP [TEMPORARY] TABLE → PinTempTable, DEALLOCATE PREPARE →
	// PinSQLPrepare, HANDLER ... CLOSE → PinHandler). Whether the pin ends
	// depends on what else the session holds, which the classifier does not
	// track: Objects names what is dropped so the caller can keep a set.
	Drop Pin
	// Objects are the names of the temporary tables (as written, case kept),
	// SQL prepared statements (lower-case) or handler tables created by a
	// pinning statement or dropped by a Drop statement.
	Objects []string
	// UsesSessionFunc: LAST_INSERT_ID(), @@IDENTITY, @@LAST_INSERT_ID,
	// FOUND_ROWS(), ROW_COUNT(), SHOW WARNINGS/ERRORS/PROFILE(S),
	// @@warning_count, @@error_count, GET DIAGNOSTICS: the answer depends on
	// the previous statement, so this must run on the connection that ran it.
	UsesSessionFunc bool
	// SetsSessionVars: a SET of session system variables (or SET NAMES /
	// CHARACTER SET, SET SESSION TRANSACTION, SET ROLE) whose text is safe
	// to replay on other backend connections to carry the session's state:
	// it is set only when the whole text is such SETs (user variables and
	// autocommit may ride along). When session variables are set by a text
	// that is not safe to replay (batched with other statements, or with a
	// GLOBAL assignment), it is false, SessionVarNames still lists them,
	// and Pin has PinSessionState. autocommit alone is reported through
	// Tx/Autocommit, not here.
	SetsSessionVars bool
	// SessionVarNames are the lower-case names of the session system
	// variables it sets: "sql_mode", "time_zone", ...; "names" for SET
	// NAMES, "charset" for SET CHARACTER SET / CHARSET,
	// "transaction_isolation" / "transaction_read_only" for SET SESSION
	// TRANSACTION, "role" for SET ROLE.
	SessionVarNames []string
	UseDB           string // for USE db
	Hint            Hint   // from comment hints
	// Unparsed: the TiDB parser could not read it (MariaDB- or MySQL-only
	// syntax it does not know, or garbage). Routed as Write; count it.
	Unparsed bool
	// Unknown: no classification rule gave a sure answer: Unparsed texts,
	// statement types this package has no rule for, and texts whose
	// readings differ with the server's sql_mode or comment handling (see
	// the package doc). Always Write.
	Unknown bool
	// Digest is the normalized text (literals replaced by ?, comments
	// dropped, whitespace collapsed). It is set when the statement went
	// through the digest cache and empty when the lexical fast path decided;
	// call Digest(sql) when it is needed for those.
	Digest string
}

// newStatement returns a Statement of kind k with the "not set" sentinels.
func newStatement(k Kind) Statement {
	return Statement{Kind: k, Autocommit: -1}
}

// unknownWrite is the answer for anything we cannot classify.
func unknownWrite(unparsed bool) Statement {
	s := newStatement(Write)
	s.Unknown = true
	s.Unparsed = unparsed
	return s
}

// merge folds b (which ran after a) into a, for multi-statement strings:
// the most restrictive kind, the last transaction operation, the net pins.
// a's slices must be a's own (see own), b's are only read.
func merge(a, b Statement) Statement {
	if b.Kind.rank() > a.Kind.rank() {
		a.Kind = b.Kind
	}
	if b.Tx != TxNone {
		a.Tx = b.Tx
	}
	if b.Autocommit != -1 {
		a.Autocommit = b.Autocommit
	}
	a.Pin = (a.Pin &^ b.Unpin) | b.Pin
	a.Unpin = (a.Unpin &^ b.Pin) | b.Unpin
	a.Drop |= b.Drop
	if len(b.Objects) > 0 {
		a.Objects = append(a.Objects, b.Objects...)
	}
	a.UsesSessionFunc = a.UsesSessionFunc || b.UsesSessionFunc
	a.SetsSessionVars = a.SetsSessionVars || b.SetsSessionVars
	for _, n := range b.SessionVarNames {
		a.SessionVarNames = addName(a.SessionVarNames, n)
	}
	if b.UseDB != "" {
		a.UseDB = b.UseDB
	}
	a.Unparsed = a.Unparsed || b.Unparsed
	a.Unknown = a.Unknown || b.Unknown
	return a // Digest and Hint are the caller's: they describe the whole text
}

// endBatch applies the replay rule to a text of n statements, of which
// sets set session variables: replaying the text would run the others too.
func endBatch(st *Statement, sets, n int) {
	if sets > 0 && sets < n {
		st.SetsSessionVars = false
		st.Pin |= PinSessionState
	}
}

// own gives s its own copies of its slices, which may be shared with the
// cache, before merge appends to them.
func own(s Statement) Statement {
	s.Objects = slices.Clone(s.Objects)
	s.SessionVarNames = slices.Clone(s.SessionVarNames)
	return s
}

// appendUnique appends n unless present, never writing into a shared
// backing array.
func appendUnique(list []string, n string) []string {
	if len(list) < maxDedup && slices.Contains(list, n) {
		return list
	}
	return append(list[:len(list):len(list)], n)
}

// addName appends n unless present, to a list the caller owns.
func addName(list []string, n string) []string {
	if len(list) < maxDedup && slices.Contains(list, n) {
		return list
	}
	return append(list, n)
}

// maxDedup bounds the duplicate check of SessionVarNames, keeping a SET of
// thousands of variables linear; past it a name may repeat.
const maxDedup = 64
