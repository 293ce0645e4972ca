package classify

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values for the parser's AST
)

// A *parser.Parser is not safe for concurrent use and is costly to build, so
// parsers are pooled.
var parsers = sync.Pool{New: func() any {
	p := parser.New()
	p.SetMariaDB(true)
	return p
}}

var (
	defaultMode = func() mysql.SQLMode {
		m, err := mysql.GetSQLMode(mysql.DefaultSQLMode)
		if err != nil {
			panic(fmt.Sprintf("BUG: default sql_mode: %v", err))
		}
		return m
	}()
	noBackslashMode = defaultMode | mysql.ModeNoBackslashEscapes
)

// parseAnalyze parses text in the given sql_mode and classifies what it
// read; false when it does not parse. The AST belongs to the pooled parser,
// so it is analyzed before the parser goes back. A panic inside the parser
// is an error like any other: the text is then unparsed and goes to the
// primary. A panic in our analysis is counted (tests require none) and
// answered the same way, rather than ending the client's session.
func parseAnalyze(text string, mode mysql.SQLMode) (st Statement, ok bool) {
	p := parsers.Get().(*parser.Parser)
	stmts, err := parseSafely(p, text, mode)
	if err != nil {
		if err != errParserPanic {
			parsers.Put(p) // a parser that panicked is not reused
		}
		return Statement{}, false
	}
	defer parsers.Put(p)
	defer func() {
		if r := recover(); r != nil {
			analyzePanics.Add(1)
			st, ok = Statement{}, false
		}
	}()
	if len(stmts) == 0 {
		return Statement{}, false
	}
	return analyzeAll(stmts), true
}

var (
	errParserPanic = errors.New("classify: the parser panicked")
	// analyzePanics counts panics in analyze; tests require it to stay 0.
	analyzePanics atomic.Uint64
)

func parseSafely(p *parser.Parser, text string, mode mysql.SQLMode) (stmts []ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmts, err = nil, errParserPanic
		}
	}()
	p.SetSQLMode(mode)
	stmts, _, err = p.Parse(forParser(text), "", "")
	return stmts, err
}

// forParser rewrites executable comments the way MySQL and MariaDB read
// them, which is not the way the TiDB scanner does: /*M!###### ... */ is
// code on MariaDB (TiDB skips it), /*!###### takes 5 or 6 version digits
// (TiDB exactly 5, leaving a sixth as code), and /*T! ... */ is a plain
// comment on both servers (TiDB runs it).
func forParser(text string) string {
	if !strings.Contains(text, "/*") {
		return text
	}
	i := strings.Index(text, "/*")
	var b []byte
	for i >= 0 {
		j := i + 2
		switch {
		case j < len(text) && text[j] == '!':
			j++
		case j+1 < len(text) && text[j] == 'M' && text[j+1] == '!':
			j += 2
		case j+1 < len(text) && text[j] == 'T' && text[j+1] == '!':
			if b == nil {
				b = []byte(text)
			}
			b[j+1] = ' '
			i = nextComment(text, j+2)
			continue
		default:
			i = nextComment(text, j)
			continue
		}
		k := j
		for k < len(text) && k-j < 6 && isDigit(text[k]) {
			k++
		}
		if b == nil {
			b = []byte(text)
		}
		// "/*!" then blanks over the M and the version.
		b[i+2] = '!'
		for x := i + 3; x < k; x++ {
			b[x] = ' '
		}
		i = nextComment(text, k)
	}
	if b == nil {
		return text
	}
	return string(b)
}

func nextComment(s string, from int) int {
	if from >= len(s) {
		return -1
	}
	k := strings.Index(s[from:], "/*")
	if k < 0 {
		return -1
	}
	return from + k
}

// parseClassify parses text and classifies it, for texts lexed with info.
// A text with a backslash in a string is parsed a second time as a
// NO_BACKSLASH_ESCAPES session would read it; the answer is then safe under
// either reading. An ambiguous text (comments inside executable comments,
// unterminated quotes or comments) may be read by the server in a way no
// parser mode reproduces, so it is at least a Write. When no reading
// parses, the answer is the lexical fallback, a Write.
//
// key is the text's digest when its lexing is unambiguous: the fallback
// then looks for pins in it rather than in the raw text, so that texts
// sharing a digest (and so a cache entry) get the same answer.
func parseClassify(text string, key []byte, info lexInfo) Statement {
	st := parseReadings(text, key, info.backslash || info.ambiguous)
	if info.ambiguous && st.Kind != Write {
		st.Kind, st.Unknown = Write, true
	}
	return st
}

