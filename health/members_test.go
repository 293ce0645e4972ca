package health

import (
	"slices"
	"testing"

	"github.com/switchyard/switchyard/health/cluster"
)

func TestMemberOfDerivesRoles(t *testing.T) {
	mb := memberOf(cluster.View{Member: "p1", Primary: "db1", Epoch: 3, EpochPrimary: "db1", State: "healthy", Holding: true,
		Backends: []cluster.Backend{
			{Name: "db1", Up: true, GTID: "0-1-9", Epoch: 3},
			{Name: "db2", Up: true, Replica: true, GTID: "0-1-8"},
			{Name: "db3", Up: true}, // up, neither primary nor replicating: a fenced or detached server
			{Name: "db4"},
		}})
	want := []MemberServer{
		{Name: "db1", Up: true, Role: RolePrimary, GTID: "0-1-9", Epoch: 3},
		{Name: "db2", Up: true, Role: RoleReplica, GTID: "0-1-8"},
		{Name: "db3", Up: true, Role: RoleUnknown},
		{Name: "db4", Role: RoleUnknown},
	}
	if mb.Name != "p1" || mb.Primary != "db1" || mb.Epoch != 3 || mb.Failover != "healthy" || !mb.HoldingWrites ||
		!slices.Equal(mb.Servers, want) {
		t.Errorf("memberOf = %+v", mb)
	}
}

func TestDisagreements(t *testing.T) {
	base := func() Member {
		return Member{Primary: "db1", Epoch: 2, Servers: []MemberServer{
			{Name: "db1", Up: true, Role: RolePrimary, GTID: "0-1-10"},
			{Name: "db2", Up: true, Role: RoleReplica, GTID: "0-1-10"},
		}}
	}
	for _, tt := range []struct {
		name   string
		change func(*Member)
		want   []string
	}{
		{"same view", func(*Member) {}, nil},
		{"GTIDs move with every write", func(m *Member) { m.Servers[1].GTID = "0-1-7" }, nil},
		{"another primary and epoch", func(m *Member) {
			m.Primary, m.Epoch = "db2", 3
			m.Servers[0].Role, m.Servers[1].Role = RoleUnknown, RolePrimary
		}, []string{"primary db1 here, db2 there", "epoch 2 here, 3 there", "db1: primary here, unknown there", "db2: replica here, primary there"}},
		{"no primary there", func(m *Member) {
			m.Primary = ""
			m.Servers[0].Up, m.Servers[0].Role = false, RoleUnknown
		}, []string{"primary db1 here, none there", "db1: up here, down there"}},
		{"configs differ", func(m *Member) {
			m.Servers[1].Name = "db9"
		}, []string{"db2: not in its view", "db9: not configured here"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			other := base()
			tt.change(&other)
			if got := disagreements(base(), other); !slices.Equal(got, tt.want) {
				t.Errorf("disagreements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMembersWithoutCluster(t *testing.T) {
	m := mustMonitor(t, testConfig(0, "127.0.0.1:1"), nil)
	ms := m.Members()
	if len(ms) != 1 || !ms[0].Self || ms[0].Name != soloName || !ms[0].Agrees || !ms[0].Fresh || len(ms[0].Servers) != 1 {
		t.Errorf("Members = %+v", ms)
	}
}
