package classify

import (
	"fmt"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
)

// sysbench oltp_point_select, with varying ids.
func pointSelects(n int) []string {
	qs := make([]string, n)
	for i := range qs {
		qs[i] = fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", i*7919%100000)
	}
	return qs
}

func BenchmarkClassifyPointSelectWarm(b *testing.B) {
	c := New(DefaultCacheSize)
	qs := pointSelects(1024)
	for _, q := range qs {
		c.Classify(q)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if st := c.Classify(qs[i&1023]); st.Kind != Read {
			b.Fatal(st.Kind)
		}
	}
}

// BenchmarkClassifyForUpdateWarm is a shape the fast path leaves to the
// parser, answered from the cache: normalize, hash, shard lock, copy.
func BenchmarkClassifyForUpdateWarm(b *testing.B) {
	c := New(DefaultCacheSize)
	qs := make([]string, 1024)
	for i := range qs {
		qs[i] = fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d FOR UPDATE", i)
	}
	c.Classify(qs[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if st := c.Classify(qs[i&1023]); st.Kind != Write {
			b.Fatal(st.Kind)
		}
	}
}

// BenchmarkClassifyCold classifies shapes that need the parser, each new to
// the cache.
func BenchmarkClassifyCold(b *testing.B) {
	shapes := []string{
		"SELECT c FROM sbtest%d WHERE id = 1 FOR UPDATE",
		"SELECT a, b FROM t%d WHERE x IN (1, 2, 3) LOCK IN SHARE MODE",
		"SHOW CREATE TABLE t%d",
		"SET sql_mode = 'STRICT_TRANS_TABLES', time_zone%d = '+00:00'",
		"SELECT GET_LOCK('job%d', 10)",
		"CREATE TABLE t%d (id INT PRIMARY KEY, a VARCHAR(10))",
		"SELECT NEXTVAL(seq%d)",
		"SELECT * FROM (SELECT a FROM t%d FOR UPDATE) x JOIN u ON u.a = x.a",
	}
	qs := make([]string, 1<<16)
	for i := range qs {
		qs[i] = fmt.Sprintf(shapes[i%len(shapes)], i)
	}
	c := New(len(qs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(qs) == 0 && i > 0 {
			b.StopTimer()
			c = New(len(qs))
			b.StartTimer()
		}
		c.Classify(qs[i%len(qs)])
	}
}

// mix is a read-mostly OLTP mix: point selects, range reads, writes,
// transaction control, connector chatter and a few locking reads.
func mix(n int) []string {
	qs := make([]string, 0, n)
	for i := 0; len(qs) < n; i++ {
		id := i * 7919 % 100000
		qs = append(qs,
			fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", id),
			fmt.Sprintf("SELECT c FROM sbtest1 WHERE id BETWEEN %d AND %d ORDER BY c", id, id+99),
			fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", id+1),
			fmt.Sprintf("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN %d AND %d", id, id+99),
			"BEGIN",
			fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d FOR UPDATE", id),
			fmt.Sprintf("UPDATE sbtest1 SET k=k+1 WHERE id=%d", id),
			fmt.Sprintf("INSERT INTO sbtest1 (id, k, c, pad) VALUES (%d, %d, 'c-%d', 'pad')", id, id, id),
			"COMMIT",
			fmt.Sprintf("SELECT * FROM users WHERE email = 'u%d@example.com'", id),
			"SET autocommit=1",
			"SELECT @@session.transaction_isolation",
			"SET NAMES utf8mb4",
			"SHOW WARNINGS",
			fmt.Sprintf("/* switchyard: replica, max_staleness=2s */ SELECT c FROM sbtest1 WHERE id=%d", id),
			fmt.Sprintf("SELECT c FROM sbtest1 WHERE id IN (%d, %d, %d)", id, id+1, id+2),
		)
	}
	return qs[:n]
}

func BenchmarkClassifyMix(b *testing.B) {
	c := New(DefaultCacheSize)
	qs := mix(4096)
	for _, q := range qs {
		c.Classify(q)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Classify(qs[i&4095])
	}
}

// BenchmarkClassifyMixParallel is the mix from all Ps at once: the cache's
// shard locks are the only shared state.
func BenchmarkClassifyMixParallel(b *testing.B) {
	c := New(DefaultCacheSize)
	qs := mix(4096)
	for _, q := range qs {
		c.Classify(q)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			c.Classify(qs[i&4095])
		}
	})
}

// The digest: ours against the TiDB parser's NormalizeDigest, to justify
// keeping our own.
func BenchmarkDigestOwn(b *testing.B) {
	q := "SELECT c FROM sbtest1 WHERE id IN (1, 2, 3) AND k = 'x' FOR UPDATE"
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = normalize(buf[:0], q)
	}
}

func BenchmarkDigestTiDB(b *testing.B) {
	q := "SELECT c FROM sbtest1 WHERE id IN (1, 2, 3) AND k = 'x' FOR UPDATE"
	b.ReportAllocs()
	for b.Loop() {
		parser.NormalizeDigest(q)
	}
}
