package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/gtid"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const primaryAddr = "10.0.0.1:3306"

func replica(name, gtidText string) Server {
	return Server{Name: name, Address: name + ":3306", Region: "eu", Promote: true, Up: true,
		Flavor: MariaDB, Replicating: true, SourceAddress: primaryAddr, SQLThreadRunning: true,
		Position: gtid.MustParse(gtidText)}
}

func deadPrimary(since time.Time) Server {
	return Server{Name: "db1", Address: primaryAddr, Region: "eu", Promote: true, Flavor: MariaDB,
		FailedProbes: 5, DownSince: since}
}

// obs is an observation at now of a dead primary seen down since t0 by
// the given members, with two replicas.
func obs(now time.Time, size int, members ...Member) Observation {
	return Observation{
		Now: now, Self: "a", ClusterSize: size, Members: members, Primary: "db1", Region: "eu",
		Servers: []Server{deadPrimary(t0), replica("db2", "0-1-10"), replica("db3", "0-1-9")},
	}
}

func down(name string) Member   { return Member{Name: name, DownSince: t0, SeesReplica: true} }
func upSeen(name string) Member { return Member{Name: name, SeesReplica: true} }

func TestJudge(t *testing.T) {
	cfg := Config{Auto: true, ConfirmAfter: 1500 * time.Millisecond}
	later := t0.Add(2 * time.Second)
	tests := []struct {
		name    string
		o       Observation
		act     bool
		blocked bool
		reason  string
	}{
		{"cluster of one confirms alone", obs(later, 1, down("a")), true, false, ""},
		{"cluster of one, too early", obs(t0.Add(time.Second), 1, down("a")), false, false, "0 of 1 proxies confirm"},
		{"majority of three", obs(later, 3, down("a"), down("b")), true, false, ""},
		{"alone of three: no quorum, whatever it sees", obs(later, 3, down("a")), false, true, "no quorum: 1 of 3"},
		{"quorum counts expected size, not members alive", obs(later, 5, down("a"), down("b")), false, true, "2 of 5 proxies reachable, 3 needed"},
		{"quorum, but the other sees it up", obs(later, 3, down("a"), upSeen("b")), false, false, "1 of 3 proxies confirm"},
		{"the other confirmed too recently", obs(later, 3, down("a"),
			Member{Name: "b", DownSince: later.Add(-time.Second), SeesReplica: true}), false, false, "1 of 3"},
		{"lowest name coordinates", func() Observation {
			o := obs(later, 3, down("b"), down("a"))
			o.Self = "b"
			return o
		}(), false, false, "waiting for the coordinator a"},
		{"coordinator must see a replica", func() Observation {
			o := obs(later, 3, Member{Name: "a", DownSince: t0}, down("b"))
			o.Self = "b"
			return o
		}(), true, false, ""},
		{"nobody sees a replica", obs(later, 1, Member{Name: "a", DownSince: t0}), false, true, "no confirming proxy sees a replica"},
		{"a replica still replicates from it: network cut, reported", func() Observation {
			o := obs(later, 1, down("a"))
			o.Servers[1].IOThreadRunning = true
			return o
		}(), false, true, "replicas db2 still replicate from it"},
		{"one failed probe is not a failure", func() Observation {
			o := obs(later, 1, down("a"))
			o.Servers[0].FailedProbes = 1
			return o
		}(), false, false, "0 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := tt.o.primaryDown()
			if !ok {
				t.Fatal("primary not down in the observation")
			}
			v := cfg.judge(tt.o, p)
			if v.act != tt.act || v.blocked != tt.blocked || !strings.Contains(v.reason, tt.reason) {
				t.Errorf("judge = %+v; want act %v blocked %v reason ~%q", v, tt.act, tt.blocked, tt.reason)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	from := deadPrimary(t0)
	with := func(s Server, f func(*Server)) Server { f(&s); return s }
	tests := []struct {
		name    string
		servers []Server
		region  string
		want    string
		others  []string
		skipped string
	}{
		{"most advanced wins over priority", []Server{
			replica("db2", "0-1-10"),
			with(replica("db3", "0-1-9"), func(s *Server) { s.Priority = 100 }),
		}, "eu", "db2", []string{"db3"}, ""},
		{"received counts: the position includes the relay log", []Server{
			replica("db2", "0-1-10"), replica("db3", "0-1-12"),
		}, "eu", "db3", []string{"db2"}, ""},
		{"tie: priority", []Server{
			replica("db2", "0-1-10"),
			with(replica("db3", "0-1-10"), func(s *Server) { s.Priority = 1 }),
		}, "eu", "db3", []string{"db2"}, ""},
		{"tie: region of the failed primary", []Server{
			with(replica("db2", "0-1-10"), func(s *Server) { s.Region = "us" }),
			replica("db3", "0-1-10"),
		}, "us", "db3", []string{"db2"}, ""},
		{"tie: then this proxy's region", []Server{
			with(replica("db2", "0-1-10"), func(s *Server) { s.Region = "us" }),
			with(replica("db3", "0-1-10"), func(s *Server) { s.Region = "ap" }),
		}, "ap", "db3", []string{"db2"}, ""},
		{"tie: then name", []Server{replica("db3", "0-1-10"), replica("db2", "0-1-10")}, "eu", "db2", []string{"db3"}, ""},
		{"promote false is repointed, never promoted, and reported when ahead", []Server{
			with(replica("db2", "0-1-11"), func(s *Server) { s.Promote = false }),
			replica("db3", "0-1-9"),
		}, "eu", "db3", []string{"db2"}, "db2: has 2 transaction(s) the candidate lacks"},
		{"stopped on an error", []Server{
			with(replica("db2", "0-1-11"), func(s *Server) { s.SQLThreadRunning = false; s.ReplicationError = "SQL thread: dup" }),
			replica("db3", "0-1-9"),
		}, "eu", "db3", []string{"db2"}, "replication stopped on an error"},
		{"down and foreign replicas skipped", []Server{
			with(replica("db2", "0-1-11"), func(s *Server) { s.Up = false }),
			with(replica("db3", "0-1-11"), func(s *Server) { s.SourceAddress = "10.9.9.9:3306" }),
			replica("db4", "0-1-5"),
		}, "eu", "db4", nil, "db3: does not replicate from db1"},
		{"none", []Server{with(replica("db2", "0-1-11"), func(s *Server) { s.Promote = false })}, "eu", "", []string{"db2"}, "promote: false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, ok := Choose(append([]Server{from}, tt.servers...), from, tt.region)
			if ok != (tt.want != "") || ok && ch.Candidate.Name != tt.want {
				t.Fatalf("Choose = %s, %v; want %q (skipped %v)", ch.Candidate.Name, ok, tt.want, ch.Skipped)
			}
			var others []string
			for _, s := range ch.Others {
				others = append(others, s.Name)
			}
			if strings.Join(others, ",") != strings.Join(tt.others, ",") {
				t.Errorf("others = %v, want %v", others, tt.others)
			}
			if !strings.Contains(strings.Join(ch.Skipped, "; "), tt.skipped) {
				t.Errorf("skipped = %v, want ~%q", ch.Skipped, tt.skipped)
			}
		})
	}
}
