package health

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestMain stops the MariaDB topology the tests started. testenv.Main owns
// m.Run and os.Exit, so leaks are checked per test with leakCheck.
func TestMain(m *testing.M) { testenv.Main(m) }

// leakCheck fails t if goroutines outlive it. Call it first: cleanups run
// last-registered-first, so this one runs after the test's own cleanups
// (fake servers, database handles) have stopped their goroutines.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}
