package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/go-sql-driver/mysql"
)

// The statements of sysbench's oltp_common.lua (1.0.20), with its defaults:
// 10 point selects, one of each range query over 100 ids, one index update,
// one non-index update, one delete and one insert per transaction.
const (
	pointSelects = 10
	rangeSize    = 100
)

type stmtKind int

const (
	stPoint stmtKind = iota
	stSimpleRange
	stSumRange
	stOrderRange
	stDistinctRange
	stIndexUpdate
	stNonIndexUpdate
	stDelete
	stInsert
	stBegin
	stCommit
	numStmtKinds
)

var stmtTemplates = [numStmtKinds]string{
	stPoint:          "SELECT c FROM sbtest%d WHERE id=?",
	stSimpleRange:    "SELECT c FROM sbtest%d WHERE id BETWEEN ? AND ?",
	stSumRange:       "SELECT SUM(k) FROM sbtest%d WHERE id BETWEEN ? AND ?",
	stOrderRange:     "SELECT c FROM sbtest%d WHERE id BETWEEN ? AND ? ORDER BY c",
	stDistinctRange:  "SELECT DISTINCT c FROM sbtest%d WHERE id BETWEEN ? AND ? ORDER BY c",
	stIndexUpdate:    "UPDATE sbtest%d SET k=k+1 WHERE id=?",
	stNonIndexUpdate: "UPDATE sbtest%d SET c=? WHERE id=?",
	stDelete:         "DELETE FROM sbtest%d WHERE id=?",
	stInsert:         "INSERT INTO sbtest%d (id, k, c, pad) VALUES (?, ?, ?, ?)",
	stBegin:          "BEGIN",
	stCommit:         "COMMIT",
}

// statementText returns the SQL of every statement for tables 1..n, indexed
// [table-1][kind]. Workers share it read-only.
func statementText(n int) [][numStmtKinds]string {
	out := make([][numStmtKinds]string, n)
	for t := range out {
		for k, tpl := range stmtTemplates {
			if k == int(stBegin) || k == int(stCommit) {
				out[t][k] = tpl
				continue
			}
			out[t][k] = fmt.Sprintf(tpl, t+1)
		}
	}
	return out
}

type oltpKind int

const (
	oltpPointSelect oltpKind = iota
	oltpReadOnly
	oltpReadWrite
	// oltpReadWriteAutocommit: oltpReadWrite's statements without BEGIN
	// and COMMIT, then a read of the row the event inserted.
	oltpReadWriteAutocommit
)

// oltpWorker runs one client of a sysbench-like mix on one connection it
// owns. It is used by one goroutine only. Like sysbench, the prepared variant
// prepares BEGIN and COMMIT too, so a proxy sees transaction control through
// COM_STMT_EXECUTE.
type oltpWorker struct {
	db        *sql.DB
	conn      *sql.Conn // nil after a connection error, until the next event
	prepared  bool
	kind      oltpKind
	sql       [][numStmtKinds]string
	tableSize int
	rng       *rand.Rand
	stmts     [][numStmtKinds]*sql.Stmt // prepared lazily on conn
	raw       sql.RawBytes
	buf       []byte
	// slot of slots: the worker's share of the ids it deletes and inserts
	// again in autocommit (deleteID), where no transaction keeps two
	// workers from inserting the same id.
	slot, slots int
}

func newOLTPWorker(db *sql.DB, kind oltpKind, prepared bool, text [][numStmtKinds]string, tableSize int, seed uint64) *oltpWorker {
	return &oltpWorker{
		db:        db,
		prepared:  prepared,
		kind:      kind,
		sql:       text,
		tableSize: tableSize,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		buf:       make([]byte, 0, 128),
	}
}

// connect makes sure the worker holds a connection.
func (w *oltpWorker) connect(ctx context.Context) error {
	if w.conn != nil {
		return nil
	}
	c, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	w.conn = c
	w.stmts = make([][numStmtKinds]*sql.Stmt, len(w.sql))
	return nil
}

// drop releases the connection after an error that may have broken it; the
// pool discards it when the driver marked it bad.
func (w *oltpWorker) drop() {
	if w.conn == nil {
		return
	}
	for t := range w.stmts {
		for _, s := range w.stmts[t] {
			if s != nil {
				_ = s.Close()
			}
		}
	}
	w.stmts = nil
	_ = w.conn.Close()
	w.conn = nil
}

func (w *oltpWorker) close() { w.drop() }

func (w *oltpWorker) stmt(ctx context.Context, t int, k stmtKind) (*sql.Stmt, error) {
	if s := w.stmts[t][k]; s != nil {
		return s, nil
	}
	s, err := w.conn.PrepareContext(ctx, w.sql[t][k])
	if err != nil {
		return nil, err
	}
	w.stmts[t][k] = s
	return s, nil
}

