package proxy

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

const autocommit = mysql.SERVER_STATUS_AUTOCOMMIT

func TestHeldAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    finished
		want hold
	}{
		{"plain read", finished{status: autocommit, known: true}, 0},
		{"write may be followed by LAST_INSERT_ID()", finished{status: autocommit, known: true, write: true}, holdSticky},
		{"failed write keeps its error for SHOW ERRORS", finished{status: autocommit, known: true, write: true, failed: true}, holdDiag},
		{"warnings stay readable", finished{status: autocommit, known: true, warnings: 2}, holdDiag},
		{"SHOW WARNINGS leaves them in place", finished{before: holdDiag, status: autocommit, known: true, readsLast: true}, holdDiag},
		{"a new statement clears them", finished{before: holdDiag, status: autocommit, known: true}, 0},
		{"open transaction", finished{status: autocommit | mysql.SERVER_STATUS_IN_TRANS, known: true}, holdTx},
		{"autocommit off", finished{status: 0, known: true}, holdNoAutocommit},
		{"pinned", finished{status: autocommit, pinned: true}, holdPin},
		{"cursor and long data carry over", finished{before: holdCursor | holdLongData | holdSticky, status: autocommit}, holdCursor | holdLongData},
		{"SET TRANSACTION holds for the next transaction", finished{status: autocommit, known: true, tx: classify.TxOther}, holdNextTx},
		{"SET TRANSACTION inside one does not", finished{status: autocommit | mysql.SERVER_STATUS_IN_TRANS, known: true, tx: classify.TxOther}, holdTx},
		{"COMMIT ends the next-transaction hold", finished{before: holdNextTx, status: autocommit, known: true, tx: classify.TxCommit}, 0},
		{"a failed SET TRANSACTION holds only its error", finished{status: autocommit, known: true, tx: classify.TxOther, failed: true}, holdDiag},
		{"an execute that opened a cursor", finished{status: autocommit, known: true, cursor: true}, holdCursor},
		{"unclassified command: only what the server says", finished{status: autocommit, write: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heldAfter(tc.f); got != tc.want {
				t.Fatalf("heldAfter(%+v) = %b, want %b", tc.f, got, tc.want)
			}
		})
	}
}

func TestUseOfHeld(t *testing.T) {
	read := target{class: router.ClassRead, read: true}
	write := target{class: router.ClassWrite}
	lastRead := target{class: router.ClassWrite, read: true, needsLast: true}
	session := target{class: router.ClassSession}
	for _, tc := range []struct {
		name      string
		holds     hold
		onPrimary bool
		t         target
		want      heldUse
	}{
		{"nothing held", 0, true, write, heldNone},
		{"sticky let go for an unrelated read", holdSticky, true, read, heldRelease},
		{"sticky kept for LAST_INSERT_ID()", holdSticky, true, lastRead, heldRun},
		{"warnings on a replica read there", holdDiag, false, lastRead, heldRun},
		{"transaction on the primary", holdTx, true, write, heldRun},
		{"cursor on the primary", holdCursor, true, write, heldRun},
		{"cursor on a replica: a read goes where the router says, beside it", holdCursor, false, read, heldBeside},
		{"cursor on a replica: START TRANSACTION READ ONLY runs there", holdCursor, false, target{class: router.ClassReadOnlyTx, read: true}, heldRun},
		{"cursor on a replica: a write goes beside", holdCursor, false, write, heldBeside},
		{"cursor on a replica: a SET goes beside", holdCursor, false, session, heldBeside},
		{"read-only transaction on a replica: a write is refused", holdTx, false, write, heldRefuse},
		{"read-only transaction on a replica: COMMIT runs there", holdTx, false, target{class: router.ClassTransaction}, heldRun},
		{"cursor on a replica: another cursor opens beside the first", holdCursor, false, target{class: router.ClassRead, read: true, cursor: true}, heldRun},
		{"cursor on a replica: its fetch runs there", holdCursor, false, target{class: router.ClassRead, read: true, onHeld: true}, heldRun},
		{"pinned on a replica: a write is refused", holdPin, false, write, heldRefuse},
		{"warnings on a replica, then a write that reads them: beside", holdDiag, false, target{class: router.ClassWrite, needsLast: true}, heldBeside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := useOfHeld(tc.holds, tc.onPrimary, tc.t)
			if got != tc.want {
				t.Fatalf("useOfHeld(%b, primary=%v, %+v) = %d, want %d", tc.holds, tc.onPrimary, tc.t, got, tc.want)
			}
			if !tc.onPrimary && got == heldRun && mayWrite(tc.t) {
				t.Fatal("BUG: a statement that may write runs on a replica connection")
			}
		})
	}
}
