package proxy

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
)

// EXPLAIN ROUTE <statement> answers, without running the statement, where
// it would go from this session right now and why: a one-row result set.
// It is not MySQL syntax, so it can never shadow a real statement.
var explainRE = regexp.MustCompile(`(?is)^\s*EXPLAIN\s+ROUTE\s+(.+)$`)

// pins is what the statement itself would pin; session_pins why the
// session is pinned already; hint what its comment hint asked for
// (ignored=ITEM for an item that could not be read).
var explainColumns = []string{"backend", "address", "role", "reason", "class", "tx", "pins", "session_holds", "consistency", "needs_gtid", "wait",
	"hint", "session_pins"}

// maybeExplain handles EXPLAIN ROUTE; it returns false for anything else.
func (s *Session) maybeExplain(ctx context.Context, sql []byte, seq byte) (bool, error) {
	m := explainRE.FindSubmatch(sql)
	if m == nil {
		return false, nil
	}
	st, t, _ := s.plan(string(m[1]))
	row := map[string]string{
		"class": st.Kind.String(), "tx": st.Tx.String(), "pins": st.Pin.String(),
		"session_holds": s.holds.String(), "consistency": t.consistency,
		"hint": describeHint(st.Hint), "session_pins": sessionPins(s.pins),
	}
	if s.held != nil && useOfHeld(s.holds, s.held.OnPrimary, t) == heldRun {
		row["backend"], row["address"] = s.held.Name, s.held.Address
		row["role"], row["reason"] = "held", string(router.ReasonPinned)
		if s.holds&(holdTx|holdNoAutocommit) != 0 {
			row["reason"] = string(router.ReasonInTransaction)
		}
	} else {
		d, need, err := s.routeNow(t)
		if err != nil {
			return true, s.replyErr(seq+1, err)
		}
		row["backend"], row["address"], row["role"] = d.Backend.Name, d.Backend.Address, string(d.Backend.Role)
		row["reason"], row["needs_gtid"], row["wait"] = string(d.Reason), need.String(), strconv.FormatBool(d.Wait)
	}
	values := make([]string, len(explainColumns))
	for i, c := range explainColumns {
		values[i] = row[c]
	}
	return true, s.writeResultSet(seq+1, explainColumns, [][]string{values})
}

// routeNow is route without holding: what the router says this instant.
func (s *Session) routeNow(t target) (router.Decision, gtid.Position, error) {
	need := s.need(t.consistency)
	topo := s.srv.topo.Snapshot()
	d, err := router.Route(s.request(t, need), topo, s.srv.settings().policy, s.srv.load)
	if err != nil && err == router.ErrNoPrimary {
		err = noPrimary(topo)
	}
	return d, need, err
}

// String names the holds, for EXPLAIN ROUTE and logs.
func (h hold) String() string {
	if h == 0 {
		return "none"
	}
	names := []string{"transaction", "autocommit_off", "pinned", "cursor", "long_data", "next_transaction", "last_statement", "diagnostics"}
	var b strings.Builder
	for i, n := range names {
		if h&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// writeResultSet sends a small proxy-made text result set (strings only).
func (s *Session) writeResultSet(seq byte, columns []string, rows [][]string) error {
	c := s.client
	var err error
	put := func(payload []byte) {
		if err == nil {
			seq, err = c.Write(payload, seq)
		}
	}
	put([]byte{byte(len(columns))})
	for _, name := range columns {
		def := lenEncStr(nil, "def")
		def = lenEncStr(def, "")   // schema
		def = lenEncStr(def, "")   // table
		def = lenEncStr(def, "")   // org_table
		def = lenEncStr(def, name) // name
		def = lenEncStr(def, name) // org_name
		def = append(def, 0x0c, 45, 0, 0, 1, 0, 0, 0xFD, 0, 0, 0, 0, 0)
		put(def)
	}
	// Only the transaction flags: the last response's status may still
	// say "more results" (a multi-statement that ended with an error),
	// which would have the client wait for a result that never comes.
	st := s.txStatus()
	eof := []byte{wire.EOFHeader, 0, 0, byte(st), byte(st >> 8)}
	put(eof)
	for _, r := range rows {
		var b []byte
		for _, v := range r {
			b = lenEncStr(b, v)
		}
		put(b)
	}
	put(eof)
	if err != nil {
		return err
	}
	return c.Flush()
}

func lenEncStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 251:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 0xFC, byte(n), byte(n>>8))
	default:
		b = append(b, 0xFD, byte(n), byte(n>>8), byte(n>>16))
	}
	return append(b, s...)
}
