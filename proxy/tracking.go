package proxy

import (
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/wire"
)

// Session tracking is how the server tells the proxy what a statement did
// to the session (DESIGN.md, "How a statement flows", step 4). Every
// backend connection runs with the settings below, so every OK packet says
// whether the session's state changed and how. The proxy does not infer
// state from the statement text alone: a user variable set inside a
// multi-statement, a CALL or a statement too large to classify is still
// reported here.
const trackSession = "SET SESSION session_track_state_change = ON, session_track_schema = ON, " +
	"session_track_system_variables = '*', session_track_transaction_info = 'CHARACTERISTICS'"

// trackingFor is the tracking statement for a server's flavor: MySQL 8's
// GTIDs are not a system variable (MariaDB's last_gtid) but an entry of
// their own, which it must be asked for.
func trackingFor(f gtid.Flavor) string {
	return trackSession + gtid.DialectOf(f).TrackGTIDs
}

// tracked is what session tracking reported over one response (every OK
// packet of it: a multi-statement or a CALL sends several).
type tracked struct {
	gtid      string        // the last last_gtid (MariaDB) or GTID set (MySQL) reported
	pos       gtid.Position // gtid parsed and filled, once acknowledged (Session.ackWrite)
	schema    string        // the default database, when schemaSet
	schemaSet bool          // the default database changed (to schema, "" for none)
	// vars are the system variables the server reported changed, in order,
	// as SET statements that replay them on another connection.
	vars []setStmt
	// changed: the server reported that some session state changed. With
	// no statement class that accounts for it (a CALL, a statement too
	// large to classify), that is state the proxy cannot replay (a user
	// variable, a temporary table, a SQL PREPARE…), which pins.
	changed bool
	// untracked: the client changed the session tracking settings
	// themselves; the proxy can no longer see that connection's changes.
	untracked bool
	warnings  uint16 // of the response's last OK or EOF
}

func (t *tracked) reset() {
	*t = tracked{vars: t.vars[:0]}
}

// noteOK records what one OK packet's session-state block says.
func (t *tracked) noteOK(ok wire.OK) {
	t.warnings = ok.Warnings
	if len(ok.States) == 0 {
		return
	}
	wire.EachState(ok.States, func(typ byte, data []byte) {
		switch typ {
		case wire.TrackSystemVariables:
			name, tail, good := wire.LenEncBytes(data)
			if !good {
				return
			}
			value, _, good := wire.LenEncBytes(tail)
			if !good {
				return
			}
			t.noteVar(string(name), value)
		case wire.TrackSchema:
			if name, _, good := wire.LenEncBytes(data); good {
				t.schema, t.schemaSet = string(name), true
			}
		case wire.TrackStateChange:
			t.changed = true
		case wire.TrackGTIDs: // MySQL: encoding spec, then the GTID set
			if len(data) > 1 {
				if set, _, good := wire.LenEncBytes(data[1:]); good && len(set) > 0 {
					t.gtid = string(set)
				}
			}
		}
	})
}

// noteVar records one reported system variable.
func (t *tracked) noteVar(name string, value []byte) {
	switch {
	case name == "last_gtid":
		if len(value) > 0 {
			t.gtid = string(value)
		}
	case strings.HasPrefix(name, "session_track_"):
		t.untracked = true
	case notReplayed[name]:
	default:
		t.vars = append(t.vars, setStmt{text: replaySet(name, value), names: []string{name}})
	}
}

// notReplayed are variables the server reports that the proxy handles
// itself: autocommit is followed through the status flags (a session with
// it off keeps its connection); the others are read-only or one-shot.
var notReplayed = map[string]bool{
	"autocommit":  true,
	"last_gtid":   true,
	"gtid_seq_no": true, // applies to the next transaction only
}

// replaySet is the statement that gives another connection the value the
// server reported: numbers unquoted (integer variables refuse strings),
// everything else as a quoted string.
func replaySet(name string, value []byte) string {
	var b strings.Builder
	b.WriteString("SET SESSION `")
	b.WriteString(strings.ReplaceAll(name, "`", "``"))
	b.WriteString("` = ")
	switch {
	case isNumber(value):
		b.Write(value)
	case len(value) == 0 && strings.HasPrefix(name, "character_set_"):
		b.WriteString("NULL") // character_set_results = NULL is reported empty
	default:
		b.WriteString(quote(string(value)))
	}
	return b.String()
}

func isNumber(v []byte) bool {
	if len(v) == 0 || len(v) > 30 {
		return false
	}
	_, err := strconv.ParseFloat(string(v), 64)
	return err == nil && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// quote makes a SQL string literal that means s whatever the sql_mode
// (NO_BACKSLASH_ESCAPES included): only quotes are doubled, and a
// backslash is spelled with CHAR so no mode can read it as an escape.
func quote(s string) string {
	if !strings.ContainsRune(s, '\\') {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	parts := strings.Split(s, "\\")
	for i, p := range parts {
		parts[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	return "CONCAT(" + strings.Join(parts, ", CHAR(92), ") + ")"
}
