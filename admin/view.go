package admin

import (
	"time"

	"github.com/switchyard/switchyard/health"
)

// TopologyView is the body of GET /topology: the health snapshot in stable
// JSON, durations in seconds. It holds no credentials: nothing in a
// health.Topology does, and the view copies fields one by one so that a
// field added to health later is not published by accident.
type TopologyView struct {
	Epoch    uint64    `json:"epoch"`
	Primary  string    `json:"primary"` // name of the primary; "" when none is known
	ProbedAt time.Time `json:"probed_at,omitzero"`
	Draining bool      `json:"draining"` // this proxy is shutting down

	// RecordedEpoch is the newest promotion epoch recorded in the
	// databases or heard by gossip, and RecordedPrimary the server it
	// names.
	RecordedEpoch      uint64 `json:"recorded_epoch"`
	RecordedPrimary    string `json:"recorded_primary,omitempty"`
	FailoverInProgress bool   `json:"failover_in_progress"` // writes are held
	Failover           string `json:"failover,omitempty"`   // this proxy's failover state and why
	ClusterMembers     int    `json:"cluster_members"`      // proxies with fresh views, this one included

	Servers []ServerView `json:"servers"`
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
	// LagSeconds is null when the lag is unknown or the server does not
	// replicate.
	LagSeconds *float64 `json:"lag_seconds"`

	Replicating      bool   `json:"replicating"`
	Source           string `json:"source,omitempty"` // host:port it replicates from
	IOThreadRunning  bool   `json:"io_thread_running"`
	SQLThreadRunning bool   `json:"sql_thread_running"`
	ReplicationError string `json:"replication_error,omitempty"`

	GTID         string `json:"gtid"`                    // executed GTID set or position
	GTIDReceived string `json:"gtid_received,omitempty"` // what a replica has received

	RecordedEpoch uint64 `json:"recorded_epoch"` // this server's copy of the promotion epoch
	Fenced        bool   `json:"fenced"`         // writable, but a newer epoch names another primary

	LastError    string    `json:"last_error,omitempty"`
	FailedProbes int       `json:"failed_probes"`
	DownSince    time.Time `json:"down_since,omitzero"`
	ProbedAt     time.Time `json:"probed_at,omitzero"`
}

// NewTopologyView converts a snapshot. A nil snapshot gives an empty view.
func NewTopologyView(t *health.Topology) TopologyView {
	v := TopologyView{Servers: []ServerView{}}
	if t == nil {
		return v
	}
	v.Epoch, v.ProbedAt = t.Epoch, t.ProbedAt
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
			RTTSeconds:  s.RTT.Seconds(),
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
		v.Servers = append(v.Servers, sv)
	}
	return v
}
