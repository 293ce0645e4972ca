package health

import (
	"testing"
	"time"
)

func TestDialectsComplete(t *testing.T) {
	for _, f := range []Flavor{FlavorMariaDB, FlavorMySQL} {
		d, ok := dialects[f]
		if !ok || d.stateSQL == "" || d.replicaStatusSQL == "" || d.Host == "" || d.Port == "" ||
			d.Lag == "" || d.Channel == "" || d.IORunning == "" || d.SQLRunning == "" {
			t.Errorf("dialect %s incomplete: %+v", f, d)
		}
	}
	if got := dialects[FlavorMariaDB].replicaStatusSQL; got != "SHOW ALL SLAVES STATUS" {
		t.Errorf("MariaDB status SQL = %q", got)
	}
	if got := dialects[FlavorMySQL].replicaStatusSQL; got != "SHOW REPLICA STATUS" {
		t.Errorf("MySQL status SQL = %q", got)
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		name    string
		rows    []row
		want    serverState
		wantErr bool
	}{
		{"mariadb primary", []row{{"version": "10.11.6-MariaDB-0+deb12u1", "read_only": "0", "gtid": "0-1-42"}},
			serverState{Version: "10.11.6-MariaDB-0+deb12u1", GTID: "0-1-42"}, false},
		{"mariadb read-only, multi-domain gtid", []row{{"version": "10.6.1-MariaDB", "read_only": "1", "gtid": "0-1-42,1-2-7"}},
			serverState{Version: "10.6.1-MariaDB", ReadOnly: true, GTID: "0-1-42,1-2-7"}, false},
		{"mysql multi-line gtid_executed", []row{{"version": "8.0.36", "read_only": "1",
			"gtid": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3"}},
			serverState{Version: "8.0.36", ReadOnly: true,
				GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3"}, false},
		{"mysql no gtid (NULL column absent)", []row{{"version": "8.0.36", "read_only": "0"}},
			serverState{Version: "8.0.36"}, false},
		{"no rows", nil, serverState{}, true},
		{"two rows", []row{{"read_only": "0"}, {"read_only": "0"}}, serverState{}, true},
		{"read_only garbage", []row{{"version": "x", "read_only": "maybe"}}, serverState{}, true},
		{"read_only NULL", []row{{"version": "x"}}, serverState{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseState(tt.rows)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Rows as the servers return them (trimmed to the columns that matter plus a
// few neighbours, to show unrelated columns are ignored).
var (
	mariaReplicaRow = row{
		"Connection_name": "", "Slave_SQL_State": "Slave has read all relay log; waiting for more updates",
		"Slave_IO_State": "Waiting for master to send event", "Master_Host": "127.0.0.1", "Master_User": "repl",
		"Master_Port": "3401", "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes",
		"Last_IO_Error": "", "Last_SQL_Error": "", "Seconds_Behind_Master": "3",
		"Using_Gtid": "Slave_Pos", "Gtid_IO_Pos": "0-1-42",
	}
	mysqlReplicaRow = row{
		"Replica_IO_State": "Waiting for source to send event", "Source_Host": "10.0.0.5", "Source_User": "repl",
		"Source_Port": "3306", "Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes",
		"Last_IO_Error": "", "Last_SQL_Error": "", "Seconds_Behind_Source": "0",
		"Channel_Name": "", "Executed_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
		"Retrieved_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
	}
)

func with(r row, kv ...string) row {
	c := make(row, len(r))
	for k, v := range r {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<NULL>" {
			delete(c, kv[i])
		} else {
			c[kv[i]] = kv[i+1]
		}
	}
	return c
}

func TestParseReplicaStatus(t *testing.T) {
	notReplicating := replicaStatus{Lag: -1}
	tests := []struct {
		name   string
		flavor Flavor
		rows   []row
		want   replicaStatus
	}{
		{"mariadb no rows", FlavorMariaDB, nil, notReplicating},
		{"mariadb healthy replica", FlavorMariaDB, []row{mariaReplicaRow}, replicaStatus{
			Replicating: true, SourceAddress: "127.0.0.1:3401", Received: "0-1-42", Lag: 3 * time.Second,
			IOThreadRunning: true, SQLThreadRunning: true}},
		{"mariadb io connecting, lag NULL", FlavorMariaDB,
			[]row{with(mariaReplicaRow, "Slave_IO_Running", "Connecting", "Seconds_Behind_Master", "<NULL>",
				"Last_IO_Error", "error reconnecting to master 'repl@127.0.0.1:3401'")},
			replicaStatus{Replicating: true, SourceAddress: "127.0.0.1:3401", Received: "0-1-42", Lag: -1, SQLThreadRunning: true,
				Error: "I/O thread: error reconnecting to master 'repl@127.0.0.1:3401'"}},
		{"mariadb sql thread stopped on error", FlavorMariaDB,
			[]row{with(mariaReplicaRow, "Slave_SQL_Running", "No", "Seconds_Behind_Master", "<NULL>",
				"Last_SQL_Error", "Duplicate entry '1' for key 'PRIMARY'")},
			replicaStatus{Replicating: true, SourceAddress: "127.0.0.1:3401", Received: "0-1-42", Lag: -1, IOThreadRunning: true,
				Error: "SQL thread: Duplicate entry '1' for key 'PRIMARY'"}},
		{"mariadb leftover row without host", FlavorMariaDB, []row{with(mariaReplicaRow, "Master_Host", "")}, notReplicating},
		{"mariadb multi-source prefers default connection", FlavorMariaDB, []row{
			with(mariaReplicaRow, "Connection_name", "analytics", "Master_Host", "10.9.9.9", "Seconds_Behind_Master", "100"),
			mariaReplicaRow,
		}, replicaStatus{Replicating: true, SourceAddress: "127.0.0.1:3401", Received: "0-1-42", Lag: 3 * time.Second,
			IOThreadRunning: true, SQLThreadRunning: true}},
		{"mariadb multi-source without default takes first", FlavorMariaDB, []row{
			with(mariaReplicaRow, "Connection_name", "a", "Master_Host", "10.0.0.1"),
			with(mariaReplicaRow, "Connection_name", "b", "Master_Host", "10.0.0.2"),
		}, replicaStatus{Replicating: true, SourceAddress: "10.0.0.1:3401", Received: "0-1-42", Lag: 3 * time.Second,
			IOThreadRunning: true, SQLThreadRunning: true}},
		{"mariadb ipv6 source", FlavorMariaDB, []row{with(mariaReplicaRow, "Master_Host", "::1")},
			replicaStatus{Replicating: true, SourceAddress: "[::1]:3401", Received: "0-1-42", Lag: 3 * time.Second,
				IOThreadRunning: true, SQLThreadRunning: true}},
		{"mysql no rows", FlavorMySQL, nil, notReplicating},
		{"mysql healthy replica", FlavorMySQL, []row{mysqlReplicaRow}, replicaStatus{
			Replicating: true, SourceAddress: "10.0.0.5:3306", Lag: 0,
			Received:        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
			IOThreadRunning: true, SQLThreadRunning: true}},
		{"mysql both threads stopped", FlavorMySQL, []row{with(mysqlReplicaRow,
			"Replica_IO_Running", "No", "Replica_SQL_Running", "No", "Seconds_Behind_Source", "<NULL>")},
			replicaStatus{Replicating: true, SourceAddress: "10.0.0.5:3306", Lag: -1,
				Received: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2"}},
		{"mysql row read with mariadb names is not understood", FlavorMariaDB, []row{mysqlReplicaRow}, notReplicating},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseReplicaStatus(tt.flavor, tt.rows); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
