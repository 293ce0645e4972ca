package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/router"
	"github.com/switchyard/switchyard/router/classify"
)

// Metrics exported by the proxy (registered by Server.Register):
//
//	switchyard_client_connections                     gauge    open client connections
//	switchyard_client_connections_accepted_total      counter  connections that completed the handshake
//	switchyard_client_connections_refused_total       counter  {reason: max_connections, host_blocked, auth_delay_full, handshake, draining}
//	switchyard_statements_total                       counter  {route, role, result}
//	switchyard_statement_duration_seconds             histogram {role}
//	switchyard_pins_total                             counter  {reason}
//	switchyard_statements_held_total                  counter  statements held while no primary was known
//	switchyard_statements_held                        gauge    statements held now
//	switchyard_backend_connections_lost_total         counter  backend connections that failed mid-command
//	switchyard_pool_connections                       gauge    {backend, state: in_use, idle}
//	switchyard_pool_waits_total                       counter  {backend} borrows that had to wait
//	switchyard_pool_dials_total                       counter  {backend}
//	switchyard_pool_wait_seconds                      histogram borrows that waited
//	switchyard_backend_active_connections             gauge    {backend} commands running now (pool.max_active_per_backend counts them)
//	switchyard_backend_queue_length                   gauge    {backend} borrows queued now for a turn on the backend
//	switchyard_backend_queue_waits_total              counter  {backend} borrows that queued
//	switchyard_backend_queue_timeouts_total           counter  {backend} borrows that gave up after pool.wait_timeout
//	switchyard_backend_queue_wait_seconds             histogram {backend} how long queued borrows waited
//	switchyard_relayed_bytes_total                    counter  result bytes relayed to clients
//	switchyard_classify_cache_hits_total / _misses_total counter
//	switchyard_statements_timed_out_total             counter  {action: kill_query, close} statements past limits.query_timeout
//	switchyard_statements_ended_on_former_primary_total counter statements still running on a primary when another was promoted
//	switchyard_statements_ended_on_down_replica_total counter statements still running on a replica that stopped answering
//	switchyard_reads_retried_total                    counter  reads sent again after their server failed before answering
//	switchyard_consistent_reads_total                 counter  {how: known, pipelined, redirected, separate} reads that had to see earlier writes, on a replica
//	switchyard_replica_writes_refused_total           counter  statements a replica connection refused with 1792 (a routing bug)
//	switchyard_auth_failures_total                    counter  {command: handshake, change_user} wrong credentials (toward max_auth_failures)
//	switchyard_client_handshakes_abandoned_total      counter  {reason: closed, timeout, tls, malformed, proxy_header} ended before a credential; not failures
//	switchyard_auth_delayed_connections               gauge    connections waiting before their greeting after failed logins
//	switchyard_upgrade_sessions_total                 counter  {result: moved, adopted, refused, failed, tls_stayed} sessions an upgrade handed over (or not)
//	switchyard_hints_invalid_total                    counter  statements with a hint item that could not be read (ignored)
type metrics struct {
	clients    prometheus.Gauge
	accepted   prometheus.Counter
	refused    *prometheus.CounterVec
	statements *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	pins       *prometheus.CounterVec
	heldTotal  prometheus.Counter
	lost       prometheus.Counter
	relayed    prometheus.Counter
	poolWait   prometheus.Histogram
	queueWait  *prometheus.HistogramVec
	timedOut   *prometheus.CounterVec

	formerPrimaryAborts prometheus.Counter
	downReplicaAborts   prometheus.Counter
	readsRetried        prometheus.Counter
	consistentReadsVec  *prometheus.CounterVec
	consistentReads     [readHows]prometheus.Counter // by readKnown…, pre-resolved
	pipelinedVec        *prometheus.CounterVec
	pipelined           [pipeResults]prometheus.Counter // by pipeAnswered…, pre-resolved
	pipeStalls          prometheus.Counter
	replicaWriteRefused prometheus.Counter
	hintsInvalid        prometheus.Counter
	upgradeSessions     *prometheus.CounterVec

	// Pre-resolved children for the hot path: no label hashing per statement.
	byRoute   map[routeKey]prometheus.Counter
	duration2 [2]prometheus.Observer // primary, replica
}

type routeKey struct {
	reason router.Reason
	role   int // 0 primary, 1 replica
	failed bool
}

var reasons = []router.Reason{
	router.ReasonWrite, router.ReasonNoSplit, router.ReasonHintPrimary, router.ReasonConsistency,
	router.ReasonReplica, router.ReasonReplicaWait, router.ReasonNoReplica, router.ReasonPrimaryRoom, router.ReasonReadOnlyTx,
	router.ReasonSessionState, router.ReasonTransaction, router.ReasonPinned, router.ReasonInTransaction,
}

var roleNames = [2]string{"primary", "replica"}

