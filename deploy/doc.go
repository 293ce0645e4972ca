// Package deploy holds deployment examples, not code: Kubernetes manifests
// for a sidecar and for a fleet behind a Service (kubernetes/), and a
// Grafana dashboard for the metrics (grafana/). deploy_test.go parses every
// file here and checks it against the code: the embedded configs pass
// config.Parse, the probes hit /readyz and /healthz on the config's admin
// port, and every metric the dashboard queries is defined in the source.
package deploy
