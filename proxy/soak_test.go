package proxy_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// EnvSoak sets how long TestSoakMemoryBounded runs (a Go duration, e.g.
// SWITCHYARD_SOAK=10m); 30s by default.
const EnvSoak = "SWITCHYARD_SOAK"

// TestSoakMemoryBounded runs a sustained mixed load (autocommit writes,
// reads on replicas, prepared statements, transactions, session variables,
// 200-row results, and clients that reconnect every 100 operations)
// through a switchyard built as users run it, sampling its RSS and
// goroutines. Memory must plateau: the peak RSS of the second half stays
// within 25% (+8 MiB) of the first half's after warm-up; and once the
// clients close, the goroutines and client connections return to where
// they were before the load.
func TestSoakMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a sustained load")
	}
	dur := 30 * time.Second
	if v := os.Getenv(EnvSoak); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			t.Fatalf("%s=%q: want a duration of at least 10s", EnvSoak, v)
		}
		dur = d
	}
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	s := testenv.StartSwitchyardBinary(t, testenv.BuildSwitchyardPlain(t), yaml, addr, admin, true)
	table := fmt.Sprintf("soak_%d", time.Now().UnixNano())
	setup := open(t, s.Addr, "")
	mustExec(t, setup, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, v VARCHAR(100), n INT NOT NULL DEFAULT 0)")
	t.Cleanup(func() { _, _ = setup.Exec("DROP TABLE IF EXISTS " + table) })
	setup.Close()
	before := scrapeMetrics(t, s)
	t.Logf("before the load: %v goroutines, RSS %.1f MiB", before["go_goroutines"], float64(rss(t, s))/(1<<20))

	const clients = 12
	var ops, failed atomic.Int64
	var firstErr atomic.Value
	var nextID atomic.Int64
	// Stopped by a cancel, not a deadline: ctx.Err() is set before any
	// operation can see the stop, so no stopped operation counts as failed.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	time.AfterFunc(dur, stop)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			db, err := sql.Open("mysql", testenv.DSN(s.Addr, "app", "app", "test"))
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { db.Close() }() // the last db: it is replaced below
			db.SetMaxIdleConns(1)
			for i := 0; ctx.Err() == nil; i++ {
				if i%100 == 99 {
					db.Close() // a client that reconnects: sessions come and go
					if db, err = sql.Open("mysql", testenv.DSN(s.Addr, "app", "app", "test")); err != nil {
						t.Error(err)
						return
					}
					db.SetMaxIdleConns(1)
				}
				if err := soakOp(ctx, db, table, c, i, &nextID); err != nil && ctx.Err() == nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v after %v", err, time.Since(start).Round(time.Millisecond)))
				}
				ops.Add(1)
			}
		})
	}

	type sample struct {
		at  time.Duration
		rss int64
		gor float64
	}
	var samples []sample
	tick := time.NewTicker(500 * time.Millisecond)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			samples = append(samples, sample{time.Since(start), rss(t, s), scrapeMetrics(t, s)["go_goroutines"]})
		}
	}
	tick.Stop()
	wg.Wait()

	// Peak RSS after warm-up (the first 20%) in each half.
	var first, second int64
	var peakG float64
	for _, sm := range samples {
		switch {
		case sm.at < dur/5:
		case sm.at < dur/2:
			first = max(first, sm.rss)
		default:
			second = max(second, sm.rss)
		}
		peakG = max(peakG, sm.gor)
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	t.Logf("%d operations in %v (%d failed); RSS peak %.1f MiB in the first half, %.1f MiB in the second; goroutines up to %v",
		ops.Load(), dur, failed.Load(), mib(first), mib(second), peakG)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d operations failed, e.g. %v", n, firstErr.Load())
	}
	if ops.Load() < 1000 {
		t.Errorf("only %d operations: too little load to say anything", ops.Load())
	}
	if first == 0 || second == 0 {
		t.Fatalf("too few samples: %d", len(samples))
	}
	if limit := first + first/4 + 8<<20; second > limit {
		t.Errorf("RSS grows under a steady load: %.1f MiB in the second half, over %.1f MiB (first half %.1f MiB + 25%% + 8 MiB)",
			mib(second), mib(limit), mib(first))
	}
	// Every session's goroutines end with it: back to the count before the
	// load (a few may differ: probes, idle pool upkeep).
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := scrapeMetrics(t, s)
		if m["switchyard_client_connections"] == 0 && m["go_goroutines"] <= before["go_goroutines"]+5 {
			t.Logf("after the clients closed: %v goroutines, 0 client connections", m["go_goroutines"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after the clients closed: %v goroutines (%v before the load), %v client connections",
				m["go_goroutines"], before["go_goroutines"], m["switchyard_client_connections"])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// soakOp runs operation i of a soak client.
func soakOp(ctx context.Context, db *sql.DB, table string, client, i int, nextID *atomic.Int64) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch i % 6 {
	case 0:
		id := nextID.Add(1)
		if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, v) VALUES (?, ?)", id, strings.Repeat("v", 50)); err != nil {
			return err
		}
		// Keep the table small: the load, not the data, should be steady.
		_, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE id < ?", id-2000)
		return err
	case 1:
		var n int
		return db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE id > ?", nextID.Load()-100).Scan(&n)
	case 2:
		var v sql.NullString
		err := db.QueryRowContext(ctx, "SELECT v FROM "+table+" WHERE id = ?", nextID.Load()-int64(client)).Scan(&v)
		if err == sql.ErrNoRows {
			return nil
		}
		return err
	case 3:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET n = n + 1 WHERE id = ?", nextID.Load()); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	case 4:
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+01:00'"); err != nil {
			return err
		}
		var tz string
		if err := c.QueryRowContext(ctx, "SELECT @@time_zone").Scan(&tz); err != nil {
			return err
		}
		if tz != "+01:00" {
			return fmt.Errorf("session variable lost: time_zone %q", tz)
		}
		_, err = c.ExecContext(ctx, "SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT")
		return err
	default:
		rows, err := db.QueryContext(ctx, "SELECT seq, REPEAT('r', 1000) FROM seq_1_to_200")
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != 200 {
			return fmt.Errorf("%d rows of 200", n)
		}
		return nil
	}
}

func rss(t *testing.T, s *testenv.Switchyard) int64 {
	t.Helper()
	v, err := testenv.ProcStatus(s.PID(), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scrapeMetrics reads the unlabelled samples of s's /metrics.
func scrapeMetrics(t *testing.T, s *testenv.Switchyard) map[string]float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = f
		}
	}
	return m
}