func parseReadings(text string, key []byte, both bool) Statement {
	a, okA := parseAnalyze(text, defaultMode)
	if !both {
		if okA {
			return a
		}
		return fallback(text, key)
	}
	b, okB := parseAnalyze(text, noBackslashMode)
	switch {
	case okA && okB:
		return either(a, b)
	case okA:
		return a
	case okB:
		return b
	}
	return fallback(text, nil)
}

// either combines two possible readings of the same text: whatever holds in
// one reading must be assumed.
func either(a, b Statement) Statement {
	if a.Kind != b.Kind || a.Tx != b.Tx || a.UseDB != b.UseDB || a.Autocommit != b.Autocommit {
		w := unknownWrite(false)
		w.Pin = a.Pin | b.Pin
		w.Unpin = a.Unpin & b.Unpin
		w.UsesSessionFunc = a.UsesSessionFunc || b.UsesSessionFunc
		return w
	}
	a.Pin |= b.Pin
	a.Unpin &= b.Unpin
	a.Drop &= b.Drop
	a.UsesSessionFunc = a.UsesSessionFunc || b.UsesSessionFunc
	a.SetsSessionVars = a.SetsSessionVars || b.SetsSessionVars
	for _, n := range b.SessionVarNames {
		a.SessionVarNames = appendUnique(a.SessionVarNames, n)
	}
	a.Unknown = a.Unknown || b.Unknown
	return a
}

func analyzeAll(stmts []ast.StmtNode) Statement {
	st := analyze(stmts[0])
	if len(stmts) == 1 {
		return st
	}
	st = own(st)
	sets := 0
	if st.SetsSessionVars {
		sets++
	}
	for _, n := range stmts[1:] {
		part := analyze(n)
		if part.SetsSessionVars {
			sets++
		}
		st = merge(st, part)
	}
	endBatch(&st, sets, len(stmts))
	return st
}

// analyze classifies one parsed statement.
func analyze(n ast.StmtNode) Statement {
	st := newStatement(Write)
	visit := true
	switch x := n.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		st.Kind = Read
	case *ast.ShowStmt:
		st.Kind, st.UsesSessionFunc = showKind(x)
	case *ast.ExplainStmt:
		switch {
		case x.Stmt == nil: // TiDB's EXPLAIN [ANALYZE] '<digest>'
			st.Unknown, visit = true, false
		case x.Analyze: // EXPLAIN ANALYZE runs the statement
			return analyze(x.Stmt)
		case isDML(x.Stmt):
			// It writes nothing, but a read-only session refuses it
			// (1792), as replica connections are.
			st.Kind, visit = Write, false
		default:
			st.Kind, visit = Read, false
		}
	case *ast.HelpStmt:
		st.Kind = Read
	case *ast.UseStmt:
		st.Kind, st.UseDB = Session, strings.Clone(x.DBName)
	case *ast.BeginStmt:
		st.Kind, st.Tx = Transaction, TxBegin
		if x.ReadOnly {
			st.Tx = TxBeginReadOnly
		}
	case *ast.CommitStmt:
		st.Kind, st.Tx = Transaction, TxCommit
		if x.CompletionType == ast.CompletionTypeChain {
			st.Tx = TxOther
		}
	case *ast.RollbackStmt:
		st.Kind, st.Tx = Transaction, TxRollback
		if x.SavepointName != "" || x.CompletionType == ast.CompletionTypeChain {
			st.Tx = TxOther
		}
	case *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		st.Kind, st.Tx = Transaction, TxOther
	case *ast.SetStmt:
		analyzeSet(x, &st)
	case *ast.SetRoleStmt:
		st.Kind, st.SetsSessionVars, st.SessionVarNames = Session, true, namesRole
	case *ast.PrepareStmt:
		st.Kind, st.Pin = Session, PinSQLPrepare
		st.Objects = []string{lowerCopy(x.Name)}
	case *ast.ExecuteStmt:
		st.Kind = Session
	case *ast.DeallocateStmt:
		st.Kind, st.Drop = Session, PinSQLPrepare
		st.Objects = []string{lowerCopy(x.Name)}
	case *ast.LockTablesStmt:
		st.Kind, st.Pin = Session, PinLockTables
	case *ast.UnlockTablesStmt:
		st.Kind, st.Unpin = Session, PinLockTables
	case *ast.CreateTableStmt:
		if x.TemporaryKeyword != ast.TemporaryNone {
			st.Pin = PinTempTable
			st.Objects = []string{tableName(x.Table)}
		}
	case *ast.CreateSequenceStmt:
		// Write; TiDB reads no TEMPORARY here, the lexical fallback does.
	case *ast.DropTableStmt:
		// DROP TABLE t drops a temporary t first if the session has one.
		if !x.IsView {
			st.Drop = PinTempTable
			for _, t := range x.Tables {
				st.Objects = append(st.Objects, tableName(t))
			}
		}
	case *ast.FlushStmt:
		if x.ReadLock {
			st.Pin = PinLockTables
		}
	case *ast.ProcedureInfo:
		visit = false // the body runs later, when called
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.LoadDataStmt,
		*ast.CallStmt, *ast.DoStmt, *ast.KillStmt, *ast.GrantStmt, *ast.RevokeStmt,
		*ast.GrantRoleStmt, *ast.RevokeRoleStmt, *ast.GrantProxyStmt,
		*ast.CreateUserStmt, *ast.AlterUserStmt, *ast.DropUserStmt, *ast.RenameUserStmt,
		*ast.SetPwdStmt, *ast.SetDefaultRoleStmt, *ast.AnalyzeTableStmt, *ast.BinlogStmt,
		*ast.ShutdownStmt, *ast.RestartStmt, *ast.ExplainForStmt, *ast.AlterInstanceStmt,
		*ast.DropProcedureStmt:
		// Write.
	default:
		if _, ok := n.(ast.DDLNode); !ok {
			st.Unknown = true
		}
	}
	if !visit {
		return st
	}
	var f features
	n.Accept(&f)
	if f.write && st.Kind != Transaction {
		st.Kind = Write
	}
	st.Pin |= f.pin
	st.Unpin |= f.unpin
	if f.foundRows && st.Pin&PinFoundRows == 0 {
		st.Unpin |= PinFoundRows // FOUND_ROWS() consumed the count
	}
	st.UsesSessionFunc = st.UsesSessionFunc || f.sessFunc
	return st
}

