package admin

import (
	"fmt"
	"time"

	"github.com/switchyard/switchyard/health"
)

// TopologyView is the body of GET /topology: the health snapshot in stable
// JSON, durations in seconds. It holds no credentials: nothing in a
// health.Topology does, and the view copies fields one by one so that a
// field added to health later is not published by accident.
type TopologyView struct {
	// Epoch is the promotion epoch: the newest recorded in the databases
	// or heard by gossip (RecordedEpoch; switchyard_epoch). One number
	// everywhere an operator reads "epoch".
	Epoch uint64 `json:"epoch"`
	// View counts this proxy's changes of primary since it started
	// (health.Topology.Epoch); it is local to this proxy.
	View     uint64    `json:"view"`
	Primary  string    `json:"primary"` // name of the primary; "" when none is known
	ProbedAt time.Time `json:"probed_at,omitzero"`
	Draining bool      `json:"draining"` // this proxy is shutting down
	// Upgrade is the last switchyard upgrade of this process (running,
	// ok: the new process is taking over, failed: rolled back); nil if none.
	Upgrade *UpgradeResponse `json:"upgrade,omitempty"`

	// RecordedEpoch is the newest promotion epoch recorded in the
	// databases or heard by gossip, and RecordedPrimary the server it
	// names.
	RecordedEpoch      uint64 `json:"recorded_epoch"`
	RecordedPrimary    string `json:"recorded_primary,omitempty"`
	FailoverInProgress bool   `json:"failover_in_progress"` // writes are held
	Failover           string `json:"failover,omitempty"`   // this proxy's failover state and why
	ClusterMembers     int    `json:"cluster_members"`      // proxies with fresh views, this one included

	Servers []ServerView `json:"servers"`
	// Members are the proxies of the cluster, this one first, each with
	// its view of the servers.
	Members []MemberView `json:"members"`
}

// MemberView is one proxy of the cluster in a TopologyView: its view of
// the servers as gossiped, and whether it agrees with this proxy's.
type MemberView struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"` // gossip host:port
	Self    bool   `json:"self"`              // the proxy that answered
	Alive   bool   `json:"alive"`             // gossip reaches it
	Fresh   bool   `json:"fresh"`             // its view is recent enough to count for quorum
	// UpdatedAt is when its view arrived (for this proxy: its last probe
	// round).
	UpdatedAt time.Time `json:"updated_at,omitzero"`

	Primary       string `json:"primary"` // the server it sees as primary; "" when none
	Epoch         uint64 `json:"epoch"`   // the newest recorded epoch it knows
	EpochPrimary  string `json:"epoch_primary,omitempty"`
	Failover      string `json:"failover,omitempty"` // its failover state
	HoldingWrites bool   `json:"holding_writes"`

	Agrees        bool     `json:"agrees"`                  // same primary, epoch and server states as this proxy
	Disagreements []string `json:"disagreements,omitempty"` // what differs, when it does not agree

	Servers []MemberServerView `json:"servers"`
}

// MemberServerView is one server in a member's view.
type MemberServerView struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	Role  string `json:"role"` // primary, replica or unknown
	GTID  string `json:"gtid,omitempty"`
	Epoch uint64 `json:"recorded_epoch"` // the epoch recorded on the server
}

// ServerView is one backend in a TopologyView.
type ServerView struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Region   string `json:"region,omitempty"`
	Zone     string `json:"zone,omitempty"`
	Role     string `json:"role"` // primary, replica or unknown
	Up       bool   `json:"up"`
	ReadOnly bool   `json:"read_only"`
	Version  string `json:"version,omitempty"`
	Flavor   string `json:"flavor,omitempty"`

	RTTSeconds float64 `json:"rtt_seconds"`
	// MinRTTSeconds is the smallest of the last few probes' round trips:
	// the distance reads are routed by.
	MinRTTSeconds float64 `json:"min_rtt_seconds"`
	// LagSeconds is null when the lag is unknown or the server does not
	// replicate.
	LagSeconds *float64 `json:"lag_seconds"`

	Replicating      bool   `json:"replicating"`
	Source           string `json:"source,omitempty"` // host:port it replicates from
	IOThreadRunning  bool   `json:"io_thread_running"`
	SQLThreadRunning bool   `json:"sql_thread_running"`
	ReplicationError string `json:"replication_error,omitempty"`
	// SourceBackend names the configured backend Source is (health
	// resolves host names and compares addresses); SourceMismatch says why
	// a replicating server serves no reads when its source is not the
	// primary, or matches no configured backend.
	SourceBackend  string `json:"source_backend,omitempty"`
	SourceMismatch string `json:"source_mismatch,omitempty"`

	GTID         string `json:"gtid"`                    // executed GTID set or position
	GTIDReceived string `json:"gtid_received,omitempty"` // what a replica has received

	RecordedEpoch uint64 `json:"recorded_epoch"` // this server's copy of the promotion epoch
	Fenced        bool   `json:"fenced"`         // writable, but a newer epoch names another primary

	// Drained: an operator took the backend out of rotation (POST
	// /backends/NAME/drain); it gets no new work until undrained.
	Drained bool `json:"drained"`

	LastError    string    `json:"last_error,omitempty"`
	FailedProbes int       `json:"failed_probes"`
	DownSince    time.Time `json:"down_since,omitzero"`
	ProbedAt     time.Time `json:"probed_at,omitzero"`
}

