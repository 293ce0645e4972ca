package gtid

import (
	"strconv"
	"strings"
	"time"
)

// Flavor is the server family. GTIDs, how a replica waits for one, and how
// a write's GTID reaches the proxy differ between them.
type Flavor string

const (
	MariaDB Flavor = "mariadb"
	MySQL   Flavor = "mysql"
)

// FlavorOf tells the family from a version string, the handshake's
// ("5.5.5-10.11.6-MariaDB-0+deb12u1") or @@version's.
func FlavorOf(version string) Flavor {
	if strings.Contains(version, "MariaDB") {
		return MariaDB
	}
	return MySQL
}

// Dialect is one flavor's GTID SQL: the one table the proxy (waits and
// tracking), the router (through the positions it compares) and health
// (probes, failover catch-up) take it from.
type Dialect struct {
	// Applied is the expression of the position the server has applied
	// (MariaDB's @@gtid_current_pos, MySQL's @@GLOBAL.gtid_executed).
	Applied string
	// waitFunc waits, bounded, until the server applied a position:
	// MASTER_GTID_WAIT returns 0 when it has and -1 on timeout;
	// WAIT_FOR_EXECUTED_GTID_SET returns 0 and 1. Both give NULL or an
	// error on bad input. Reached reads the answer.
	waitFunc string
	// TrackGTIDs is what the session tracking statement adds so that the
	// OK packet of every write carries its GTID: MariaDB reports last_gtid
	// as a system variable (session_track_system_variables = '*' covers
	// it); MySQL needs session_track_gtids, an entry of its own.
	TrackGTIDs string
	// LastGTIDSQL asks a connection for the GTID of its last write when no
	// OK packet said it (a write that answered with rows: an EOF packet
	// carries no tracking); "" when the flavor has no such write (MySQL
	// has no RETURNING).
	LastGTIDSQL string
}

var dialects = map[Flavor]Dialect{
	MariaDB: {
		Applied:     "@@gtid_current_pos",
		waitFunc:    "MASTER_GTID_WAIT",
		LastGTIDSQL: "SELECT @@last_gtid",
	},
	MySQL: {
		Applied:    "@@GLOBAL.gtid_executed",
		waitFunc:   "WAIT_FOR_EXECUTED_GTID_SET",
		TrackGTIDs: ", session_track_gtids = 'OWN_GTID'",
	},
}

// DialectOf returns f's dialect; an unknown flavor gets MariaDB's.
func DialectOf(f Flavor) Dialect {
	if d, ok := dialects[f]; ok {
		return d
	}
	return dialects[MariaDB]
}

// WaitSQL is the statement that waits up to timeout (at least 1 ms: 0
// means "do not wait" to MySQL and "forever" to nobody) for the server to
// have applied pos. It answers one row: r, the wait's result (Reached),
// and gtid, the position applied when it returned, which may be newer
// than pos and tells the proxy more than the wait alone.
func (d Dialect) WaitSQL(pos string, timeout time.Duration) string {
	secs := strconv.FormatFloat(max(timeout.Seconds(), 0.001), 'f', 3, 64)
	return "SELECT " + d.waitFunc + "(" + quote(pos) + ", " + secs + ") AS r, " + d.Applied + " AS gtid"
}

// Reached reads a wait's result: only 0 means the position was applied
// (MariaDB's -1 and MySQL's 1 are timeouts; NULL is an error).
func (d Dialect) Reached(r string, null bool) bool { return !null && r == "0" }

// quote makes a GTID position a string literal. Positions hold digits,
// hex, '-', ':' and ','; anything else (never in a parsed position) is
// dropped rather than escaped, so no sql_mode can change what it means.
func quote(pos string) string {
	var b strings.Builder
	b.Grow(len(pos) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(pos); i++ {
		c := pos[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-' || c == ':' || c == ',' {
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