func newMetrics() *metrics {
	m := &metrics{
		upgradeSessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_upgrade_sessions_total",
			Help: "Client sessions an upgrade handed over: moved (old process), adopted (new process), refused by the new process, failed to move, or tls_stayed (finished in the old process).",
		}, []string{"result"}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_client_connections", Help: "Client connections open now.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_client_connections_accepted_total", Help: "Client connections that completed the handshake.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_client_connections_refused_total", Help: "Client connections refused, by reason.",
		}, []string{"reason"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_statements_total", Help: "Statements by routing reason, backend role and result.",
		}, []string{"route", "role", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_statement_duration_seconds",
			Help:    "Statement latency as the proxy saw it, from the command's arrival to the end of its response.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"role"}),
		pins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_pins_total", Help: "Sessions pinned to their backend connection, by reason.",
		}, []string{"reason"}),
		heldTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_statements_held_total", Help: "Statements held while no primary was known (during a failover).",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_backend_connections_lost_total", Help: "Backend connections that failed during a command.",
		}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_relayed_bytes_total", Help: "Response bytes relayed from backends to clients.",
		}),
		poolWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchyard_pool_wait_seconds",
			Help:    "How long borrows that found every backend connection busy waited.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_backend_queue_wait_seconds",
			Help:    "How long borrows queued for a turn on a backend (pool.max_active_per_backend) waited, whether they got it or timed out.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"backend"}),
		timedOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_statements_timed_out_total",
			Help: "Statements that ran past limits.query_timeout, by what was done: kill_query, then close if the server did not end it.",
		}, []string{"action"}),
		formerPrimaryAborts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_statements_ended_on_former_primary_total",
			Help: "Statements still running on a primary when another server was promoted, whose backend connections were closed (the client is told the outcome is unknown).",
		}),
		downReplicaAborts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_statements_ended_on_down_replica_total",
			Help: "Statements still running on a replica that answered no probe for failover.confirm_after, whose backend connections were closed.",
		}),
		readsRetried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_reads_retried_total",
			Help: "Reads whose connection failed before any of the answer reached the client, sent again to the server the router chose next.",
		}),
		replicaWriteRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_replica_writes_refused_total",
			Help: "Statements that a replica connection refused with 1792 (it runs SET SESSION TRANSACTION READ ONLY): a statement that writes was routed to a replica, a routing bug worth reporting.",
		}),
		consistentReadsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_consistent_reads_total",
			Help: "Reads that had to see earlier writes (consistency session or global) routed to a replica, by how: known (the replica was known to have applied them: no wait), pipelined (its wait went out with the read, one round trip), redirected (the wait timed out; the primary answered), separate (a wait of its own round trip, for commands that cannot carry one).",
		}, []string{"how"}),
		pipelinedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_pipelined_reads_total",
			Help: "Reads sent on a pipelined connection (pool.pipeline_connections), by result: answered (the client got the answer), rerun (the answer was not a plain result set: an error, warnings or a big result; the read ran again on a connection of its own), failed (the connection failed or stalled first; the read ran again on a connection of its own).",
		}, []string{"result"}),
		pipeStalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_pipeline_stalls_total",
			Help: "Pipelined connections closed because the read at the head of the line waited for its own answer more than 5 times the quick bound (pool.pipeline_quick, or under load 4 times the average read); its statement shape is demoted.",
		}),
		hintsInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_hints_invalid_total",
			Help: "Statements with a switchyard hint item that could not be read (a misspelling), which was ignored.",
		}),
		byRoute: make(map[routeKey]prometheus.Counter),
	}
	for _, r := range reasons {
		for role := range 2 {
			for _, failed := range []bool{false, true} {
				result := "ok"
				if failed {
					result = "error"
				}
				m.byRoute[routeKey{r, role, failed}] = m.statements.WithLabelValues(string(r), roleNames[role], result)
			}
		}
	}
	for role := range 2 {
		m.duration2[role] = m.duration.WithLabelValues(roleNames[role])
	}
	for how, name := range readHowNames {
		m.consistentReads[how] = m.consistentReadsVec.WithLabelValues(name)
	}
	for result, name := range pipeResultNames {
		m.pipelined[result] = m.pipelinedVec.WithLabelValues(name)
	}
	m.timedOut.WithLabelValues("kill_query")
	m.timedOut.WithLabelValues("close")
	return m
}

