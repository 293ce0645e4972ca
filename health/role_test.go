package health

import (
	"strings"
	"testing"
)

func TestDecideRoles(t *testing.T) {
	// A server spec: up, read_only, replicating.
	type spec struct{ up, ro, repl bool }
	var (
		writable = spec{up: true}
		readOnly = spec{up: true, ro: true}
		replica  = spec{up: true, ro: true, repl: true}
		wReplica = spec{up: true, repl: true} // writable replica (MariaDB default)
		down     = spec{}
		downRepl = spec{repl: true} // stale fields on a down server must not matter
	)
	tests := []struct {
		name         string
		servers      []spec
		want         []Role
		wantConflict bool
	}{
		{"primary and two replicas", []spec{writable, replica, replica},
			[]Role{RolePrimary, RoleReplica, RoleReplica}, false},
		{"writable replica is a replica", []spec{writable, wReplica},
			[]Role{RolePrimary, RoleReplica}, false},
		{"primary down", []spec{down, replica, replica},
			[]Role{RoleUnknown, RoleReplica, RoleReplica}, false},
		{"down server is unknown whatever it reported", []spec{downRepl, writable},
			[]Role{RoleUnknown, RolePrimary}, false},
		{"read-only non-replicating is unknown (fenced)", []spec{readOnly, replica},
			[]Role{RoleUnknown, RoleReplica}, false},
		{"two writable: split brain, no primary", []spec{writable, replica, writable},
			[]Role{RoleUnknown, RoleReplica, RoleUnknown}, true},
		{"three writable", []spec{writable, writable, writable},
			[]Role{RoleUnknown, RoleUnknown, RoleUnknown}, true},
		{"all down", []spec{down, down}, []Role{RoleUnknown, RoleUnknown}, false},
		{"single writable server", []spec{writable}, []Role{RolePrimary}, false},
		{"nothing configured", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers := make([]Server, len(tt.servers))
			for i, s := range tt.servers {
				servers[i] = Server{Name: string(rune('a' + i)), Up: s.up, ReadOnly: s.ro, Replicating: s.repl}
			}
			conflict := decideRoles(servers, epochRecord{})
			if (conflict != "") != tt.wantConflict {
				t.Errorf("conflict = %q, want conflict %v", conflict, tt.wantConflict)
			}
			for i, s := range servers {
				if s.Role != tt.want[i] {
					t.Errorf("server %s: role %s, want %s", s.Name, s.Role, tt.want[i])
				}
				if tt.wantConflict && !s.ReadOnly && !s.Replicating && s.Up &&
					(s.LastError != conflict || !strings.Contains(conflict, "refusing to pick a primary")) {
					t.Errorf("server %s: LastError %q, want the conflict", s.Name, s.LastError)
				}
			}
			topo := &Topology{Servers: servers}
			p, ok := topo.Primary()
			wantP := -1
			for i, r := range tt.want {
				if r == RolePrimary {
					wantP = i
				}
			}
			if ok != (wantP >= 0) || (ok && p.Name != servers[wantP].Name) {
				t.Errorf("Primary() = %v, %v; want index %d", p.Name, ok, wantP)
			}
		})
	}
}

func TestTopologyLookups(t *testing.T) {
	topo := &Topology{Servers: []Server{
		{Name: "db1", Role: RolePrimary, Up: false}, // defensive: a down primary is not returned
		{Name: "db2", Role: RoleReplica, Up: true},
	}}
	if _, ok := topo.Primary(); ok {
		t.Error("Primary() returned a down server")
	}
	if s, ok := topo.Server("db2"); !ok || s.Role != RoleReplica {
		t.Errorf("Server(db2) = %+v, %v", s, ok)
	}
	if _, ok := topo.Server("nope"); ok {
		t.Error("Server(nope) found something")
	}
	two := &Topology{Servers: []Server{{Name: "a", Role: RolePrimary, Up: true}, {Name: "b", Role: RolePrimary, Up: true}}}
	if _, ok := two.Primary(); ok {
		t.Error("Primary() picked one of two primaries")
	}
}
