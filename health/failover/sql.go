package failover

import (
	"fmt"
	"net"
	"strings"

	"github.com/switchyard/switchyard/internal/gtid"
)

// Everything that differs between MariaDB and MySQL when promoting, fencing
// and repointing lives in this file. The probe statements live in health's
// flavor.go and the GTID SQL in internal/gtid; the epoch table, shared by both, is defined here.

// The epoch table. Each promotion records one row, replicated from the new
// primary to every server that follows it; a server's copy says which epoch
// it has seen and who was primary in it. See the package doc.
const (
	EpochDatabase = "switchyard"
	EpochTable    = "switchyard.epoch"
	// EpochQuery reads the recorded epoch (columns epoch, primary_name).
	// It fails with ER_BAD_DB_ERROR or ER_NO_SUCH_TABLE before the first
	// promotion: that is epoch 0.
	EpochQuery = "SELECT epoch, primary_name FROM switchyard.epoch WHERE id = 1"

	createEpochDB    = "CREATE DATABASE IF NOT EXISTS switchyard"
	createEpochTable = "CREATE TABLE IF NOT EXISTS switchyard.epoch (" +
		"id TINYINT UNSIGNED NOT NULL PRIMARY KEY, " +
		"epoch BIGINT UNSIGNED NOT NULL, " +
		"primary_name VARCHAR(255) NOT NULL, " +
		"primary_address VARCHAR(255) NOT NULL, " +
		"promoted_by VARCHAR(255) NOT NULL, " +
		"promoted_at TIMESTAMP(6) NOT NULL) ENGINE=InnoDB"

	// lockName is the GET_LOCK name that guards a promotion (64 chars max).
	lockName = "switchyard.failover"
)

// MySQL error numbers the executor and the probes recognize.
const (
	ErBadDB        = 1049 // ER_BAD_DB_ERROR: no switchyard database yet
	ErNoSuchTable  = 1146 // ER_NO_SUCH_TABLE: no epoch table yet
	erDupEntry     = 1062 // ER_DUP_ENTRY: someone recorded an epoch first
	erMasterFatal  = 1236 // ER_MASTER_FATAL_ERROR_READING_BINLOG: GTID not in the source's binlog
	erSemiSyncVars = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE: semi-sync plugin not loaded
)

// dialect is one flavor's promotion SQL and status columns.
type dialect struct {
	stopReplica, startReplica, resetReplica string
	// binlogPosSQL returns one column "gtid": everything in the server's
	// binlog, the position a demoted primary resumes from.
	binlogPosSQL     string
	replicaStatusSQL string
	StatusColumns
	// writable makes a server writable for its privileged monitor user only
	// (to record the epoch); open then lets everyone write.
	writable []string
	open     string
	fence    string
	// demotePrepare runs before a former primary first replicates.
	demotePrepare []string
	// semi-sync: as primary (source) and as replica.
	semiSyncPrimary, semiSyncReplica []string
}

var dialects = map[Flavor]dialect{
	MariaDB: {
		stopReplica:      "STOP SLAVE",
		startReplica:     "START SLAVE",
		resetReplica:     "RESET SLAVE ALL",
		binlogPosSQL:     "SELECT @@gtid_binlog_pos AS gtid",
		replicaStatusSQL: "SHOW SLAVE STATUS",
		StatusColumns: StatusColumns{
			Channel: "Connection_name", Host: "Master_Host", Port: "Master_Port", Lag: "Seconds_Behind_Master",
			IORunning: "Slave_IO_Running", SQLRunning: "Slave_SQL_Running",
			IOErrno: "Last_IO_Errno", IOError: "Last_IO_Error", SQLError: "Last_SQL_Error", Received: "Gtid_IO_Pos",
		},
		// READ_ONLY ADMIN (in ALL PRIVILEGES) lets the monitor write while
		// read_only=1, so the epoch is recorded before anyone else can write.
		writable: nil,
		open:     "SET GLOBAL read_only = 0",
		fence:    "SET GLOBAL read_only = 1",
		// The former primary's own writes are in its binlog, not in
		// gtid_slave_pos; without this it would ask for them again.
		demotePrepare:   []string{"SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos"},
		semiSyncPrimary: []string{"SET GLOBAL rpl_semi_sync_master_enabled = 1", "SET GLOBAL rpl_semi_sync_slave_enabled = 0"},
		semiSyncReplica: []string{"SET GLOBAL rpl_semi_sync_master_enabled = 0", "SET GLOBAL rpl_semi_sync_slave_enabled = 1"},
	},
	MySQL: {
		stopReplica:      "STOP REPLICA",
		startReplica:     "START REPLICA",
		resetReplica:     "RESET REPLICA ALL",
		binlogPosSQL:     "SELECT @@GLOBAL.gtid_executed AS gtid",
		replicaStatusSQL: "SHOW REPLICA STATUS",
		StatusColumns: StatusColumns{
			Channel: "Channel_Name", Host: "Source_Host", Port: "Source_Port", Lag: "Seconds_Behind_Source",
			IORunning: "Replica_IO_Running", SQLRunning: "Replica_SQL_Running",
			IOErrno: "Last_IO_Errno", IOError: "Last_IO_Error", SQLError: "Last_SQL_Error", Received: "Retrieved_Gtid_Set",
		},
		// super_read_only stops even SUPER; read_only alone lets the
		// monitor (SUPER or CONNECTION_ADMIN) record the epoch first.
		writable:      []string{"SET GLOBAL super_read_only = 0"},
		open:          "SET GLOBAL read_only = 0", // also clears super_read_only
		fence:         "SET GLOBAL super_read_only = 1",
		demotePrepare: nil, // auto-positioning starts from gtid_executed
		semiSyncPrimary: []string{"SET GLOBAL rpl_semi_sync_source_enabled = 1",
			"SET GLOBAL rpl_semi_sync_replica_enabled = 0"},
		semiSyncReplica: []string{"SET GLOBAL rpl_semi_sync_source_enabled = 0",
			"SET GLOBAL rpl_semi_sync_replica_enabled = 1"},
	},
}

