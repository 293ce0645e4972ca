package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Target is one endpoint under test.
type Target struct {
	Name string // short label used in tables, ratios and --pid
	DSN  string // go-sql-driver/mysql DSN, e.g. app:app@tcp(127.0.0.1:6033)/test
	PID  int    // process to sample for CPU and RSS; 0 when not given

	// ReadsOnly marks a target that takes no writes, like HAProxy's read
	// port over the replicas: it runs only the scenarios that only read.
	ReadsOnly bool
	// WritesOnly marks a target that runs only the scenarios that write,
	// like HAProxy's port to the primary when its read port takes the
	// reads.
	WritesOnly bool
}

// Timeouts every connection gets unless its DSN sets its own: no read or
// write may hang a round forever, whatever the target does.
const (
	defaultDialTimeout = 5 * time.Second
	defaultIOTimeout   = 60 * time.Second
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// endpoint holds the connectors of one target: text protocol (client-side
// interpolation, so every statement is a COM_QUERY) and prepared protocol
// (COM_STMT_PREPARE once per connection, then COM_STMT_EXECUTE).
type endpoint struct {
	Target
	text     driver.Connector
	prepared driver.Connector
	redacted string
}

func newEndpoint(t Target) (*endpoint, error) {
	if !namePattern.MatchString(t.Name) {
		return nil, fmt.Errorf("target name %q: use 1-32 letters, digits, '_', '-', '.'", t.Name)
	}
	cfg, err := mysql.ParseDSN(t.DSN)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultIOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultIOTimeout
	}
	// The driver logs broken connections itself; here they are counted
	// and sampled in the results instead.
	cfg.Logger = nopLogger{}
	red := cfg.Clone()
	if red.Passwd != "" {
		red.Passwd = "xxx"
	}
	tc := cfg.Clone()
	tc.InterpolateParams = true
	pc := cfg.Clone()
	pc.InterpolateParams = false
	text, err := mysql.NewConnector(tc)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	prep, err := mysql.NewConnector(pc)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	return &endpoint{Target: t, text: text, prepared: prep, redacted: red.FormatDSN()}, nil
}

// pool opens a database/sql pool sized for n concurrent connections.
func (e *endpoint) pool(prepared bool, n int) *sql.DB {
	c := e.text
	if prepared {
		c = e.prepared
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return db
}

// ping checks that the target answers a query within the timeout.
func (e *endpoint) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db := e.pool(false, 1)
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("target %s (%s): %w", e.Name, e.redacted, err)
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}
