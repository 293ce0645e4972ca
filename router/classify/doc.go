// Package classify tells the router what a statement is: a plain read that
// may run on a replica, a write for the primary, transaction control, or a
// change of session state; which pins it creates or releases (temporary
// tables, table locks, named locks, user variables, SQL prepared statements,
// FOUND_ROWS, HANDLER); whether it needs the connection of the previous
// statement (LAST_INSERT_ID(), SHOW WARNINGS, ...); which session variables
// it sets; and the application's comment hints. It is the only importer of
// the TiDB parser.
//
// # Fast path, parser, cache
//
// The proxy classifies every COM_QUERY and COM_STMT_PREPARE, so the cost
// is paid per statement. Three stages, cheapest first:
//
//  1. Lexical fast path (fast.go), no allocation. Skip whitespace and
//     comments (reading hints), look at the first keyword. SELECT, TABLE,
//     VALUES and WITH are reads unless a risky word appears anywhere in the
//     raw text (risk.go: FOR, LOCK, INTO, @, NEXTVAL, GET_LOCK, SLEEP,
//     LAST_INSERT_ID, SQL_CALC_FOUND_ROWS, ';', ...). The raw scan ignores
//     quoting on purpose: how a server cuts text into strings depends on its
//     sql_mode, which we do not know, but a word that is nowhere in the text
//     is in no reading of it. When a risky word does appear, the tokens are
//     looked at (strings and comments excluded), which settles the common
//     "email in a string" and "@x in a WHERE" cases, as long as the lexing
//     cannot depend on the sql_mode (no backslash in a string). INSERT,
//     UPDATE, DELETE and REPLACE are writes by keyword; their tokens add
//     pins. BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, XA, USE,
//     SET autocommit/NAMES/CHARACTER SET/TRANSACTION, SET STATEMENT ... FOR,
//     LOCK/UNLOCK TABLES, HANDLER, GET DIAGNOSTICS, EXPLAIN/DESCRIBE and
//     ANALYZE have small grammars here, which also cover the forms the TiDB
//     parser does not read (BEGIN WORK, COMMIT WORK, XA, MariaDB's SET
//     STATEMENT, START TRANSACTION with a characteristics list).
//  2. The decision cache (cache.go), keyed by the statement's digest
//     (digest.go: literals and placeholders become ?, lists of them fold,
//     comments go, whitespace collapses; words keep their case). Texts that
//     differ only in literal values share one parse: they have the same
//     words, so the server reads them alike. Only successful parses are
//     kept by digest; a parse failure may come from a literal (KILL 'x',
//     LIMIT 1.5) and says nothing about its siblings, so it is kept under
//     its exact text. A text is not cached when its answer depends on a
//     literal (SET autocommit), when its lexing depends on the sql_mode (a
//     backslash in a string), when it is ambiguous (a comment inside an
//     executable comment, an unterminated quote), or when its digest is
//     over 2 KiB.
//  3. The TiDB parser (parse.go), on a miss. Its AST gives the kind, the
//     pins and the session variables. A text with a backslash in a string
//     is parsed twice, with and without NO_BACKSLASH_ESCAPES, and gets the
//     more restrictive answer. A text no reading parses is a Write, marked
//     Unparsed (and Unknown), with the pins its words suggest; so is
//     MariaDB- or MySQL-only syntax TiDB does not know (SHOW ALL SLAVES
//     STATUS, BACKUP STAGE, SELECT ... INTO @x, RETURNING when it needs the
//     parser).
//
// Unknown always means Write: nothing this package cannot read goes to a
// replica. Over-pinning and over-restricting are the accepted costs of that
// rule. The words the risk scan looks at are cut at every non-ASCII byte
// (0xA0 is a space in latin1) and where a digit meets a letter, so a
// keyword the server might see is never missed.
//
// Texts with several statements (a; b) are split at ';' by the lexer (not
// inside strings, comments or CREATE/ALTER bodies) and get the most
// restrictive kind, the last transaction operation and the net pins of
// their parts. A batch is replayable (SetsSessionVars) only if every part
// is a replayable SET; a batch that sets session variables among other
// statements pins the session instead (PinSessionState), as does a SET
// with GLOBAL assignments or one the parser cannot read.
//
// The digest is our own single pass rather than parser.NormalizeDigest,
// which runs the full TiDB scanner, lower-cases and hashes; see
// BenchmarkDigestOwn and BenchmarkDigestTiDB.
//
// Executable comments (/*! ... */, /*M! ... */) are read as code whatever
// their version number, as a server newer than the number does; /*T! */ is
// a plain comment, as on MySQL and MariaDB.
//
// # Hints
//
// /* switchyard: primary */, /* switchyard: replica */,
// /* switchyard: consistency=session */ (eventual|session|global|primary),
// /* switchyard: max_staleness=2s */, combinable with commas; MaxScale's
// -- maxscale route to master / route to slave are aliases. Any comment of
// the statement may carry them (the lexer reads every comment it skips),
// and they are parsed on every call, outside the cache key. A hint never
// changes Kind: the router decides what a hint may override.
//
// # Concurrency contract
//
// Classify, Classifier.Classify, Stats, Len and Digest are safe for
// concurrent use from any number of sessions and never block on I/O. The
// only shared mutable state is the cache: a fixed number of shards (up to
// 32), each a map plus a CLOCK ring behind its own mutex, held for a map
// lookup and a struct copy; hit and miss counters are atomics per shard.
// TiDB parsers, which are not safe for concurrent use, come from a
// sync.Pool and never leave one call. A Statement is a value; its slices
// (Objects, SessionVarNames) may be shared with the cache and other callers
// and must not be modified. Nothing keeps or returns a view of the caller's
// text, so sql may view a buffer the caller reuses after the call.
//
// Statements nested in statements (EXPLAIN ANALYZE, SET STATEMENT ... FOR,
// ANALYZE <statement>) recurse at most a few levels on the fast path, and
// every pass is linear in the text, so hostile input costs linear time.
//
// The package starts no goroutines and exports no metrics: callers count
// Kind, Unparsed, Unknown and pins with bounded labels (Kind.String,
// TxOp.String, Pin.String) and read Stats for the cache.
package classify
