package proxy

import (
	"hash/fnv"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// sessionState is what a client set on its session that must follow it to
// every backend connection it borrows: the default database, the session
// variables it set (SET NAMES, sql_mode, time_zone, …, replayed as the
// client wrote them), and the multi-statement option.
type sessionState struct {
	db           string
	sets         []setStmt
	multiStmtOff bool
	varsKey      uint64 // hash of sets and multiStmtOff; 0 = nothing set
}

// setStmt is one SET statement to replay, with the variables it sets: a
// later SET of the same variables replaces it.
type setStmt struct {
	text  string
	names []string
}

// addSet records a successful SET statement.
func (st *sessionState) addSet(text string, names []string) {
	st.sets = slices.DeleteFunc(st.sets, func(s setStmt) bool {
		return len(names) > 0 && slices.Equal(s.names, names)
	})
	st.sets = append(st.sets, setStmt{text: text, names: names})
	st.rehash()
}

func (st *sessionState) rehash() {
	if len(st.sets) == 0 && !st.multiStmtOff {
		st.varsKey = 0
		return
	}
	h := fnv.New64a()
	for _, s := range st.sets {
		_, _ = h.Write([]byte(s.text))
		_, _ = h.Write([]byte{0})
	}
	if st.multiStmtOff {
		_, _ = h.Write([]byte{1})
	}
	st.varsKey = h.Sum64() | 1 // never 0
}

// setsName tells whether a recorded SET sets one of names.
func (st *sessionState) setsName(names ...string) bool {
	for _, set := range st.sets {
		for _, n := range set.names {
			if slices.Contains(names, n) {
				return true
			}
		}
	}
	return false
}

// reset forgets everything but the database, as COM_RESET_CONNECTION does.
func (st *sessionState) reset() {
	st.sets = nil
	st.multiStmtOff = false
	st.varsKey = 0
}

// appliedState is what a backend connection carries (backend.Conn.State).
type appliedState struct {
	db       string
	varsKey  uint64
	tracking bool // session tracking is on (trackSession)
	// readOnly: SET SESSION TRANSACTION READ ONLY is in force, as on every
	// connection to a server that is not the primary.
	readOnly bool
	flavor   gtid.Flavor // its GTIDs, and the SQL that waits for one, are this flavor's
}

// withoutDB accepts a pooled connection with no default database.
func withoutDB(c *backend.Conn) bool {
	ap, _ := c.State.(*appliedState)
	return ap == nil || ap.db == ""
}

// The guard of every connection to a replica: with the session read-only,
// MariaDB and MySQL refuse DML and DDL (1792) even for an account whose
// privileges pass read_only, so a routing mistake fails loudly instead of
// giving the replica a GTID of its own, which would stop its replication.
// It runs after the session's variables are replayed, so a client's own
// transaction_read_only cannot undo it.
const (
	guardReadOnly  = "SET SESSION TRANSACTION READ ONLY"
	guardReadWrite = "SET SESSION TRANSACTION READ WRITE"
)

// syncState makes conn carry the session's state, in one round trip: the
// statements are written back to back and their answers read after. A
// connection that had another session's variables is reset first.
func (s *Session) syncState(conn *backend.Conn) error {
	if s.inSync(conn) {
		return nil
	}
	n, err := s.writeState(conn)
	if err == nil && n > 0 {
		err = conn.Flush()
	}
	if err != nil {
		conn.Broken = true
		return err
	}
	return s.readState(conn, n)
}

// inSync tells whether conn carries the session's state already.
func (s *Session) inSync(conn *backend.Conn) bool {
	ap := applied(conn)
	return ap.varsKey == s.state.varsKey && ap.db == s.state.db && ap.tracking && ap.readOnly == !conn.OnPrimary
}

// applied is the state conn carries, made empty the first time.
func applied(conn *backend.Conn) *appliedState {
	ap, _ := conn.State.(*appliedState)
	if ap == nil {
		ap = &appliedState{}
		conn.State = ap
	}
	return ap
}

// writeState writes, unflushed, the statements that give conn the
// session's state, and returns how many answers readState must read. The
// caller flushes them, alone (syncState) or with what follows (a read's
// wait and the read itself, see prelude.go).
func (s *Session) writeState(conn *backend.Conn) (n int, err error) {
	ap := applied(conn)
	readOnly := !conn.OnPrimary
	seqWrite := func(payload []byte) error {
		n++
		_, err := conn.Write(payload, 0)
		return err
	}
	query := func(sql string) error { return seqWrite(append([]byte{mysql.COM_QUERY}, sql...)) }
	varsChange := ap.varsKey != s.state.varsKey
	if varsChange && ap.varsKey != 0 {
		err = seqWrite([]byte{mysql.COM_RESET_CONNECTION})
		ap.tracking, ap.varsKey, ap.readOnly = false, 0, false
		clear(conn.Stmts)
	}
	if err == nil && ap.varsKey != s.state.varsKey {
		for _, set := range s.state.sets {
			if err = query(set.text); err != nil {
				break
			}
			if replacesTracking(set.text) {
				ap.tracking = false
			}
		}
		if err == nil && s.state.multiStmtOff {
			err = seqWrite([]byte{mysql.COM_SET_OPTION, 1, 0}) // MYSQL_OPTION_MULTI_STATEMENTS_OFF
		}
	}
	// After the replayed SETs, which may set session_track_system_variables.
	if err == nil && !ap.tracking {
		err = query(trackingFor(ap.flavor))
	}
	if err == nil && ap.db != s.state.db && s.state.db != "" {
		err = seqWrite(append([]byte{mysql.COM_INIT_DB}, s.state.db...))
	}
	switch {
	case err != nil:
	case readOnly && (varsChange || !ap.readOnly):
		err = query(guardReadOnly)
	case !readOnly && ap.readOnly:
		// A replica that became the primary: its pooled connections
		// become writable again (a replayed transaction_read_only of the
		// client's own, if any, was replayed above and is kept).
		if !s.state.setsName("transaction_read_only", "tx_read_only") {
			err = query(guardReadWrite)
		}
	}
	return n, err
}

// readState reads the n answers of writeState's statements. A refusal
// (the first, as a *backend.Error with Server set) or a failure leaves conn
// Broken: its state is unknown.
func (s *Session) readState(conn *backend.Conn, n int) error {
	var first *mysql.MyError
	for range n {
		p, err := conn.ReadSmall()
		if err != nil {
			conn.Broken = true
			return err
		}
		if len(p) > 0 && p[0] == wire.ERRHeader && first == nil {
			first = parseErr(p)
		}
	}
	if first != nil {
		conn.Broken = true // its state is now unknown
		return &backend.Error{Name: conn.Name, Address: conn.Address, Server: first, Err: first}
	}
	ap := applied(conn)
	ap.tracking, ap.varsKey, ap.readOnly = true, s.state.varsKey, !conn.OnPrimary
	if s.state.db != "" {
		ap.db = s.state.db
	}
	return nil
}

// parseErr decodes an ERR packet payload.
func parseErr(p []byte) *mysql.MyError {
	e := &mysql.MyError{State: mysql.DEFAULT_MYSQL_STATE}
	if len(p) < 3 {
		e.Message = "malformed error packet"
		return e
	}
	e.Code = uint16(p[1]) | uint16(p[2])<<8
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State, rest = string(rest[1:6]), rest[6:]
	}
	e.Message = string(rest)
	return e
}
