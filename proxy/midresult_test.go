package proxy_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// bigRows is a result far larger than every buffer between the server and
// the client (4 MiB rows, 1 GiB in all): the kill lands while it streams,
// most often while the server is in the middle of writing a row packet (the
// case where the proxy may not append an error packet).
const (
	bigRowSize = 4 << 20
	bigRowN    = 256
	bigRows    = "/* switchyard: primary */ SELECT seq, REPEAT('x', 4194304) FROM seq_1_to_256"
)

// TestBackendKilledMidResult kills -9 the server streaming a large result to
// a client: the client must get an error, promptly — not a hang, and not a
// result that ends early as if it were complete. Once with go-sql-driver
// (rows.Err), once with the mariadb CLI (exit status).
func TestBackendKilledMidResult(t *testing.T) {
	if testing.Short() {
		t.Skip("kills servers of a private topology")
	}
	topo := testenv.NewTopology(t)
	// No failover: the primary comes back as the primary for the second client.
	s := topo.Proxy(t, "failover: {auto: false}\n")

	t.Run("go-sql-driver", func(t *testing.T) {
		db := open(t, s.Addr, "")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		rows, err := db.QueryContext(ctx, bigRows)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var n int
		var killed time.Time
		for rows.Next() {
			var seq int
			var v []byte
			if err := rows.Scan(&seq, &v); err != nil {
				t.Fatalf("row %d: %v", n+1, err)
			}
			if len(v) != bigRowSize || strings.Trim(string(v), "x") != "" || seq != n+1 {
				t.Fatalf("row %d is corrupt: seq %d, %d bytes", n+1, seq, len(v))
			}
			if n++; n == 2 {
				topo.Kill(t, topo.Primary)
				killed = time.Now()
			}
		}
		err = rows.Err()
		after := time.Since(killed)
		t.Logf("%d of %d rows, then %v, %v after the kill", n, bigRowN, err, after.Round(time.Millisecond))
		switch {
		case killed.IsZero():
			t.Fatalf("the result ended after %d rows, before the kill", n)
		case err == nil:
			t.Fatalf("the result ended after %d of %d rows with no error: silently truncated", n, bigRowN)
		case errors.Is(err, context.DeadlineExceeded) || after > 30*time.Second:
			t.Fatalf("the client hung: error %v only %v after the kill", err, after)
		}
		// The pool recovers once the server is back.
		topo.Start(t)
		s.WaitReady(t, 30*time.Second)
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
	})

	t.Run("mariadb-cli", func(t *testing.T) {
		if _, err := exec.LookPath("mariadb"); err != nil {
			t.Skip("mariadb client not installed")
		}
		host, port, _ := strings.Cut(s.Addr, ":")
		out := filepath.Join(t.TempDir(), "out")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "mariadb", "--quick", "--batch", "--skip-column-names", "--comments",
			"-h"+host, "-P"+port, "-uapp", "-papp", "test", "-e", bigRows)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill once a few rows are out, polling the output's size.
		for {
			if fi, err := f.Stat(); err == nil && fi.Size() > 2*bigRowSize {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("mariadb exited (%v) before the kill: %s", err, stderr.String())
			case <-ctx.Done():
				t.Fatal("no rows within 90s")
			case <-time.After(20 * time.Millisecond):
			}
		}
		topo.Kill(t, topo.Primary)
		killed := time.Now()
		var err2 error
		select {
		case err2 = <-exited:
		case <-ctx.Done():
			t.Fatalf("mariadb still running %v after the kill: the client hung", time.Since(killed))
		}
		fi, _ := f.Stat()
		t.Logf("mariadb: %v after %d bytes, %v after the kill: %s", err2, fi.Size(), time.Since(killed).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
		if err2 == nil {
			t.Fatalf("mariadb exited 0 after %d bytes of about 1 GiB: silently truncated", fi.Size())
		}
		if d := time.Since(killed); d > 30*time.Second {
			t.Fatalf("mariadb took %v after the kill to fail: a hang", d)
		}
	})
}
