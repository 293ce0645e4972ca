package bench

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"
)

// largeQuery generates rows of rowBytes bytes each, as many as needed for
// total bytes, by cross-joining bench_seq with itself: the server streams
// them as the join produces them, with no temporary table, on MariaDB and
// MySQL alike (a recursive CTE would need MySQL's recursion limit raised).
func largeQuery(total int64, rowBytes int) (string, int64) {
	rows := (total + int64(rowBytes) - 1) / int64(rowBytes)
	return fmt.Sprintf("SELECT REPEAT('x', %d) FROM bench_seq a, bench_seq b, bench_seq c LIMIT %d", rowBytes, rows), rows
}

// runLarge streams one large result through the target on one connection,
// reading every row and discarding it. The window is from sending the query
// to reading the last row; a proxy that materializes results shows it in its
// peak RSS.
func (r *runner) runLarge(ctx context.Context, e *endpoint) *round {
	cfg := &r.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout+cfg.LargeTimeout)
	defer cancel()
	rd := &round{havePID: e.PID > 0}
	fail := func(err error) *round {
		rd.errors++
		rd.errSamples = append(rd.errSamples, err.Error())
		return rd
	}
	cctx, ccancel := context.WithTimeout(ctx, cfg.OpTimeout)
	conn, err := e.text.Connect(cctx)
	ccancel()
	if err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	defer conn.Close()

	q, want := largeQuery(cfg.LargeBytes, cfg.LargeRowBytes)
	qctx, qcancel := context.WithTimeout(ctx, cfg.LargeTimeout)
	defer qcancel()
	pw := beginProcWindow(e.PID)
	t0 := time.Now()
	rows, n, err := queryDiscard(qctx, conn, q, make([]driver.Value, 1))
	d := time.Since(t0)
	rd.proc = pw.end()
	rd.seconds = d.Seconds()
	rd.rows, rd.bytes = rows, n
	if err != nil {
		return fail(fmt.Errorf("after %d rows: %w", rows, err))
	}
	if rows != want {
		return fail(fmt.Errorf("got %d rows, want %d", rows, want))
	}
	rd.queries, rd.events = 1, 1
	rd.hist.Record(d)
	return rd
}
