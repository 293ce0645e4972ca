package bench

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// stormWorker is one connect_storm client: every event is a new connection
// (TCP handshake, MySQL handshake and authentication), one query, and a
// clean disconnect (COM_QUIT). Used by one goroutine.
type stormWorker struct {
	c    driver.Connector
	dest []driver.Value
}

func (r *runner) runConnectStorm(ctx context.Context, e *endpoint) *round {
	return r.closedLoop(ctx, e, r.cfg.Conns, func() eventer {
		return &stormWorker{c: e.text, dest: make([]driver.Value, 1)}
	})
}

func (w *stormWorker) close() {}

func (w *stormWorker) event(ctx context.Context) (int, error) {
	conn, err := w.c.Connect(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	if _, _, err := queryDiscard(ctx, conn, "SELECT 1", w.dest); err != nil {
		_ = conn.Close()
		return 0, err
	}
	return 1, conn.Close()
}

// queryDiscard runs a text query on a raw driver connection, reads every
// row and discards it. It returns the rows read and the bytes of their
// []byte and string columns.
func queryDiscard(ctx context.Context, conn driver.Conn, q string, dest []driver.Value) (rows, bytes int64, err error) {
	qc, ok := conn.(driver.QueryerContext)
	if !ok {
		return 0, 0, errors.New("BUG: driver connection cannot query")
	}
	rs, err := qc.QueryContext(ctx, q, nil)
	if err != nil {
		return 0, 0, err
	}
	for range maxLargeRows + 1 {
		if err := rs.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			_ = rs.Close()
			return rows, bytes, err
		}
		rows++
		for _, v := range dest {
			switch v := v.(type) {
			case []byte:
				bytes += int64(len(v))
			case string:
				bytes += int64(len(v))
			}
		}
	}
	if rows > maxLargeRows {
		_ = rs.Close()
		return rows, bytes, fmt.Errorf("more than %d rows: the result does not end", int64(maxLargeRows))
	}
	return rows, bytes, rs.Close()
}