var (
	namesRole      = []string{"role"}
	namesNames     = []string{"names"}
	namesCharset   = []string{"charset"}
	namesIsolation = []string{"transaction_isolation"}
	namesReadOnly  = []string{"transaction_read_only"}
	namesTxBoth    = []string{"transaction_isolation", "transaction_read_only"}
)

func tableName(t *ast.TableName) string {
	if t.Schema.O != "" {
		return t.Schema.O + "." + t.Name.O
	}
	return strings.Clone(t.Name.O)
}

// analyzeSet classifies SET var = ..., [...]. SET TRANSACTION, SET NAMES
// alone and SET autocommit alone are usually decided lexically before this.
func analyzeSet(x *ast.SetStmt, st *Statement) {
	st.Kind = Session
	write := false
	for _, v := range x.Variables {
		switch {
		case v.Name == ast.SetNames:
			st.SetsSessionVars = true
			st.SessionVarNames = appendUnique(st.SessionVarNames, "names")
		case v.Name == ast.SetCharset:
			st.SetsSessionVars = true
			st.SessionVarNames = appendUnique(st.SessionVarNames, "charset")
		case !v.IsSystem:
			st.Pin |= PinUserVariable
		default:
			name := strings.ToLower(v.Name)
			switch {
			case v.IsGlobal || v.IsInstance || strings.HasPrefix(name, "persist.") || strings.HasPrefix(name, "persist_only."):
				write = true
			case name == "autocommit":
				st.Tx = TxSetAutocommit
				st.Autocommit = autocommitValue(v.Value)
			case name == "tx_isolation_one_shot":
				st.Tx = TxOther // SET TRANSACTION ISOLATION LEVEL: next transaction only
			case name == "tx_read_only" || name == "tx_isolation":
				// SET SESSION TRANSACTION ... parses to these.
				st.SetsSessionVars = true
				st.SessionVarNames = appendUnique(st.SessionVarNames, sessionTxName(name))
			default:
				st.SetsSessionVars = true
				st.SessionVarNames = appendUnique(st.SessionVarNames, strings.Clone(name))
			}
		}
	}
	switch {
	case write:
		st.Kind = Write
		if st.SetsSessionVars {
			// Replaying the text would redo the GLOBAL assignments (on
			// replicas too); TiDB also forgets that a GLOBAL carries to the
			// assignments after it. Keep the session where its state is.
			st.SetsSessionVars = false
			st.Pin |= PinSessionState
		}
	case st.Tx != TxNone:
		st.Kind = Transaction
	}
}

