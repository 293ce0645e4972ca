package gtid

import (
	"testing"
	"time"
)

func TestFlavorOf(t *testing.T) {
	for version, want := range map[string]Flavor{
		"10.11.6-MariaDB-0+deb12u1":       MariaDB,
		"5.5.5-10.11.6-MariaDB-0+deb12u1": MariaDB, // handshake form
		"11.4.2-MariaDB-log":              MariaDB,
		"8.0.36":                          MySQL,
		"8.4.0-commercial":                MySQL,
	} {
		if got := FlavorOf(version); got != want {
			t.Errorf("FlavorOf(%q) = %s, want %s", version, got, want)
		}
	}
}

func TestDialects(t *testing.T) {
	maria, mysql := DialectOf(MariaDB), DialectOf(MySQL)
	for _, tc := range []struct{ name, got, want string }{
		{"mariadb wait", maria.WaitSQL("0-1-42", 10*time.Second),
			"SELECT MASTER_GTID_WAIT('0-1-42', 10.000) AS r, @@gtid_current_pos AS gtid"},
		{"mariadb wait of no time waits 1 ms", maria.WaitSQL("0-1-42", 0),
			"SELECT MASTER_GTID_WAIT('0-1-42', 0.001) AS r, @@gtid_current_pos AS gtid"},
		{"mysql wait", mysql.WaitSQL(uuidA+":1-5", 1500*time.Millisecond),
			"SELECT WAIT_FOR_EXECUTED_GTID_SET('" + uuidA + ":1-5', 1.500) AS r, @@GLOBAL.gtid_executed AS gtid"},
		{"a quote cannot escape the literal", maria.WaitSQL("0-1-1'; DROP TABLE t; --", time.Second),
			"SELECT MASTER_GTID_WAIT('0-1-1DABE--', 1.000) AS r, @@gtid_current_pos AS gtid"},
		{"mysql tracks its GTIDs", mysql.TrackGTIDs, ", session_track_gtids = 'OWN_GTID'"},
		{"mariadb last_gtid is a tracked variable", maria.TrackGTIDs, ""},
		{"mariadb asks for the last GTID", maria.LastGTIDSQL, "SELECT @@last_gtid"},
		{"mysql has no write that answers with rows", mysql.LastGTIDSQL, ""},
		{"an unknown flavor is mariadb", DialectOf("x").Applied, "@@gtid_current_pos"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    Dialect
		r    string
		null bool
		want bool
	}{
		{maria, "0", false, true},
		{maria, "-1", false, false}, // MASTER_GTID_WAIT timed out
		{mysql, "0", false, true},
		{mysql, "1", false, false}, // WAIT_FOR_EXECUTED_GTID_SET timed out
		{maria, "", true, false},   // NULL: bad input
		{mysql, "", true, false},
	} {
		if got := tc.d.Reached(tc.r, tc.null); got != tc.want {
			t.Errorf("%s Reached(%q, %v) = %v", tc.d.waitFunc, tc.r, tc.null, got)
		}
	}
}
