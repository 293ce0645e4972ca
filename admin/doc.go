// Package admin owns Switchyard's operator HTTP API on admin_listen, and the
// client and tables that `switchyard status` prints from it.
//
// Endpoints (the contract load balancers, Prometheus and operators rely on):
//
//	GET  /healthz                  200 while the process serves HTTP (liveness)
//	GET  /readyz                   200 when a primary is known and the proxy is not
//	                               draining, else 503 (load balancer target check)
//	GET  /metrics                  Prometheus exposition of the injected registry
//	GET  /topology                 JSON: servers, roles, lag, RTT, GTID, epoch, and the
//	                               cluster's members, each with its view and whether it
//	                               agrees with this proxy's
//	GET  /digests?limit=N          JSON: busiest statements by digest
//	POST /switchover?target=NAME   planned switchover to the replica NAME: 200 when the
//	                               primary changed (warnings: what is left to finish),
//	                               409 refused or rolled back with nothing changed,
//	                               500 failed after changing servers (changed: what)
//	POST /backends/NAME/drain      stop sending new work to backend NAME
//	POST /backends/NAME/undrain    undo drain
//	POST /failover/reset-cooldown  lift failover.cooldown (health's ResetCooldown)
//	POST /reload                   same as SIGHUP: reload the config file
//	GET  /debug/pprof/             when enabled
//
// Every error, unknown paths (404) and methods (405) included, is JSON:
// {"error": "..."}.
//
// Authentication: when a token is set (config admin_token, required by config
// validation when admin_listen is not loopback), every endpoint but /healthz,
// /readyz and /metrics needs "Authorization: Bearer TOKEN". The three open
// endpoints are what probes and scrapers call, which seldom carry
// credentials, and they reveal no addresses, statements or users; everything
// else can show the topology or change it.
//
// The package defines the small interfaces it consumes (Topology, Cluster,
// DigestSource, Switcher, BackendDrainer); cmd wires the proxy and health
// implementations in. An optional capability left nil answers 501.
//
// Concurrency: a Handler serves requests concurrently. SetDraining and
// SetToken may be called from any goroutine at any time. The handlers hold no
// locks of their own; the components behind the interfaces must be safe for
// concurrent use. The package starts no goroutines. Its one metric,
// switchyard_backend_drained, is a collector (NewDrainCollector) that cmd
// registers: see metrics.go.
package admin