func sessionTxName(name string) string {
	if name == "tx_isolation" {
		return "transaction_isolation"
	}
	return "transaction_read_only"
}

// autocommitValue evaluates the right side of SET autocommit. Anything it
// cannot evaluate counts as 0: believing autocommit is on when it is off
// would send reads of an open implicit transaction to a replica.
func autocommitValue(e ast.ExprNode) int8 {
	switch v := e.(type) {
	case ast.ValueExpr:
		switch x := v.GetValue().(type) {
		case int64:
			if x != 0 {
				return 1
			}
			return 0
		case uint64:
			if x != 0 {
				return 1
			}
			return 0
		case string:
			return boolWord(x)
		}
	case *ast.ColumnNameExpr: // SET autocommit = OFF parses OFF as a name
		return boolWord(v.Name.Name.O)
	}
	return 0
}

func boolWord(s string) int8 {
	switch strings.ToLower(s) {
	case "1", "on", "true":
		return 1
	}
	return 0
}

// showKind: SHOW of replicated metadata is a read; SHOW of one server's
// state (replication, processes, status and variables, which differ between
// primary and replicas) goes to the primary; SHOW WARNINGS/ERRORS/PROFILE
// describe the previous statement of the connection.
func showKind(x *ast.ShowStmt) (Kind, bool) {
	switch x.Tp {
	case ast.ShowWarnings, ast.ShowErrors, ast.ShowProfile, ast.ShowProfiles:
		return Read, true
	case ast.ShowDatabases, ast.ShowTables, ast.ShowTableStatus, ast.ShowColumns,
		ast.ShowCharset, ast.ShowCollation, ast.ShowCreateTable, ast.ShowCreateView,
		ast.ShowCreateUser, ast.ShowCreateSequence, ast.ShowGrants, ast.ShowTriggers,
		ast.ShowProcedureStatus, ast.ShowFunctionStatus, ast.ShowIndex,
		ast.ShowCreateDatabase, ast.ShowEvents, ast.ShowPlugins, ast.ShowPrivileges,
		ast.ShowEngines, ast.ShowCreateProcedure:
		return Read, false
	}
	// MASTER/BINLOG/REPLICA STATUS, PROCESSLIST, [GLOBAL|SESSION] STATUS and
	// VARIABLES, OPEN TABLES, and TiDB-only statements.
	return Write, false
}

// features collects what expressions anywhere in a statement imply.
type features struct {
	write     bool
	pin       Pin
	unpin     Pin
	sessFunc  bool
	foundRows bool
}

func (f *features) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		if x.LockInfo != nil && x.LockInfo.LockType != ast.SelectLockNone {
			f.write = true
		}
		if x.SelectIntoOpt != nil {
			f.write = true
		}
		if x.SelectStmtOpts != nil && x.SelectStmtOpts.CalcFoundRows {
			f.pin |= PinFoundRows
		}
	case *ast.FuncCallExpr:
		switch x.FnName.L {
		case ast.GetLock:
			f.write = true
			f.pin |= PinNamedLock
		case ast.ReleaseAllLocks:
			f.write = true
			f.unpin |= PinNamedLock
		case ast.ReleaseLock, ast.IsUsedLock, ast.IsFreeLock,
			ast.NextVal, ast.LastVal, ast.SetVal,
			"master_pos_wait", "source_pos_wait", "master_gtid_wait",
			"wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids":
			f.write = true
		case ast.LastInsertId, ast.RowCount:
			f.sessFunc = true
		case ast.FoundRows:
			f.sessFunc = true
			f.foundRows = true
		}
	case *ast.VariableExpr:
		if !x.IsSystem {
			f.pin |= PinUserVariable
		} else if sysVarRisky(x.Name) {
			f.sessFunc = true
		}
	}
	return n, false
}

func (f *features) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// isDML tells whether n is an INSERT, REPLACE, UPDATE or DELETE.
func isDML(n ast.StmtNode) bool {
	switch n.(type) {
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
		return true
	}
	return false
}
