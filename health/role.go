package health

import (
	"fmt"
	"strings"
)

// decideRoles sets Role on every server from its probe results, and returns
// a description of a conflict that left the primary undecided ("" if none).
//
//   - primary: up, writable and not replicating, and the only such server.
//   - replica: up and replicating (whether or not it is writable).
//   - unknown: everything else — down; read-only without a source (a fenced
//     or not yet configured server); or one of several primary candidates.
//
// Two writable non-replicating servers is split brain: writes to the wrong
// one are lost, so none is called primary and the conflict is written to each
// candidate's LastError. A human or failover must fence one (read_only=1).
//
// Fencing comes first: once an epoch has been recorded (rec.Epoch > 0), a
// writable non-replicating server that the newest epoch does not name is
// Fenced and unknown, whatever else is true of it — a failed primary that
// came back, or a server promoted behind switchyard's back. Epochs are
// never forgotten, so a stale primary can never win back writes.
func decideRoles(servers []Server, rec epochRecord) (conflict string) {
	var candidates []int
	for i := range servers {
		s := &servers[i]
		s.Fenced = false
		switch {
		case s.Up && !s.Replicating && !s.ReadOnly && rec.Epoch > 0 && s.Name != rec.Primary:
			s.Role = RoleUnknown
			s.Fenced = true
			s.LastError = fmt.Sprintf("fenced: writable, but epoch %d made %s the primary (this server's copy says epoch %d); "+
				"it takes no writes and is being set read-only", rec.Epoch, rec.Primary, s.RecordedEpoch)
			if s.RecordedEpoch >= rec.Epoch {
				s.LastError = fmt.Sprintf("fenced: writable, but epoch %d names %s as the primary; promote it with a "+
					"switchover through switchyard instead, or set read_only=1", rec.Epoch, rec.Primary)
			}
		case !s.Up:
			s.Role = RoleUnknown
		case s.Replicating:
			s.Role = RoleReplica
		case !s.ReadOnly:
			s.Role = RolePrimary
			candidates = append(candidates, i)
		default:
			s.Role = RoleUnknown
			if s.LastError == "" {
				s.LastError = "read-only and not replicating: neither primary nor replica; " +
					"set read_only=0 to make it the primary, or point it at the primary"
			}
		}
	}
	if len(candidates) < 2 {
		return ""
	}
	names := make([]string, len(candidates))
	for i, c := range candidates {
		names[i] = servers[c].Name
	}
	conflict = fmt.Sprintf("%d servers are writable and not replicating (%s): refusing to pick a primary; "+
		"set read_only=1 on all but one, or make them replicas", len(names), strings.Join(names, ", "))
	for _, c := range candidates {
		servers[c].Role = RoleUnknown
		servers[c].LastError = conflict
	}
	return conflict
}
