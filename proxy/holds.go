package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// hold is a reason for a session to keep its backend connection between
// statements instead of giving it back to the pool.
type hold uint16

const (
	holdTx           hold = 1 << iota // the server says a transaction is open
	holdNoAutocommit                  // autocommit is off: every statement is in a transaction
	holdPin                           // state only that backend knows: temporary tables, locks, user variables…
	holdCursor                        // a prepared statement's cursor is open
	holdLongData                      // COM_STMT_SEND_LONG_DATA went there for a coming execute
	holdNextTx                        // SET TRANSACTION applies to the next transaction there
	holdSticky                        // the last statement wrote: LAST_INSERT_ID() or ROW_COUNT() may follow
	holdDiag                          // the last statement left warnings or an error: SHOW WARNINGS may follow
)

// softHolds keep a connection only for a next statement that reads the
// previous one's results (LAST_INSERT_ID(), SHOW WARNINGS…); any other
// statement lets it go back to the pool first.
const softHolds = holdSticky | holdDiag

// stateHolds are the holds whose state lives only on that connection: a
// statement of the session cannot run anywhere else.
const stateHolds = holdTx | holdNoAutocommit | holdPin

// finished is what heldAfter needs to know about a command that ended.
type finished struct {
	before    hold          // holds in force before the command
	status    uint16        // the server status flags the response ended with
	failed    bool          // the response ended with an ERR packet
	warnings  uint16        // the warning count the response ended with
	pinned    bool          // after it, the session holds state only this connection knows
	known     bool          // the command had a classified statement (tx and write mean something)
	tx        classify.TxOp // the statement's transaction operation
	write     bool          // the statement may have changed data
	readsLast bool          // it read the previous statement's diagnostics, which it leaves in place
	cursor    bool          // it opened a cursor (COM_STMT_EXECUTE asked for one), fetched there later
}

// heldAfter is what a finished command leaves the session holding on its
// connection. It is a pure function of the holds before, the statement and
// the server's answer (status flags, error, warnings), so that every
// command handler keeps or gives back its connection by the same rules.
func heldAfter(f finished) hold {
	h := f.before & (holdCursor | holdLongData | holdNextTx)
	if f.status&mysql.SERVER_STATUS_IN_TRANS != 0 {
		h |= holdTx
	}
	if f.status&mysql.SERVER_STATUS_AUTOCOMMIT == 0 {
		h |= holdNoAutocommit
	}
	if f.pinned {
		h |= holdPin
	}
	if f.cursor {
		h |= holdCursor
	}
	if f.known && !f.failed {
		switch f.tx {
		case classify.TxOther:
			if h&holdTx == 0 {
				h |= holdNextTx // SET TRANSACTION: the next transaction runs there
			}
		case classify.TxCommit, classify.TxRollback:
			h &^= holdNextTx
		}
		if f.write {
			h |= holdSticky
		}
	}
	if f.readsLast && !f.failed {
		h |= f.before & softHolds // SHOW WARNINGS does not clear them
	}
	if f.failed || f.warnings > 0 {
		// The diagnostics area belongs to the connection that ran the
		// statement: SHOW WARNINGS, GET DIAGNOSTICS and @@warning_count
		// must run there.
		h |= holdDiag
	}
	return h
}

// heldUse is what a command does with the connection the session holds.
type heldUse uint8

const (
	heldNone    heldUse = iota // nothing is held
	heldRun                    // run on the held connection
	heldRelease                // give it back first: the command runs where the router says
	heldBeside                 // keep it (a cursor on a replica) and run where the router says, beside it
	heldRefuse                 // the command may write and the session's state is on a replica
)

// useOfHeld decides where a command of class t goes while the session holds
// a connection. Its invariant: a command that may write never runs on a
// connection to a replica.
func useOfHeld(holds hold, onPrimary bool, t target) heldUse {
	switch {
	case holds == 0:
		return heldNone
	case t.onHeld:
		return heldRun // COM_STMT_FETCH / RESET: what they act on is there
	case holds&^softHolds == 0 && !t.needsLast:
		return heldRelease
	case onPrimary:
		return heldRun
	case holds&stateHolds != 0:
		if mayWrite(t) {
			return heldRefuse
		}
		return heldRun
	case t.class == router.ClassReadOnlyTx, t.read && (t.needsLast || t.cursor):
		return heldRun
	}
	// Only a cursor or long data keeps the replica connection: the command
	// is routed as if nothing were held (a write to the primary, a read to
	// a replica that has what it must see), beside it.
	return heldBeside
}

// mayWrite tells whether a statement may change data or the transaction
// mode, so that it must never run on a replica.
func mayWrite(t target) bool {
	return t.class == router.ClassWrite && !t.read
}

// errWriteOnReplica refuses a statement that may write while the session's
// state is on a replica connection: inside START TRANSACTION READ ONLY, as
// the server itself would; otherwise the state that keeps the session there
// cannot follow it to the primary.
func errWriteOnReplica(holds hold) error {
	if holds&holdTx != 0 {
		return &mysql.MyError{Code: mysql.ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, State: "25006",
			Message: "Cannot execute statement in a READ ONLY transaction (switchyard runs it on a replica); COMMIT first, or start the transaction without READ ONLY"}
	}
	return &mysql.MyError{Code: mysql.ER_OPTION_PREVENTS_STATEMENT, State: "HY000",
		Message: "switchyard: this session holds state on a replica connection (a cursor or a variable set by a read), so a statement that writes cannot run there; close the cursor or reconnect, then retry"}
}
