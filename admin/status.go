package admin

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTopology prints v as a table, one server per line, for people.
// now dates the snapshot ("probed 0.3s ago").
func WriteTopology(w io.Writer, v TopologyView, now time.Time) error {
	head := fmt.Sprintf("epoch %d  primary %s", v.Epoch, orNone(v.Primary))
	if v.ProbedAt.IsZero() {
		head += "  not probed yet"
	} else {
		head += "  probed " + ago(now.Sub(v.ProbedAt))
	}
	if v.ClusterMembers > 0 {
		head += fmt.Sprintf("  cluster members %d", v.ClusterMembers)
		if len(v.Members) > 1 {
			head += fmt.Sprintf(" (%d agree)", agreeing(v.Members))
		}
	}
	if v.FailoverInProgress {
		head += "  FAILOVER IN PROGRESS (writes held)"
	}
	if v.Draining {
		head += "  DRAINING (shutting down)"
	}
	tw := newTable(w)
	fmt.Fprintln(tw, head)
	if v.Failover != "" {
		fmt.Fprintln(tw, "failover: "+cell(v.Failover, 200))
	}
	fmt.Fprintln(tw, "NAME\tROLE\tUP\tADDRESS\tREGION\tLAG\tRTT\tGTID\tNOTE")
	for _, s := range v.Servers {
		region := s.Region
		if s.Zone != "" {
			region += "/" + s.Zone
		}
		lag := "-"
		if s.LagSeconds != nil {
			lag = seconds(*s.LagSeconds)
		}
		rtt := "-"
		if s.Up {
			rtt = seconds(s.RTTSeconds)
		}
		note := s.LastError
		if s.Fenced {
			note = "FENCED: a newer epoch names another primary"
		}
		if note == "" {
			note = s.ReplicationError
		}
		if note == "" && s.Replicating && (!s.IOThreadRunning || !s.SQLThreadRunning) {
			note = "replication threads stopped"
		}
		if note == "" {
			note = s.SourceMismatch
		}
		if note == "" && s.Role == "replica" && s.Source != "" {
			note = "from " + s.Source
		}
		if s.Drained {
			note = strings.TrimSuffix("DRAINED (undo: switchyard drain "+s.Name+" --undo); "+note, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(s.Name, 20), cell(s.Role, 10), yesNo(s.Up), cell(s.Address, 40), cell(region, 30),
			lag, rtt, cell(orDash(s.GTID), 40), cell(note, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Members) > 1 {
		return writeMembers(w, v.Members, now)
	}
	return nil
}

// writeMembers prints the proxies of the cluster, one per line, with the
// view each gossiped and whether it agrees with the answering proxy's. A
// lone proxy has no such table: its header says it all.
func writeMembers(w io.Writer, members []MemberView, now time.Time) error {
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "MEMBER\tADDRESS\tALIVE\tAGREES\tPRIMARY\tRECORDED EPOCH\tVIEW\tSERVERS\tNOTE")
	for _, m := range members {
		name := m.Name
		if m.Self {
			name += " (this)"
		}
		view := "-"
		if !m.UpdatedAt.IsZero() {
			view = ago(now.Sub(m.UpdatedAt))
		}
		servers := make([]string, len(m.Servers))
		for i, s := range m.Servers {
			state := s.Role
			if !s.Up {
				state = "down"
			}
			servers[i] = s.Name + ":" + state
		}
		note := strings.Join(m.Disagreements, "; ")
		if note == "" && m.HoldingWrites {
			note = "holding writes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", cell(name, 30), cell(orDash(m.Address), 40), yesNo(m.Alive), yesNo(m.Agrees),
			cell(orNone(m.Primary), 20), m.Epoch, view, cell(strings.Join(servers, " "), 60), cell(note, 80))
	}
	return tw.Flush()
}

func agreeing(members []MemberView) int {
	n := 0
	for _, m := range members {
		if m.Agrees {
			n++
		}
	}
	return n
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "NONE"
	}
	return s
}

// WriteDigests prints the busiest statements as a table.
func WriteDigests(w io.Writer, d []DigestStat) error {
	if len(d) == 0 {
		_, err := fmt.Fprintln(w, "no statements yet")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "COUNT\tERRORS\tTOTAL\tAVG\tMAX\tDIGEST\tSTATEMENT")
	for _, s := range d {
		avg := 0.0
		if s.Count > 0 {
			avg = s.TotalSeconds / float64(s.Count)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Count, s.Errors,
			seconds(s.TotalSeconds), seconds(avg), seconds(s.MaxSeconds), cell(s.Digest, 16), cell(oneLine(s.Sample), 80))
	}
	return tw.Flush()
}

// seconds prints a duration in seconds with the unit that keeps it short:
// 850µs, 12.3ms, 4.56s, 2m3s.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	default:
		return d.Round(time.Second).String()
	}
}

func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return seconds(d.Seconds()) + " ago"
}

// cell keeps a table cell on one line and at most n runes.
func cell(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table is a tabwriter whose output is buffered so that Flush can drop the
// padding tabwriter leaves before an empty last cell.
type table struct {
	*tabwriter.Writer
	buf strings.Builder
	out io.Writer
}

func newTable(out io.Writer) *table {
	t := &table{out: out}
	t.Writer = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for l := range strings.Lines(t.buf.String()) {
		b.WriteString(strings.TrimRight(l, " \n"))
		b.WriteByte('\n')
	}
	t.buf.Reset()
	_, err := io.WriteString(t.out, b.String())
	return err
}
