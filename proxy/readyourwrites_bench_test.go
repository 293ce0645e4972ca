package proxy_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// BenchmarkReadAfterWrite: one op is an autocommit INSERT on one pooled
// connection and, with consistency global, reads of it on another: the
// read-your-writes hot path. The replicas trail the primary by the time
// they take to apply a row, so a first read finds its replica not yet
// known to have it and carries a wait. Reported per read: how it was
// served (known, pipelined, redirected, separate). The proxy is built without
// -race.
func BenchmarkReadAfterWrite(b *testing.B) {
	topo := testenv.Topology(b)
	yaml, addr, admin := testenv.ProxyConfig(b, topo.Addrs(), "routing: {consistency: global, max_replica_lag: 1h, read_primary_below: 0}\n")
	s := testenv.StartSwitchyardBinary(b, testenv.BuildSwitchyardPlain(b), yaml, addr, admin, true) // as users run it: no -race
	ctx := context.Background()
	direct := topo.DB(b, topo.Primary, "root", "", "test")
	table := fmt.Sprintf("ryw_bench_%d", time.Now().UnixNano())
	if _, err := direct.Exec("CREATE TABLE " + table + " (a INT AUTO_INCREMENT PRIMARY KEY, b INT)"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = direct.Exec("DROP TABLE IF EXISTS " + table) })
	db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/test?interpolateParams=true", s.Addr))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	writer, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close()
	reader, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer reader.Close()
	// reads: per write; after the first, a replica that waited is known
	// to have the write, and the reads after it on that replica need no
	// wait at all.
	for _, reads := range []int{1, 8} {
		b.Run(fmt.Sprintf("reads=%d", reads), func(b *testing.B) {
			before := scrapeReads(b, s)
			ops := 0
			for b.Loop() {
				ops++
				if _, err := writer.ExecContext(ctx, "INSERT INTO "+table+" (b) VALUES (?)", ops); err != nil {
					b.Fatal(err)
				}
				for range reads {
					var n int
					if err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE b = ?", ops).Scan(&n); err != nil || n == 0 {
						b.Fatalf("read after write %d: %d rows, %v", ops, n, err)
					}
				}
			}
			after := scrapeReads(b, s)
			for how, v := range after {
				b.ReportMetric((v-before[how])/float64(ops*reads), how+"/read")
			}
		})
	}
}

// scrapeReads reads switchyard_consistent_reads_total{how}.
func scrapeReads(tb testing.TB, s *testenv.Switchyard) map[string]float64 {
	tb.Helper()
	m, err := testenv.ScrapeMetrics(context.Background(), s.AdminAddr)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, how := range []string{"known", "pipelined", "redirected", "separate"} {
		out[how] = m.Value("switchyard_consistent_reads_total", "how", how)
	}
	return out
}