// query runs a statement that returns rows and reads them all.
func (w *oltpWorker) query(ctx context.Context, t int, k stmtKind, args ...any) error {
	var rows *sql.Rows
	var err error
	if w.prepared {
		var s *sql.Stmt
		if s, err = w.stmt(ctx, t, k); err != nil {
			return err
		}
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = w.conn.QueryContext(ctx, w.sql[t][k], args...)
	}
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := rows.Scan(&w.raw); err != nil {
			_ = rows.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return err
	}
	return rows.Close()
}

// exec runs a statement that returns no rows.
func (w *oltpWorker) exec(ctx context.Context, t int, k stmtKind, args ...any) error {
	if w.prepared {
		s, err := w.stmt(ctx, t, k)
		if err != nil {
			return err
		}
		_, err = s.ExecContext(ctx, args...)
		return err
	}
	_, err := w.conn.ExecContext(ctx, w.sql[t][k], args...)
	return err
}

func (w *oltpWorker) table() int { return w.rng.IntN(len(w.sql)) }
func (w *oltpWorker) id() int    { return 1 + w.rng.IntN(w.tableSize) }

// deleteID picks the id a write deletes and inserts again. In a
// transaction any id does (the row lock orders two workers); in autocommit
// a worker takes only ids of its own slot, else two workers that deleted
// the same row both insert it and one fails with 1062.
func (w *oltpWorker) deleteID() int {
	if w.kind != oltpReadWriteAutocommit || w.slots <= 1 || w.slots > w.tableSize {
		return w.id()
	}
	return 1 + w.slot + w.slots*w.rng.IntN((w.tableSize-w.slot+w.slots-1)/w.slots)
}

// rangeStart picks the first id of a range that fits the table.
func (w *oltpWorker) rangeStart() int {
	if w.tableSize <= rangeSize {
		return 1
	}
	return 1 + w.rng.IntN(w.tableSize-rangeSize+1)
}

// event runs one sysbench event: a point select, or a whole transaction. It
// returns the statements that succeeded. A server error inside a transaction
// rolls it back and keeps the connection; any other error drops it.
func (w *oltpWorker) event(ctx context.Context) (int, error) {
	if err := w.connect(ctx); err != nil {
		return 0, err
	}
	var q int
	var err error
	switch w.kind {
	case oltpPointSelect:
		err = w.query(ctx, w.table(), stPoint, w.id())
		if err == nil {
			q = 1
		}
	case oltpReadOnly, oltpReadWrite, oltpReadWriteAutocommit:
		q, err = w.transaction(ctx)
	default:
		panic(fmt.Sprintf("BUG: unknown oltp kind %d", w.kind))
	}
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			if w.kind == oltpReadOnly || w.kind == oltpReadWrite {
				_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
			}
		} else {
			w.drop()
		}
	}
	return q, err
}

func (w *oltpWorker) transaction(ctx context.Context) (int, error) {
	q := 0
	step := func(err error) error {
		if err == nil {
			q++
		}
		return err
	}
	autocommit := w.kind == oltpReadWriteAutocommit
	if !autocommit {
		if err := step(w.exec(ctx, 0, stBegin)); err != nil {
			return q, err
		}
	}
	t := w.table()
	for range pointSelects {
		if err := step(w.query(ctx, t, stPoint, w.id())); err != nil {
			return q, err
		}
	}
	for _, k := range [...]stmtKind{stSimpleRange, stSumRange, stOrderRange, stDistinctRange} {
		lo := w.rangeStart()
		if err := step(w.query(ctx, w.table(), k, lo, lo+rangeSize-1)); err != nil {
			return q, err
		}
	}
	if w.kind != oltpReadOnly {
		if err := step(w.exec(ctx, w.table(), stIndexUpdate, w.id())); err != nil {
			return q, err
		}
		if err := step(w.exec(ctx, w.table(), stNonIndexUpdate, w.cValue(), w.id())); err != nil {
			return q, err
		}
		t, id := w.table(), w.deleteID()
		if err := step(w.exec(ctx, t, stDelete, id)); err != nil {
			return q, err
		}
		if err := step(w.exec(ctx, t, stInsert, id, w.id(), w.cValue(), w.padValue())); err != nil {
			return q, err
		}
		if autocommit { // read your write: the row just inserted
			return q, step(w.query(ctx, t, stPoint, id))
		}
	}
	return q, step(w.exec(ctx, 0, stCommit))
}

func (w *oltpWorker) cValue() string   { return digitGroups(w.rng, &w.buf, 11, 10) }
func (w *oltpWorker) padValue() string { return digitGroups(w.rng, &w.buf, 5, 11) }

// digitGroups builds sysbench's c and pad values: groups of random digits
// joined by '-' (c: 11 groups of 10 = 119 chars, pad: 5 of 11 = 59 chars).
func digitGroups(rng *rand.Rand, buf *[]byte, groups, width int) string {
	b := (*buf)[:0]
	for g := range groups {
		if g > 0 {
			b = append(b, '-')
		}
		for range width {
			b = append(b, byte('0'+rng.IntN(10)))
		}
	}
	*buf = b
	return string(b)
}
