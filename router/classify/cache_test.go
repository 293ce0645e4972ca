package classify

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func TestCacheHits(t *testing.T) {
	c := New(100)
	for i := range 100 {
		st := c.Classify(fmt.Sprintf("SELECT * FROM t WHERE id = %d FOR UPDATE", i))
		if st.Kind != Write {
			t.Fatalf("kind %v", st.Kind)
		}
	}
	if hits, misses := c.Stats(); hits != 99 || misses != 1 {
		t.Fatalf("hits=%d misses=%d, want 99 and 1", hits, misses)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("len %d, want 1", n)
	}
	// The fast path does not touch the cache.
	c.Classify("SELECT c FROM sbtest1 WHERE id = 1")
	if hits, misses := c.Stats(); hits != 99 || misses != 1 {
		t.Fatalf("fast path counted: hits=%d misses=%d", hits, misses)
	}
}

func TestCacheBounded(t *testing.T) {
	for _, size := range []int{1, 3, 64, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := New(size)
			hot := "SELECT * FROM hot WHERE id = 1 FOR UPDATE"
			c.Classify(hot)
			for i := range 3 * size {
				if st := c.Classify(fmt.Sprintf("SELECT * FROM t%d FOR UPDATE", i)); st.Kind != Write {
					t.Fatalf("kind %v", st.Kind)
				}
				c.Classify(hot)
				if n := c.Len(); n > size {
					t.Fatalf("len %d > size %d", n, size)
				}
			}
			// Shards fill unevenly; most of the cache must be in use.
			if n := c.Len(); n < (size+1)/2 {
				t.Fatalf("len %d, want about %d", n, size)
			}
			if size >= 64 {
				// CLOCK gives the hot entry a second chance every pass: it
				// must never have been evicted.
				_, misses := c.Stats()
				if want := uint64(1 + 3*size); misses != want {
					t.Fatalf("misses %d, want %d (the hot digest was evicted)", misses, want)
				}
			}
		})
	}
}

func TestCacheDisabled(t *testing.T) {
	c := New(0)
	for range 3 {
		if st := c.Classify("SELECT * FROM t FOR UPDATE"); st.Kind != Write {
			t.Fatalf("kind %v", st.Kind)
		}
	}
	if h, m := c.Stats(); h != 0 || m != 0 || c.Len() != 0 {
		t.Fatalf("disabled cache counted %d/%d, len %d", h, m, c.Len())
	}
}

// Answers that depend on a literal or on the sql_mode must not be cached.
func TestCacheSkipsLiteralDependentAnswers(t *testing.T) {
	c := New(100)
	for _, tc := range []struct {
		sql string
		ac  int8
	}{
		{"SET autocommit = 0, sql_mode = ''", 0},
		{"SET autocommit = 1, sql_mode = ''", 1},
		{"SET autocommit = 0, sql_mode = ''", 0},
	} {
		if st := c.Classify(tc.sql); st.Autocommit != tc.ac {
			t.Fatalf("%q: autocommit %d, want %d", tc.sql, st.Autocommit, tc.ac)
		}
	}
	c.Classify(`SELECT 'a\'' FROM t FOR UPDATE`)
	if n := c.Len(); n != 0 {
		t.Fatalf("len %d, want nothing cached", n)
	}
	// Same digest as a plain read, different meaning without backslash
	// escapes: a cached Read must not answer for it.
	c.Classify("SELECT 'b' FROM t WHERE x = 'FOR'")
	if st := c.Classify(`SELECT 'a\' FOR UPDATE -- '`); st.Kind != Write {
		t.Fatalf("kind %v", st.Kind)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New(32) // small: evictions race with lookups
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 400 {
				tc := classifyCases[(g*7+i)%len(classifyCases)]
				sql := tc.sql
				if tc.want.Kind == Write && i%3 == 0 {
					// Vary literals so the same digest is looked up from many
					// texts.
					sql = fmt.Sprintf("SELECT * FROM t WHERE id = %d FOR UPDATE", i)
				}
				got := comparable(c.Classify(sql))
				if sql == tc.sql && !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%q: got %+v, want %+v", sql, got, tc.want)
					return
				}
			}
		})
	}
	// Stats and Len run concurrently with the classifiers.
	for range 100 {
		c.Stats()
		c.Len()
	}
	wg.Wait()
	if h, m := c.Stats(); h+m == 0 {
		t.Fatal("cache never consulted")
	}
	if n := c.Len(); n > 32 {
		t.Fatalf("len %d > 32", n)
	}
}

func TestPackageClassify(t *testing.T) {
	if st := Classify("SELECT 1"); st.Kind != Read {
		t.Fatalf("kind %v", st.Kind)
	}
}

// A text classified first must not change the answer for a sibling of the
// same digest (pairs the fuzzer found, and literal-made parse failures).
func TestCacheSiblings(t *testing.T) {
	for _, pair := range [][2]string{
		{"SELECT 0 For", "SELECT 0. For"},
		{"SELECT 0LOCK%0x0", "SELECT 0LOCK%0X0"},
		{"S", "S#00000000@"},
		{"KILL 'x'", "KILL 0"},
		{"SET NAMES 'bogus', time_zone = 'UTC'", "SET NAMES 'utf8mb4', time_zone = 'UTC'"},
		{"SELECT * FROM t WHERE id = 1 LIMIT 1.5 FOR UPDATE", "SELECT * FROM t WHERE id = 1 LIMIT 1 FOR UPDATE"},
		{"SET autocommit = 0, sql_mode = ''", "SET autocommit = 1, sql_mode = ''"},
	} {
		c := New(100)
		c.Classify(pair[0])
		got, want := c.Classify(pair[1]), New(0).Classify(pair[1])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q after %q:\n got %+v\nwant %+v", pair[1], pair[0], got, want)
		}
	}
}
