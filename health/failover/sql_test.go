package failover

import (
	"strings"
	"testing"
)

func TestChangeSourceSQL(t *testing.T) {
	tests := []struct {
		name   string
		flavor Flavor
		addr   string
		cred   ReplCredentials
		want   string
	}{
		{"mariadb keep credentials", MariaDB, "10.0.0.2:3306", ReplCredentials{},
			"CHANGE MASTER TO MASTER_HOST = '10.0.0.2', MASTER_PORT = 3306, MASTER_USE_GTID = slave_pos"},
		{"mariadb with credentials", MariaDB, "db2.internal:3307", ReplCredentials{User: "repl", Password: "p'w\\d"},
			`CHANGE MASTER TO MASTER_HOST = 'db2.internal', MASTER_PORT = 3307, MASTER_USER = 'repl', MASTER_PASSWORD = 'p''w\\d', MASTER_USE_GTID = slave_pos`},
		{"mariadb ipv6", MariaDB, "[::1]:3306", ReplCredentials{},
			"CHANGE MASTER TO MASTER_HOST = '::1', MASTER_PORT = 3306, MASTER_USE_GTID = slave_pos"},
		{"mysql keep credentials", MySQL, "10.0.0.2:3306", ReplCredentials{},
			"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.2', SOURCE_PORT = 3306, SOURCE_AUTO_POSITION = 1"},
		{"mysql with credentials", MySQL, "10.0.0.2:3306", ReplCredentials{User: "repl", Password: "x"},
			"CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.2', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'x', SOURCE_AUTO_POSITION = 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dialects[tt.flavor].changeSourceSQL(tt.flavor, tt.addr, tt.cred)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if tt.cred.Password != "" && strings.Contains(redact(got), tt.cred.Password) {
				t.Errorf("redact left the password in %s", redact(got))
			}
		})
	}
	if _, err := dialects[MariaDB].changeSourceSQL(MariaDB, "nohostport", ReplCredentials{}); err == nil {
		t.Error("bad address accepted")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"CHANGE MASTER TO MASTER_PASSWORD = 'a''b', MASTER_USE_GTID = slave_pos": "CHANGE MASTER TO MASTER_PASSWORD = '***', MASTER_USE_GTID = slave_pos",
		`X SOURCE_PASSWORD = 'a\'b', Y`:                                          "X SOURCE_PASSWORD = '***', Y",
		"SELECT 1":                                                               "SELECT 1",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDialectStatements(t *testing.T) {
	maria, mysql := dialects[MariaDB], dialects[MySQL]
	tests := []struct{ name, got, want string }{
		{"mariadb stop", maria.stopReplica, "STOP SLAVE"},
		{"mariadb reset", maria.resetReplica, "RESET SLAVE ALL"},
		{"mariadb fence", maria.fence, "SET GLOBAL read_only = 1"},
		{"mariadb open", maria.open, "SET GLOBAL read_only = 0"},
		{"mariadb status", maria.replicaStatusSQL, "SHOW SLAVE STATUS"},
		{"mariadb demote", strings.Join(maria.demotePrepare, ";"), "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos"},
		{"mysql stop", mysql.stopReplica, "STOP REPLICA"},
		{"mysql reset", mysql.resetReplica, "RESET REPLICA ALL"},
		{"mysql fence", mysql.fence, "SET GLOBAL super_read_only = 1"},
		{"mysql writable for the monitor", strings.Join(mysql.writable, ";"), "SET GLOBAL super_read_only = 0"},
		{"mysql open", mysql.open, "SET GLOBAL read_only = 0"},
		{"mysql status", mysql.replicaStatusSQL, "SHOW REPLICA STATUS"},
		{"mysql received column", mysql.Received, "Retrieved_Gtid_Set"},
		{"mysql semi-sync primary", strings.Join(mysql.semiSyncPrimary, ";"),
			"SET GLOBAL rpl_semi_sync_source_enabled = 1;SET GLOBAL rpl_semi_sync_replica_enabled = 0"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestRecordEpochSQL(t *testing.T) {
	to := Target{Name: "db2", Address: "10.0.0.2:3306"}
	if got, want := recordEpochSQL(0, 1, to, "proxy-a"),
		"INSERT INTO switchyard.epoch (id, epoch, primary_name, primary_address, promoted_by, promoted_at) "+
			"VALUES (1, 1, 'db2', '10.0.0.2:3306', 'proxy-a', NOW(6))"; got != want {
		t.Errorf("first epoch:\n got %s\nwant %s", got, want)
	}
	if got, want := recordEpochSQL(4, 5, to, "o'brien"),
		"UPDATE switchyard.epoch SET epoch = 5, primary_name = 'db2', primary_address = '10.0.0.2:3306', "+
			"promoted_by = 'o''brien', promoted_at = NOW(6) WHERE id = 1 AND epoch = 4"; got != want {
		t.Errorf("compare-and-set:\n got %s\nwant %s", got, want)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "'plain'",
		"it's":          "'it''s'",
		`back\slash`:    `'back\\slash'`,
		"nul\x00line\n": `'nul\0line\n'`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