// Register registers the proxy's metrics on reg.
func (s *Server) Register(reg prometheus.Registerer) error {
	m := s.metrics
	cs := []prometheus.Collector{m.clients, m.accepted, m.refused, m.statements, m.duration, m.pins, m.heldTotal, m.lost, m.relayed, m.poolWait, m.queueWait, m.timedOut, m.formerPrimaryAborts, m.downReplicaAborts, m.readsRetried, m.consistentReadsVec, m.pipelinedVec, m.pipeStalls, m.replicaWriteRefused, m.hintsInvalid, m.upgradeSessions,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchyard_statements_held", Help: "Statements held now while no primary is known.",
		}, func() float64 { return float64(s.holding.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchyard_pipelined_connections", Help: "Pipelined connections open now (up to pool.pipeline_connections per replica, user, dialect and database).",
		}, func() float64 { return float64(s.pipes.open.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchyard_classify_cache_hits_total", Help: "Statement classifications answered by the digest cache.",
		}, func() float64 { h, _ := s.classifier.Stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchyard_classify_cache_misses_total", Help: "Statement classifications that had to parse.",
		}, func() float64 { _, miss := s.classifier.Stats(); return float64(miss) }),
		poolCollector{s.pools},
	}
	cs = append(cs, s.guard.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// countStatement records one statement's route, role, result and latency.
func (m *metrics) countStatement(reason router.Reason, replica, failed bool, seconds float64) {
	role := 0
	if replica {
		role = 1
	}
	if c := m.byRoute[routeKey{reason, role, failed}]; c != nil {
		c.Inc()
	}
	m.duration2[role].Observe(seconds)
}

// queueObserver returns what records how long each borrow queued in one
// backend's gate. The histogram's child is looked up once: at hundreds of
// clients most commands queue.
func (m *metrics) queueObserver(backend string) func(waited time.Duration, granted bool) {
	h := m.queueWait.WithLabelValues(backend)
	return func(waited time.Duration, _ bool) { h.Observe(waited.Seconds()) }
}

// countPins counts each newly pinned reason.
func (m *metrics) countPins(added uint16) {
	for bit := uint16(1); bit != 0; bit <<= 1 {
		if added&bit == 0 {
			continue
		}
		name := classify.Pin(bit).String()
		switch bit {
		case pinConnectionID:
			name = "connection_id"
		case pinServerState:
			name = "server_state"
		case pinSessionStatus:
			name = "session_status"
		}
		m.pins.WithLabelValues(name).Inc()
	}
}

// poolCollector reads the pools' counters at scrape time.
type poolCollector struct{ p *pools }

var (
	poolConnsDesc = prometheus.NewDesc("switchyard_pool_connections", "Backend connections in the pools, by backend and state.", []string{"backend", "state"}, nil)
	poolWaitsDesc = prometheus.NewDesc("switchyard_pool_waits_total", "Borrows that waited for a free connection.", []string{"backend"}, nil)
	poolDialsDesc = prometheus.NewDesc("switchyard_pool_dials_total", "Backend connections opened.", []string{"backend"}, nil)

	gateActiveDesc   = prometheus.NewDesc("switchyard_backend_active_connections", "Commands running on a backend now over all users (a connection held between commands does not count), which pool.max_active_per_backend limits.", []string{"backend"}, nil)
	gateQueueDesc    = prometheus.NewDesc("switchyard_backend_queue_length", "Borrows queued now for a turn on a backend (pool.max_active_per_backend reached).", []string{"backend"}, nil)
	gateWaitsDesc    = prometheus.NewDesc("switchyard_backend_queue_waits_total", "Borrows that queued for a turn on a backend.", []string{"backend"}, nil)
	gateTimeoutsDesc = prometheus.NewDesc("switchyard_backend_queue_timeouts_total", "Borrows that queued for pool.wait_timeout without getting a turn on a backend (the client got error 1429).", []string{"backend"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolWaitsDesc
	ch <- poolDialsDesc
	ch <- gateActiveDesc
	ch <- gateQueueDesc
	ch <- gateWaitsDesc
	ch <- gateTimeoutsDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	type agg struct {
		inUse, idle  int
		waits, dials uint64
	}
	by := map[string]*agg{}
	for k, pool := range c.p.all() {
		a := by[k.Name]
		if a == nil {
			a = &agg{}
			by[k.Name] = a
		}
		inUse, idle, waits, dials := pool.Stats()
		a.inUse += inUse
		a.idle += idle
		a.waits += waits
		a.dials += dials
	}
	for name, a := range by {
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(a.inUse), name, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(a.idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(a.waits), name)
		ch <- prometheus.MustNewConstMetric(poolDialsDesc, prometheus.CounterValue, float64(a.dials), name)
	}
	for name, g := range *c.p.gates.Load() {
		st := g.Stats()
		ch <- prometheus.MustNewConstMetric(gateActiveDesc, prometheus.GaugeValue, float64(st.Running), name)
		ch <- prometheus.MustNewConstMetric(gateQueueDesc, prometheus.GaugeValue, float64(st.Queued), name)
		ch <- prometheus.MustNewConstMetric(gateWaitsDesc, prometheus.CounterValue, float64(st.Waits), name)
		ch <- prometheus.MustNewConstMetric(gateTimeoutsDesc, prometheus.CounterValue, float64(st.Timeouts), name)
	}
}

// How a read that had to see earlier writes was served on a replica
// (switchyard_consistent_reads_total{how}).
const (
	readKnown      = iota // the replica was known to have applied them
	readPipelined         // its wait went out with it
	readRedirected        // the wait timed out: the primary answered
	readSeparate          // a wait of its own round trip
	readHows
)

var readHowNames = [readHows]string{"known", "pipelined", "redirected", "separate"}

// What became of a pipelined read (switchyard_pipelined_reads_total).
const (
	pipeAnswered = iota
	pipeRerun
	pipeFailed
	pipeResults
)

var pipeResultNames = [pipeResults]string{"answered", "rerun", "failed"}
