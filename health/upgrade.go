package health

import "fmt"

// HandGossipOver stops this process's gossip member without leaving the
// cluster, so that a new process (switchyard upgrade) binds the same
// address under the same name at once: the peers see one member that
// answered a probe late at worst, never one that left or died, and the
// failover quorum does not change. It returns what starts gossip here
// again when the upgrade is rolled back, or nil without a cluster.
//
// Handing memberlist's sockets over instead was rejected: memberlist binds
// its own UDP and TCP sockets and keeps its state (incarnation, suspicion
// timers) in memory that cannot cross processes either; the new member
// refutes any suspicion with a higher incarnation, which is how memberlist
// handles a restart under the same name.
func (m *Monitor) HandGossipOver() (resume func() error) {
	cl := m.cl.Swap(nil)
	if cl == nil {
		return nil
	}
	if err := cl.Shutdown(); err != nil {
		m.logger.Debug("cluster shutdown for an upgrade", "err", err)
	}
	m.logger.Info("cluster: gossip handed to the new process (no leave)", "member", cl.Name())
	return func() error {
		cc := m.config().Cluster
		if cc == nil {
			return nil
		}
		ncl, err := m.startCluster(*cc)
		if err != nil {
			return fmt.Errorf("health: restart gossip after a rolled-back upgrade: %w", err)
		}
		m.cl.Store(ncl)
		return nil
	}
}

// RecordedEpoch is the newest failover epoch this process knows and the
// primary it names; an upgrade passes it to the new process.
func (m *Monitor) RecordedEpoch() (uint64, string) {
	rec := m.recorded()
	return rec.Epoch, rec.Primary
}

// InheritEpoch records an epoch an old process knew (an upgrade), so the
// new one never routes by an older one before its own probes read it.
func (m *Monitor) InheritEpoch(epoch uint64, primary string) {
	if epoch > 0 {
		m.learnEpoch(epochRecord{Epoch: epoch, Primary: primary}, "the process this one upgraded")
	}
}
