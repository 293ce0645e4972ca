package health

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// What differs between MariaDB and MySQL in a probe lives in this file:
// the statements it runs and the column names it reads back. The GTID SQL
// (the applied position) is internal/gtid's, shared with the proxy and the
// failover executor.

// flavorOf tells the family from the version string, either the handshake's
// ("5.5.5-10.11.6-MariaDB-0+deb12u1") or @@version's.
var flavorOf = gtid.FlavorOf

// dialect is one flavor's probe SQL and replica status column names.
type dialect struct {
	// stateSQL returns one row with columns version, read_only and gtid.
	stateSQL string
	// replicaStatusSQL returns one row per replication source (MariaDB
	// multi-source connections, MySQL channels); none on a server that does
	// not replicate.
	replicaStatusSQL string

	channel, host, port, lag, ioRunning, sqlRunning, ioError, sqlError string
	// received is what the replica has received from its source: the
	// position it reaches once its relay log is applied.
	received string
}

var dialects = map[Flavor]dialect{
	FlavorMariaDB: {
		stateSQL: stateSQL(FlavorMariaDB),
		// ALL: a multi-source replica's default connection is not the only one.
		replicaStatusSQL: "SHOW ALL SLAVES STATUS",
		channel:          "Connection_name",
		host:             "Master_Host",
		port:             "Master_Port",
		lag:              "Seconds_Behind_Master",
		ioRunning:        "Slave_IO_Running",
		sqlRunning:       "Slave_SQL_Running",
		ioError:          "Last_IO_Error",
		sqlError:         "Last_SQL_Error",
		received:         "Gtid_IO_Pos",
	},
	FlavorMySQL: {
		stateSQL: stateSQL(FlavorMySQL),
		// MySQL 8.0.22+; it reports every channel.
		replicaStatusSQL: "SHOW REPLICA STATUS",
		channel:          "Channel_Name",
		host:             "Source_Host",
		port:             "Source_Port",
		lag:              "Seconds_Behind_Source",
		ioRunning:        "Replica_IO_Running",
		sqlRunning:       "Replica_SQL_Running",
		ioError:          "Last_IO_Error",
		sqlError:         "Last_SQL_Error",
		received:         "Retrieved_Gtid_Set",
	},
}

// stateSQL is the probe's state query of flavor f.
func stateSQL(f Flavor) string {
	return "SELECT @@version AS version, @@read_only AS read_only, " + gtid.DialectOf(f).Applied + " AS gtid"
}

// row is one result row by column name. NULL columns are absent.
type row = failover.Row

// serverState is what stateSQL tells.
type serverState struct {
	Version  string
	ReadOnly bool
	GTID     string
}

func parseState(rows []row) (serverState, error) {
	if len(rows) != 1 {
		return serverState{}, fmt.Errorf("state query returned %d rows, want 1", len(rows))
	}
	r := rows[0]
	var st serverState
	st.Version = r["version"]
	switch ro := r["read_only"]; ro {
	case "0", "OFF":
	case "1", "ON":
		st.ReadOnly = true
	default:
		return serverState{}, fmt.Errorf("unexpected @@read_only value %q", ro)
	}
	// MySQL breaks long gtid_executed sets across lines ("uuid:1-5,\nuuid:1-3").
	st.GTID = strings.ReplaceAll(r["gtid"], "\n", "")
	return st, nil
}

// replicaStatus is what replicaStatusSQL tells.
type replicaStatus struct {
	Replicating      bool
	SourceAddress    string
	Lag              time.Duration // -1 when unknown (threads stopped, or not replicating)
	IOThreadRunning  bool
	SQLThreadRunning bool
	Error            string
	Received         string // GTIDs received from the source ("" if unknown)
}

// parseReplicaStatus summarizes the replica status rows. With several
// sources it reports the default one (empty channel name) if configured,
// else the first: Switchyard topologies have one source per replica, and
// guessing how to merge several would be wrong more often than useful.
// A row without a source host is a leftover of RESET SLAVE, not replication.
func parseReplicaStatus(f Flavor, rows []row) replicaStatus {
	d := dialects[f]
	var pick row
	for _, r := range rows {
		if r[d.host] == "" {
			continue
		}
		if pick == nil || r[d.channel] == "" {
			pick = r
		}
		if r[d.channel] == "" {
			break
		}
	}
	if pick == nil {
		return replicaStatus{Lag: -1}
	}
	st := replicaStatus{
		Replicating:      true,
		SourceAddress:    net.JoinHostPort(pick[d.host], pick[d.port]),
		Lag:              -1,
		IOThreadRunning:  pick[d.ioRunning] == "Yes",
		SQLThreadRunning: pick[d.sqlRunning] == "Yes",
		Received:         strings.Join(strings.Fields(pick[d.received]), ""),
	}
	if s, ok := pick[d.lag]; ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			st.Lag = time.Duration(n) * time.Second
		}
	}
	var errs []string
	if e := pick[d.ioError]; e != "" {
		errs = append(errs, "I/O thread: "+e)
	}
	if e := pick[d.sqlError]; e != "" {
		errs = append(errs, "SQL thread: "+e)
	}
	st.Error = strings.Join(errs, "; ")
	return st
}
