package router

import (
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/gtid"
)

func topology() *health.Topology {
	return &health.Topology{Epoch: 1, Servers: []health.Server{
		{Name: "db1", Address: "10.0.0.1:3306", Region: "eu", Zone: "eu-1a", Role: health.RolePrimary, Up: true, GTIDCurrent: "0-1-100", Applied: gtid.MustParse("0-1-100")},
		{Name: "db2", Address: "10.0.0.2:3306", Region: "eu", Zone: "eu-1b", Role: health.RoleReplica, Up: true, SQLThreadRunning: true,
			SourceAddress: "10.0.0.1:3306", Source: "db1", MinRTT: time.Millisecond, GTIDCurrent: "0-1-100", Applied: gtid.MustParse("0-1-100")},
		{Name: "db3", Address: "10.0.0.3:3306", Region: "us", Zone: "us-1a", Role: health.RoleReplica, Up: true, SQLThreadRunning: true,
			SourceAddress: "10.0.0.1:3306", Source: "db1", MinRTT: 200 * time.Microsecond, GTIDCurrent: "0-1-90", Applied: gtid.MustParse("0-1-90")},
	}}
}

func TestRoute(t *testing.T) {
	pol := Policy{Split: true, Region: "eu", Zone: "eu-1a", MaxReplicaLag: time.Second, GTIDWait: 50 * time.Millisecond}
	lagging := topology()
	lagging.Servers[1].Lag = 5 * time.Second
	noPrimary := topology()
	noPrimary.Servers[0].Up = false
	stopped := topology()
	stopped.Servers[1].SQLThreadRunning = false
	stopped.Servers[2].SQLThreadRunning = false
	for _, tc := range []struct {
		name    string
		req     Request
		topo    *health.Topology
		pol     Policy
		backend string
		reason  Reason
		wait    bool
		err     error
	}{
		{"write goes to the primary", Request{Class: ClassWrite}, topology(), pol, "db1", ReasonWrite, false, nil},
		{"read prefers the same region over a lower RTT", Request{Class: ClassRead}, topology(), pol, "db2", ReasonReplica, false, nil},
		{"read in another region when the near one lags", Request{Class: ClassRead}, lagging, pol, "db3", ReasonReplica, false, nil},
		{"a read sent again avoids the replica it failed on", Request{Class: ClassRead, Avoid: "db2"}, topology(), pol, "db3", ReasonReplica, false, nil},
		{"…and goes to the primary when no other replica is fresh", Request{Class: ClassRead, Avoid: "db2"}, func() *health.Topology {
			tp := topology()
			tp.Servers[2].Lag = 5 * time.Second
			return tp
		}(), pol, "db1", ReasonNoReplica, false, nil},
		{"max_staleness hint accepts the lagging near replica", Request{Class: ClassRead, MaxStaleness: 10 * time.Second}, lagging, pol, "db2", ReasonReplica, false, nil},
		{"read that needs a newer GTID prefers a fresh replica", Request{Class: ClassRead, Need: gtid.MustParse("0-1-95")}, func() *health.Topology {
			tp := topology()
			tp.Servers[1].Applied = gtid.MustParse("0-1-90")
			tp.Servers[2].Applied = gtid.MustParse("0-1-96")
			tp.Servers[2].Region = "eu"
			return tp
		}(), pol, "db3", ReasonReplica, false, nil},
		{"read that needs a GTID no replica has waits on the nearest", Request{Class: ClassRead, Need: gtid.MustParse("0-1-101")}, topology(), pol, "db2", ReasonReplicaWait, true, nil},
		{"no waiting configured: the primary", Request{Class: ClassRead, Need: gtid.MustParse("0-1-101")}, topology(), Policy{Split: true, MaxReplicaLag: time.Second}, "db1", ReasonNoReplica, false, nil},
		{"split off", Request{Class: ClassRead}, topology(), Policy{MaxReplicaLag: time.Second}, "db1", ReasonNoSplit, false, nil},
		{"primary hint", Request{Class: ClassRead, HintPrimary: true}, topology(), pol, "db1", ReasonHintPrimary, false, nil},
		{"consistency primary", Request{Class: ClassRead, Consistency: config.ConsistencyPrimary}, topology(), pol, "db1", ReasonConsistency, false, nil},
		{"replicas with stopped SQL threads serve no reads", Request{Class: ClassRead}, stopped, pol, "db1", ReasonNoReplica, false, nil},
		{"no replica and fallback error", Request{Class: ClassRead}, stopped, Policy{Split: true, MaxReplicaLag: time.Second, FallbackError: true}, "", ReasonNoReplica, false, ErrNoReplica},
		{"read only transaction on a replica", Request{Class: ClassReadOnlyTx}, topology(), pol, "db2", ReasonReadOnlyTx, false, nil},
		{"no primary", Request{Class: ClassWrite}, noPrimary, pol, "", ReasonWrite, false, ErrNoPrimary},
		{"reads still flow without a primary", Request{Class: ClassRead}, noPrimary, pol, "db2", ReasonReplica, false, nil},
		{"the source is compared as health resolved it, not as text", Request{Class: ClassRead}, func() *health.Topology {
			tp := topology()
			tp.Servers[1].SourceAddress = "db1.internal:3306" // health resolved it to db1
			return tp
		}(), pol, "db2", ReasonReplica, false, nil},
		{"a replica of another server serves no reads", Request{Class: ClassRead}, func() *health.Topology {
			tp := topology()
			tp.Servers[1].Source = "db3"
			tp.Servers[2].Source = ""
			return tp
		}(), pol, "db1", ReasonNoReplica, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Route(tc.req, tc.topo, tc.pol, Load{})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if d.Backend.Name != tc.backend || d.Reason != tc.reason || d.Wait != tc.wait {
				t.Fatalf("got %s %s wait=%v, want %s %s wait=%v", d.Backend.Name, d.Reason, d.Wait, tc.backend, tc.reason, tc.wait)
			}
		})
	}
}

