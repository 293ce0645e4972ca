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

// dialect is one flavor's probe SQL; the replica status columns are the
// failover executor's (failover.StatusColumns), the GTID SQL internal/gtid's.
type dialect struct {
	// stateSQL returns one row with columns version, read_only and gtid.
	stateSQL string
	// replicaStatusSQL returns one row per replication source (MariaDB
	// multi-source connections, MySQL channels); none on a server that does
	// not replicate.
	replicaStatusSQL string
	failover.StatusColumns
}

var dialects = map[Flavor]dialect{
	FlavorMariaDB: {
		stateSQL: stateSQL(FlavorMariaDB),
		// ALL: a multi-source replica's default connection is not the only one.
		replicaStatusSQL: "SHOW ALL SLAVES STATUS",
		StatusColumns:    failover.Columns(FlavorMariaDB),
	},
	FlavorMySQL: {
		stateSQL: stateSQL(FlavorMySQL),
		// MySQL 8.0.22+; it reports every channel.
		replicaStatusSQL: "SHOW REPLICA STATUS",
		StatusColumns:    failover.Columns(FlavorMySQL),
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
		if r[d.Host] == "" {
			continue
		}
		if pick == nil || r[d.Channel] == "" {
			pick = r
		}
		if r[d.Channel] == "" {
			break
		}
	}
	if pick == nil {
		return replicaStatus{Lag: -1}
	}
	st := replicaStatus{
		Replicating:      true,
		SourceAddress:    net.JoinHostPort(pick[d.Host], pick[d.Port]),
		Lag:              -1,
		IOThreadRunning:  pick[d.IORunning] == "Yes",
		SQLThreadRunning: pick[d.SQLRunning] == "Yes",
		Received:         strings.Join(strings.Fields(pick[d.Received]), ""),
	}
	if s, ok := pick[d.Lag]; ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			st.Lag = time.Duration(n) * time.Second
		}
	}
	var errs []string
	if e := pick[d.IOError]; e != "" {
		errs = append(errs, "I/O thread: "+e)
	}
	if e := pick[d.SQLError]; e != "" {
		errs = append(errs, "SQL thread: "+e)
	}
	st.Error = strings.Join(errs, "; ")
	return st
}
