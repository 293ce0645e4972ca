package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// seqRows is the size of bench_seq, the helper table large_result
// cross-joins with itself three times: 1024^3 rows at most.
const (
	seqRows      = 1024
	maxLargeRows = seqRows * seqRows * seqRows
	insertBatch  = 1000 // rows per INSERT while preparing
)

// sysbench's table, as oltp_common.lua creates it for MySQL/MariaDB, so
// that sysbench can run on what --prepare made (and the other way round).
const createSbtest = `CREATE TABLE sbtest%d (
  id INTEGER NOT NULL AUTO_INCREMENT,
  k INTEGER DEFAULT '0' NOT NULL,
  c CHAR(120) DEFAULT '' NOT NULL,
  pad CHAR(60) DEFAULT '' NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB`

// prepareSchema drops and creates sbtest1..tables with rows rows each, and
// bench_seq. It goes through one target (normally the primary, directly);
// the others see the same data through replication or because they point at
// the same server.
func prepareSchema(ctx context.Context, e *endpoint, tables, rows int, opTimeout time.Duration) error {
	db := e.pool(false, 1)
	defer db.Close()
	// Large batches may take longer than one ordinary statement.
	timeout := opTimeout + 2*time.Minute
	exec := func(q string) error {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if _, err := db.ExecContext(c, q); err != nil {
			short := q
			if len(short) > 80 {
				short = short[:80] + "…"
			}
			return fmt.Errorf("prepare through %s: %s: %w", e.Name, short, err)
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the same data every time
	var buf []byte
	var sb strings.Builder
	for t := 1; t <= tables; t++ {
		if err := exec(fmt.Sprintf("DROP TABLE IF EXISTS sbtest%d", t)); err != nil {
			return err
		}
		if err := exec(fmt.Sprintf(createSbtest, t)); err != nil {
			return err
		}
		for first := 1; first <= rows; first += insertBatch {
			sb.Reset()
			fmt.Fprintf(&sb, "INSERT INTO sbtest%d (id, k, c, pad) VALUES ", t)
			for id := first; id < first+insertBatch && id <= rows; id++ {
				if id > first {
					sb.WriteByte(',')
				}
				c := digitGroups(rng, &buf, 11, 10)
				pad := digitGroups(rng, &buf, 5, 11)
				fmt.Fprintf(&sb, "(%d,%d,'%s','%s')", id, 1+rng.IntN(rows), c, pad)
			}
			if err := exec(sb.String()); err != nil {
				return err
			}
		}
		if err := exec(fmt.Sprintf("CREATE INDEX k_%d ON sbtest%d(k)", t, t)); err != nil {
			return err
		}
	}
	if err := exec("DROP TABLE IF EXISTS bench_seq"); err != nil {
		return err
	}
	if err := exec("CREATE TABLE bench_seq (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB"); err != nil {
		return err
	}
	sb.Reset()
	sb.WriteString("INSERT INTO bench_seq (n) VALUES ")
	for i := range seqRows {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "(%d)", i)
	}
	return exec(sb.String())
}

// checkSchema fails early, with the fix in the message, when a selected
// scenario needs tables that are not there.
func checkSchema(ctx context.Context, e *endpoint, cfg Config) error {
	needSbtest := slices.ContainsFunc(cfg.Scenarios, func(s string) bool {
		return s != ScConnectStorm && s != ScLargeResult && s != ScFailover
	})
	needSeq := slices.Contains(cfg.Scenarios, ScLargeResult)
	if !needSbtest && !needSeq {
		return nil
	}
	db := e.pool(false, 1)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	check := func(table string, want int) error {
		var n int
		q := fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s LIMIT %d) x", table, want)
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("table %s through %s: %w (run with --prepare to create it)", table, e.Name, err)
		}
		if n < want {
			return fmt.Errorf("table %s through %s has %d rows, want %d (run with --prepare, or match --tables/--table-size)", table, e.Name, n, want)
		}
		return nil
	}
	if needSbtest {
		for t := 1; t <= cfg.Tables; t++ {
			if err := check(fmt.Sprintf("sbtest%d", t), cfg.TableSize); err != nil {
				return err
			}
		}
	}
	if needSeq {
		return check("bench_seq", seqRows)
	}
	return nil
}