// StatusColumns are the replica status columns of a flavor, as the
// failover executor and health's probes both read them.
type StatusColumns struct {
	Channel, Host, Port, Lag   string
	IORunning, SQLRunning      string
	IOErrno, IOError, SQLError string
	// Received is what the replica has received from its source: the
	// position it reaches once its relay log is applied.
	Received string
}

// Columns returns the replica status columns of flavor f.
func Columns(f Flavor) StatusColumns { return dialects[f].StatusColumns }

// executedSQL returns one column "gtid": what a server of flavor f has
// applied.
func executedSQL(f Flavor) string { return "SELECT " + gtid.DialectOf(f).Applied + " AS gtid" }

// ReplCredentials are the replication account a repointed server uses.
// Empty User keeps the credentials the server already has.
type ReplCredentials struct {
	User, Password string
}

// changeSourceSQL points a replica at addr with GTID positioning.
func (d dialect) changeSourceSQL(f Flavor, addr string, cred ReplCredentials) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("source address %q: %w", addr, err)
	}
	var b strings.Builder
	if f == MySQL {
		fmt.Fprintf(&b, "CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s", quote(host), port)
		if cred.User != "" {
			fmt.Fprintf(&b, ", SOURCE_USER = %s, SOURCE_PASSWORD = %s", quote(cred.User), quote(cred.Password))
		}
		b.WriteString(", SOURCE_AUTO_POSITION = 1")
		return b.String(), nil
	}
	fmt.Fprintf(&b, "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s", quote(host), port)
	if cred.User != "" {
		fmt.Fprintf(&b, ", MASTER_USER = %s, MASTER_PASSWORD = %s", quote(cred.User), quote(cred.Password))
	}
	b.WriteString(", MASTER_USE_GTID = slave_pos")
	return b.String(), nil
}

// recordEpochSQL is the compare-and-set of the epoch on the new primary:
// from prev (what the server's copy said, under the guard) to next.
func recordEpochSQL(prev, next uint64, primary Target, by string) string {
	if prev == 0 {
		// A duplicate key means someone recorded an epoch we did not see.
		return fmt.Sprintf("INSERT INTO switchyard.epoch (id, epoch, primary_name, primary_address, promoted_by, promoted_at) "+
			"VALUES (1, %d, %s, %s, %s, NOW(6))", next, quote(primary.Name), quote(primary.Address), quote(by))
	}
	return fmt.Sprintf("UPDATE switchyard.epoch SET epoch = %d, primary_name = %s, primary_address = %s, "+
		"promoted_by = %s, promoted_at = NOW(6) WHERE id = 1 AND epoch = %d",
		next, quote(primary.Name), quote(primary.Address), quote(by), prev)
}

// quote makes s a string literal under the default sql_mode (backslash
// escapes on), for the few values the executor interpolates: host names,
// GTID positions, names from the config and the replication credentials.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0x1a:
			b.WriteString(`\Z`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// redact hides the replication password in a statement that is logged or
// wrapped into an error.
func redact(sql string) string {
	for _, key := range []string{"MASTER_PASSWORD = ", "SOURCE_PASSWORD = "} {
		i := strings.Index(sql, key)
		if i < 0 {
			continue
		}
		start := i + len(key)
		end := start + 1
		for end < len(sql) {
			if sql[end] == '\\' {
				end += 2
				continue
			}
			if sql[end] == '\'' {
				if end+1 < len(sql) && sql[end+1] == '\'' {
					end += 2
					continue
				}
				break
			}
			end++
		}
		sql = sql[:start] + "'***'" + sql[min(end+1, len(sql)):]
	}
	return sql
}