func TestRouteSpreadsNearTies(t *testing.T) {
	tp := topology()
	tp.Servers[2].Region, tp.Servers[2].Zone, tp.Servers[2].MinRTT = "eu", "eu-1b", time.Millisecond
	busy := map[string]int{"db2": 5, "db3": 1}
	d, err := Route(Request{Class: ClassRead}, tp, Policy{Split: true, MaxReplicaLag: time.Second}, Load{InUse: func(n string) int { return busy[n] }})
	if err != nil || d.Backend.Name != "db3" {
		t.Fatalf("got %s (%v), want the less busy db3", d.Backend.Name, err)
	}
}

// TestRouteNearIsRelativeAndAbsolute: replicas a fraction of a millisecond
// apart share reads by load even when one answers probes twice as fast;
// replicas milliseconds apart do not.
func TestRouteNearIsRelativeAndAbsolute(t *testing.T) {
	busy := map[string]int{"db2": 5, "db3": 1}
	load := Load{InUse: func(n string) int { return busy[n] }}
	pol := Policy{Split: true, MaxReplicaLag: time.Second}
	for _, c := range []struct {
		name     string
		rtt2     time.Duration
		rtt3     time.Duration
		wantName string
	}{
		{"sub-millisecond apart: less busy", 150 * time.Microsecond, 400 * time.Microsecond, "db3"},
		{"sub-millisecond apart, other order: less busy", 400 * time.Microsecond, 150 * time.Microsecond, "db3"},
		{"milliseconds apart: nearer", time.Millisecond, 3 * time.Millisecond, "db2"},
		{"within 20%: less busy", 10 * time.Millisecond, 11 * time.Millisecond, "db3"},
	} {
		tp := topology()
		tp.Servers[1].MinRTT, tp.Servers[2].MinRTT = c.rtt2, c.rtt3
		tp.Servers[2].Region, tp.Servers[2].Zone = tp.Servers[1].Region, tp.Servers[1].Zone
		d, err := Route(Request{Class: ClassRead}, tp, pol, load)
		if err != nil || d.Backend.Name != c.wantName {
			t.Errorf("%s: got %s (%v), want %s", c.name, d.Backend.Name, err, c.wantName)
		}
	}
}

