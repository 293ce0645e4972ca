package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/wire"
)

// okWithStates builds an OK packet payload with a session-state block.
func okWithStates(entries ...[]byte) []byte {
	var states []byte
	for _, e := range entries {
		states = append(states, e...)
	}
	pkt := []byte{0, 0, 0, 0x02, 0x40, 1, 0, 0} // affected 0, id 0, status AUTOCOMMIT|STATE_CHANGED, 1 warning, info ""
	pkt = append(pkt, byte(len(states)))
	return append(pkt, states...)
}

func lenenc(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func entry(typ byte, data []byte) []byte { return append([]byte{typ}, lenenc(string(data))...) }

func sysvar(name, value string) []byte {
	return entry(wire.TrackSystemVariables, append(lenenc(name), lenenc(value)...))
}

func TestTrackedNoteOK(t *testing.T) {
	var tr tracked
	tr.noteOK(wire.ParseOK(okWithStates(
		sysvar("time_zone", "+03:00"),
		sysvar("sort_buffer_size", "300000"),
		sysvar("last_gtid", "0-1-7"),
		sysvar("autocommit", "OFF"),
		entry(wire.TrackSchema, lenenc("shop")),
		entry(wire.TrackStateChange, []byte("1")),
	), true))
	if tr.gtid != "0-1-7" || !tr.schemaSet || tr.schema != "shop" || !tr.changed || tr.warnings != 1 || tr.untracked {
		t.Fatalf("tracked %+v", tr)
	}
	want := []string{"SET SESSION `time_zone` = '+03:00'", "SET SESSION `sort_buffer_size` = 300000"}
	if len(tr.vars) != len(want) {
		t.Fatalf("vars %+v, want %q", tr.vars, want)
	}
	for i, v := range tr.vars {
		if v.text != want[i] {
			t.Fatalf("var %d replays as %q, want %q", i, v.text, want[i])
		}
	}

	tr.reset()
	tr.noteOK(wire.ParseOK(okWithStates(entry(wire.TrackSchema, lenenc(""))), true))
	if !tr.schemaSet || tr.schema != "" || tr.changed {
		t.Fatalf("a dropped default database: %+v", tr)
	}

	tr.reset()
	tr.noteOK(wire.ParseOK(okWithStates(sysvar("session_track_system_variables", "autocommit")), true))
	if !tr.untracked {
		t.Fatal("a client's change of the tracking settings is not noticed")
	}
}

func TestQuoteSurvivesEverySQLMode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      "'plain'",
		"it's":       "'it''s'",
		`a\b`:        "CONCAT('a', CHAR(92), 'b')",
		`\'`:         "CONCAT('', CHAR(92), '''')",
		"ANSI,QUOTE": "'ANSI,QUOTE'",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestTrackingPerFlavor: MySQL 8 reports its GTIDs only with
// session_track_gtids; MariaDB has no such variable and would refuse it.
func TestTrackingPerFlavor(t *testing.T) {
	if strings.Contains(trackingFor(gtid.MariaDB), "session_track_gtids") {
		t.Fatal("MariaDB's tracking statement sets session_track_gtids, which MariaDB refuses")
	}
	if !strings.Contains(trackingFor(gtid.MySQL), "session_track_gtids = 'OWN_GTID'") {
		t.Fatal("MySQL's tracking statement does not track its own GTIDs")
	}
	for _, f := range []gtid.Flavor{gtid.MariaDB, gtid.MySQL} {
		for _, v := range []string{"session_track_state_change = ON", "session_track_schema = ON", "session_track_system_variables = '*'", "session_track_transaction_info = 'CHARACTERISTICS'"} {
			if !strings.Contains(trackingFor(f), v) {
				t.Fatalf("tracking statement (%s) lacks %s", f, v)
			}
		}
	}
}

// TestMySQLWritesAreAwaited: MySQL 8 reports a write's GTID in its own
// session-state entry (SESSION_TRACK_GTIDS: an encoding byte, then the set,
// "uuid:7"); the proxy acknowledges it as the set a replica must have
// applied (uuid:1-7, one span however the sessions' writes interleave), and
// a read that must see it waits with WAIT_FOR_EXECUTED_GTID_SET, not
// MariaDB's MASTER_GTID_WAIT. No MySQL server runs here: this follows the
// documented protocol and function.
func TestMySQLWritesAreAwaited(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	s := &Session{srv: &Server{metrics: newMetrics()}}
	for _, n := range []string{"7", "5", "9"} { // three sessions' writes, acknowledged out of order
		s.resp.track.reset()
		s.resp.track.noteOK(wire.ParseOK(okWithStates(entry(wire.TrackGTIDs, append([]byte{0}, lenenc(uuid+":"+n)...))), true))
		if s.resp.track.gtid != uuid+":"+n || !s.ackWrite() {
			t.Fatalf("the GTID entry of a MySQL OK: %+v", s.resp.track)
		}
	}
	need := s.srv.progress.newest()
	if need.String() != uuid+":1-9" {
		t.Fatalf("acknowledged %q, want %s:1-9", need, uuid)
	}
	if got, want := gtid.DialectOf(gtid.MySQL).WaitSQL(need.String(), 100*time.Millisecond),
		"SELECT WAIT_FOR_EXECUTED_GTID_SET('"+uuid+":1-9', 0.100) AS r, @@GLOBAL.gtid_executed AS gtid"; got != want {
		t.Fatalf("wait statement %q, want %q", got, want)
	}
	for applied, covers := range map[string]bool{uuid + ":1-8": false, uuid + ":1-12": true, uuid + ":1-5:7-9": false} {
		if gtid.MustParse(applied).Covers(need) != covers {
			t.Errorf("a replica at %s covers %s: %v, want %v", applied, need, !covers, covers)
		}
	}
}
