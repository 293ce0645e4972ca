package proxy_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestLargeResultStreamsInBoundedMemory reads a 1 GiB result through a
// switchyard built as users run it (no -race) with the mariadb CLI in
// streaming mode behind a slow pipe, and checks the proxy's peak RSS stays
// under 64 MiB: rows are relayed, never accumulated, and a slow client
// holds the backend back instead of filling the proxy.
func TestLargeResultStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1 GiB")
	}
	topo := testenv.Topology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	s := testenv.StartSwitchyardBinary(t, testenv.BuildSwitchyardPlain(t), yaml, addr, admin, true)
	host, port, _ := strings.Cut(s.Addr, ":")

	const rows, rowSize = 1 << 20, 1024 // 1 GiB of row data
	query := fmt.Sprintf("SELECT seq, REPEAT('x', %d) FROM seq_1_to_%d", rowSize-16, rows)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The reader pauses before draining: the pipe fills, the CLI stops
	// reading its socket, and the proxy must wait rather than buffer.
	script := fmt.Sprintf(`mariadb --quick --batch --skip-column-names -h%s -P%s -uapp -papp test -e "%s" | { sleep 2; wc -c; }`, host, port, query)
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	done := make(chan struct{})
	var out []byte
	var runErr error
	go func() { out, runErr = cmd.CombinedOutput(); close(done) }()

	var peak int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			if rss, err := testenv.ProcStatus(s.PID(), "VmRSS"); err == nil && rss > peak {
				peak = rss
			}
		}
	}
	if runErr != nil {
		t.Fatalf("mariadb: %v\n%s", runErr, out)
	}
	var n int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &n); err != nil || n < rows*(rowSize-16) {
		t.Fatalf("client read %q bytes, want more than %d", out, int64(rows*(rowSize-16)))
	}
	if hwm, err := testenv.ProcStatus(s.PID(), "VmHWM"); err == nil && hwm > peak {
		peak = hwm
	}
	t.Logf("read %d bytes through the proxy; proxy peak RSS %.1f MiB", n, float64(peak)/(1<<20))
	if peak > 64<<20 {
		t.Fatalf("proxy peak RSS %.1f MiB, want under 64 MiB", float64(peak)/(1<<20))
	}
}