// TestRouteNearDoesNotDependOnOrder: the least busy replica near the
// nearest one wins whatever the servers' order, not one that is only near
// a near one; equal load goes to the nearer.
func TestRouteNearDoesNotDependOnOrder(t *testing.T) {
	pol := Policy{Split: true, MaxReplicaLag: time.Second}
	for _, c := range []struct {
		name string
		busy map[string]int
		want string
	}{
		{"least busy near the nearest", map[string]int{"dbA": 2, "dbB": 1, "dbC": 0}, "dbB"},
		{"equal load: the nearer", map[string]int{}, "dbA"},
	} {
		for _, order := range [][]string{{"dbA", "dbB", "dbC"}, {"dbC", "dbB", "dbA"}} {
			tp := topology()
			tmpl := tp.Servers[1]
			rtt := map[string]time.Duration{"dbA": 100 * time.Microsecond, "dbB": 550 * time.Microsecond, "dbC": 1100 * time.Microsecond}
			tp.Servers = tp.Servers[:1]
			for _, n := range order {
				s := tmpl
				s.Name, s.Address, s.MinRTT = n, n+":3306", rtt[n]
				tp.Servers = append(tp.Servers, s)
			}
			d, err := Route(Request{Class: ClassRead}, tp, pol, Load{InUse: func(n string) int { return c.busy[n] }})
			if err != nil || d.Backend.Name != c.want {
				t.Errorf("%s, order %v: got %s (%v), want %s", c.name, order, d.Backend.Name, err, c.want)
			}
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	tp := topology()
	pol := Policy{Split: true, Region: "eu", Zone: "eu-1a", MaxReplicaLag: time.Second, GTIDWait: 50 * time.Millisecond}
	req := Request{Class: ClassRead}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Route(req, tp, pol, Load{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRouteWithGTID(b *testing.B) {
	tp := topology()
	pol := Policy{Split: true, Region: "eu", Zone: "eu-1a", MaxReplicaLag: time.Second, GTIDWait: 50 * time.Millisecond}
	req := Request{Class: ClassRead, Need: gtid.MustParse("0-1-95")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Route(req, tp, pol, Load{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRouteKnowsApplied: a replica the proxy learned has applied the
// read's need (Load.Applied: from a wait's answer) is as fresh as one
// whose probe says so, in either flavor; one that has not must wait.
func TestRouteKnowsApplied(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	pol := Policy{Split: true, Region: "eu", Zone: "eu-1a", MaxReplicaLag: time.Second, GTIDWait: 50 * time.Millisecond}
	for _, tc := range []struct {
		name, known, need string
		reason            Reason
	}{
		{"learned position covers: no wait", "0-1-120", "0-1-110", ReasonReplica},
		{"beyond what is known: wait", "0-1-120", "0-1-121", ReasonReplicaWait},
		{"a MySQL set learned covers", uuid + ":1-7", uuid + ":5-7", ReasonReplica},
		{"a MySQL set not yet applied: wait", uuid + ":1-7", uuid + ":8", ReasonReplicaWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := map[string]gtid.Position{"db2": gtid.MustParse(tc.known)}
			load := Load{Applied: func(name string) gtid.Position { return known[name] }}
			const want = "db2" // the nearest; db3's probe is behind too
			d, err := Route(Request{Class: ClassRead, Need: gtid.MustParse(tc.need)}, topology(), pol, load)
			if err != nil || d.Backend.Name != want || d.Reason != tc.reason || d.Wait != (tc.reason == ReasonReplicaWait) {
				t.Errorf("= %s %s wait %v (%v), want %s %s", d.Backend.Name, d.Reason, d.Wait, err, want, tc.reason)
			}
		})
	}
}

// TestRouteReadOnPrimaryWithRoom: a read that a replica would first have
// to catch up for runs on the primary while fewer commands than
// ReadPrimaryBelow run there, and waits on a replica once the primary is
// that busy, when the rule is off, or when the client asked for a replica.
// A read a replica has applied already stays on the replica whatever the
// primary's load.
func TestRouteReadOnPrimaryWithRoom(t *testing.T) {
	pol := Policy{Split: true, Region: "eu", Zone: "eu-1a", MaxReplicaLag: time.Second, GTIDWait: 50 * time.Millisecond, ReadPrimaryBelow: 16}
	off := pol
	off.ReadPrimaryBelow = 0
	unseen := gtid.MustParse("0-1-101") // beyond every replica's probe
	for _, tc := range []struct {
		name      string
		req       Request
		pol       Policy
		onPrimary int // commands running on db1
		backend   string
		reason    Reason
	}{
		{"idle primary answers at once", Request{Class: ClassRead, Need: unseen}, pol, 0, "db1", ReasonPrimaryRoom},
		{"one below the bound", Request{Class: ClassRead, Need: unseen}, pol, 15, "db1", ReasonPrimaryRoom},
		{"at the bound the replica waits", Request{Class: ClassRead, Need: unseen}, pol, 16, "db2", ReasonReplicaWait},
		{"rule off: the replica waits", Request{Class: ClassRead, Need: unseen}, off, 0, "db2", ReasonReplicaWait},
		{"a replica hint waits on the replica", Request{Class: ClassRead, Need: unseen, HintReplica: true}, pol, 0, "db2", ReasonReplicaWait},
		{"a read-only transaction too", Request{Class: ClassReadOnlyTx, Need: unseen}, pol, 0, "db1", ReasonPrimaryRoom},
		{"applied already: the replica", Request{Class: ClassRead, Need: gtid.MustParse("0-1-100")}, pol, 0, "db2", ReasonReplica},
	} {
		t.Run(tc.name, func(t *testing.T) {
			load := Load{InUse: func(name string) int {
				if name == "db1" {
					return tc.onPrimary
				}
				return 0
			}}
			d, err := Route(tc.req, topology(), tc.pol, load)
			if err != nil || d.Backend.Name != tc.backend || d.Reason != tc.reason || d.Wait != (tc.reason == ReasonReplicaWait) {
				t.Errorf("= %s %s wait %v (%v), want %s %s", d.Backend.Name, d.Reason, d.Wait, err, tc.backend, tc.reason)
			}
		})
	}
}

// TestRouteStampsEpoch: a decision carries the epoch of the topology it
// was made in, which the connection borrowed for it is stamped with.
func TestRouteStampsEpoch(t *testing.T) {
	tp := topology()
	tp.Epoch = 7
	for _, class := range []Class{ClassWrite, ClassRead} {
		d, err := Route(Request{Class: class}, tp, Policy{Split: true, MaxReplicaLag: time.Second}, Load{})
		if err != nil || d.Epoch != 7 {
			t.Errorf("class %d: epoch %d (%v), want 7", class, d.Epoch, err)
		}
	}
}