// NewTopologyView converts a snapshot and the cluster's members. A nil
// snapshot gives an empty view.
func NewTopologyView(t *health.Topology, members []health.Member) TopologyView {
	v := TopologyView{Servers: []ServerView{}, Members: newMemberViews(members)}
	if t == nil {
		return v
	}
	v.Epoch, v.View, v.ProbedAt = t.RecordedEpoch, t.Epoch, t.ProbedAt
	v.RecordedEpoch, v.RecordedPrimary = t.RecordedEpoch, t.RecordedPrimary
	v.FailoverInProgress, v.Failover, v.ClusterMembers = t.FailoverInProgress, t.Failover, t.ClusterMembers
	if p, ok := t.Primary(); ok {
		v.Primary = p.Name
	}
	for _, s := range t.Servers {
		sv := ServerView{
			Name: s.Name, Address: s.Address, Region: s.Region, Zone: s.Zone,
			Role: string(s.Role), Up: s.Up, ReadOnly: s.ReadOnly,
			Version: s.Version, Flavor: string(s.Flavor),
			RTTSeconds: s.RTT.Seconds(), MinRTTSeconds: s.MinRTT.Seconds(),
			Replicating: s.Replicating, Source: s.SourceAddress,
			IOThreadRunning: s.IOThreadRunning, SQLThreadRunning: s.SQLThreadRunning,
			ReplicationError: s.ReplicationError,
			GTID:             s.GTIDCurrent, GTIDReceived: s.GTIDReceived,
			RecordedEpoch: s.RecordedEpoch, Fenced: s.Fenced,
			LastError: s.LastError, FailedProbes: s.FailedProbes, DownSince: s.DownSince, ProbedAt: s.ProbedAt,
		}
		if s.Lag >= 0 && s.Replicating {
			lag := s.Lag.Seconds()
			sv.LagSeconds = &lag
		}
		sv.SourceBackend, sv.SourceMismatch = s.Source, sourceMismatch(s, v.Primary)
		v.Servers = append(v.Servers, sv)
	}
	return v
}

// markDrained sets Drained on the servers drained says are.
func (v *TopologyView) markDrained(drained func(name string) bool) {
	for i := range v.Servers {
		v.Servers[i].Drained = drained(v.Servers[i].Name)
	}
}

func newMemberViews(members []health.Member) []MemberView {
	out := make([]MemberView, 0, len(members))
	for _, m := range members {
		mv := MemberView{
			Name: m.Name, Address: m.Address, Self: m.Self, Alive: m.Alive, Fresh: m.Fresh, UpdatedAt: m.UpdatedAt,
			Primary: m.Primary, Epoch: m.Epoch, EpochPrimary: m.EpochPrimary, Failover: m.Failover, HoldingWrites: m.HoldingWrites,
			Agrees: m.Agrees, Disagreements: m.Disagreements, Servers: []MemberServerView{},
		}
		for _, s := range m.Servers {
			mv.Servers = append(mv.Servers, MemberServerView{Name: s.Name, Up: s.Up, Role: string(s.Role), GTID: s.GTID, Epoch: s.Epoch})
		}
		out = append(out, mv)
	}
	return out
}

// sourceMismatch explains a replica whose source is not the primary: its
// reads go elsewhere, which otherwise shows only as an idle replica.
func sourceMismatch(s health.Server, primary string) string {
	switch {
	case !s.Replicating || s.SourceAddress == "" || primary == "" || s.Source == primary:
		return ""
	case s.Source == "":
		return fmt.Sprintf("replicates from %s, which is none of the configured backends (compare backends[].address; host names are resolved): it serves no reads", s.SourceAddress)
	}
	return fmt.Sprintf("replicates from %s, not from the primary %s: it serves no reads", s.Source, primary)
}
