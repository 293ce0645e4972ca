package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard/switchyard/config"
)

// TestEveryFileParses: whatever is added here later is at least valid.
func TestEveryFileParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			n++
			if docs := decodeYAML(t, p); len(docs) == 0 {
				t.Errorf("%s: no YAML documents", p)
			}
		case ".json":
			n++
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("found %d deployment files, want the sidecar, the deployment and the dashboard", n)
	}
}

type obj = map[string]any

// decodeYAML returns every document of a (multi-document) YAML file.
func decodeYAML(t *testing.T, p string) []obj {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", p, len(docs)+1, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// get walks a decoded document: get(d, "spec", "template", "spec").
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string { s, _ := get(v, keys...).(string); return s }
func list(v any, keys ...string) []any { l, _ := get(v, keys...).([]any); return l }
func num(v any, keys ...string) (int, bool) {
	n, ok := get(v, keys...).(int)
	return n, ok
}

func port(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// container is one container of a pod template, with what it was found in.
type container struct {
	spec    obj
	sidecar bool // a native sidecar: an init container with restartPolicy Always
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkManifest(t, f) })
	}
}

func checkManifest(t *testing.T, file string) {
	docs := decodeYAML(t, file)
	configs := map[string]config.Config{} // "configmap/key" -> parsed config
	var workloads, services []obj
	for i, d := range docs {
		kind, name := str(d, "kind"), str(d, "metadata", "name")
		if str(d, "apiVersion") == "" || kind == "" || name == "" {
			t.Errorf("document %d lacks apiVersion, kind or metadata.name", i+1)
			continue
		}
		switch kind {
		case "ConfigMap", "Secret":
			data, _ := get(d, "data").(obj)
			for key, v := range data {
				if !strings.HasSuffix(key, ".yaml") {
					continue
				}
				cfg, err := config.Parse([]byte(v.(string)))
				if err != nil {
					t.Errorf("%s %s key %s: switchyard config refused:\n%v", kind, name, key, err)
					continue
				}
				configs[name+"/"+key] = cfg
			}
		case "Deployment", "StatefulSet", "DaemonSet":
			workloads = append(workloads, d)
		case "Service":
			services = append(services, d)
		}
	}
	if len(configs) == 0 || len(workloads) == 0 {
		t.Fatalf("want a ConfigMap with a switchyard config and a workload; got %d configs, %d workloads", len(configs), len(workloads))
	}
	for _, w := range workloads {
		checkWorkload(t, w, configs)
	}
	for _, s := range services {
		checkService(t, s, workloads)
	}
}

func checkWorkload(t *testing.T, w obj, configs map[string]config.Config) {
	name := str(w, "metadata", "name")
	pod := get(w, "spec", "template", "spec")
	sel, _ := get(w, "spec", "selector", "matchLabels").(obj)
	labels, _ := get(w, "spec", "template", "metadata", "labels").(obj)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("%s: selector %s=%v does not match the pod template's labels", name, k, v)
		}
	}
	volumes := map[string]string{} // volume -> ConfigMap or Secret name
	for _, v := range list(pod, "volumes") {
		if cm := str(v, "configMap", "name"); cm != "" {
			volumes[str(v, "name")] = cm
		}
		if s := str(v, "secret", "secretName"); s != "" {
			volumes[str(v, "name")] = s
		}
	}
	var cs []container
	for _, c := range list(pod, "initContainers") {
		cs = append(cs, container{c.(obj), str(c, "restartPolicy") == "Always"})
	}
	for _, c := range list(pod, "containers") {
		cs = append(cs, container{c.(obj), false})
	}

	var proxies []config.Config
	for _, c := range cs {
		if !strings.Contains(str(c.spec, "image"), "switchyard") {
			continue
		}
		cname := name + "/" + str(c.spec, "name")
		cfg, ok := containerConfig(t, cname, c.spec, volumes, configs)
		if !ok {
			continue
		}
		proxies = append(proxies, cfg)
		checkProbes(t, cname, c, cfg)

		if n, ok := num(pod, "terminationGracePeriodSeconds"); !ok ||
			time.Duration(n)*time.Second <= cfg.Shutdown.ReadyDelay+cfg.Shutdown.DrainTimeout {
			t.Errorf("%s: terminationGracePeriodSeconds %d must exceed shutdown.ready_delay + drain_timeout (%s)",
				name, n, cfg.Shutdown.ReadyDelay+cfg.Shutdown.DrainTimeout)
		}
		nonRoot, _ := get(pod, "securityContext", "runAsNonRoot").(bool)
		if cnr, ok := get(c.spec, "securityContext", "runAsNonRoot").(bool); ok {
			nonRoot = cnr
		}
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot is not set", cname)
		}
		if ape, ok := get(c.spec, "securityContext", "allowPrivilegeEscalation").(bool); !ok || ape {
			t.Errorf("%s: set securityContext.allowPrivilegeEscalation: false", cname)
		}
	}
	if len(proxies) != 1 {
		t.Fatalf("%s: want one switchyard container, found %d", name, len(proxies))
	}
	cfg := proxies[0]

	// Application containers in the same pod reach the proxy on its listen
	// address.
	for _, c := range cs {
		if strings.Contains(str(c.spec, "image"), "switchyard") {
			continue
		}
		for _, e := range list(c.spec, "env") {
			v := str(e, "value")
			i := strings.Index(v, "tcp(")
			if i < 0 {
				continue
			}
			addr, _, _ := strings.Cut(v[i+len("tcp("):], ")")
			if addr != cfg.Listen || !config.IsLoopback(addr) {
				t.Errorf("%s: %s DSN points at %s, want the sidecar's loopback listen %s", name, str(e, "name"), addr, cfg.Listen)
			}
		}
	}
}

// containerConfig finds the switchyard config a container reads: its
// --config argument, through a volume mount, to a ConfigMap key.
func containerConfig(t *testing.T, cname string, c obj, volumes map[string]string, configs map[string]config.Config) (config.Config, bool) {
	args := list(c, "args")
	var file string
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			file, _ = args[i+1].(string)
		}
	}
	if file == "" {
		t.Errorf("%s: no --config argument", cname)
		return config.Config{}, false
	}
	for _, m := range list(c, "volumeMounts") {
		if path.Dir(file) != path.Clean(str(m, "mountPath")) {
			continue
		}
		if str(m, "subPath") != "" {
			t.Errorf("%s: the config is mounted with subPath, so edits never reach the pod", cname)
		}
		key := volumes[str(m, "name")] + "/" + path.Base(file)
		cfg, ok := configs[key]
		if !ok {
			t.Errorf("%s: --config %s is %s, which this file does not define", cname, file, key)
		}
		return cfg, ok
	}
	t.Errorf("%s: no volume mounted at %s", cname, path.Dir(file))
	return config.Config{}, false
}

// checkProbes: liveness on /healthz, readiness on /readyz, both on the
// admin port of the config; a fleet member (not a sidecar) must have a
// readiness probe, since that is what takes a draining proxy out of its
// Service.
func checkProbes(t *testing.T, cname string, c container, cfg config.Config) {
	adminPort := port(t, cfg.AdminListen)
	named := map[string]int{}
	declared := false
	for _, p := range list(c.spec, "ports") {
		n, _ := num(p, "containerPort")
		named[str(p, "name")] = n
		declared = declared || n == adminPort
	}
	if !declared {
		t.Errorf("%s: the admin port %d is not among the container ports", cname, adminPort)
	}
	want := map[string][]string{
		"livenessProbe":  {"/healthz"},
		"readinessProbe": {"/readyz"},
		"startupProbe":   {"/healthz", "/readyz"},
	}
	for probe, paths := range want {
		p := get(c.spec, probe)
		if p == nil {
			switch {
			case probe == "livenessProbe", probe == "readinessProbe" && !c.sidecar:
				t.Errorf("%s: no %s", cname, probe)
			}
			continue
		}
		if got := str(p, "httpGet", "path"); !slices.Contains(paths, got) {
			t.Errorf("%s: %s path %q, want %s", cname, probe, got, strings.Join(paths, " or "))
		}
		var got int
		switch v := get(p, "httpGet", "port").(type) {
		case int:
			got = v
		case string:
			got = named[v]
		}
		if got != adminPort {
			t.Errorf("%s: %s port %v, want the admin port %d of admin_listen %s", cname, probe, get(p, "httpGet", "port"), adminPort, cfg.AdminListen)
		}
	}
	if !c.sidecar && config.IsLoopback(cfg.AdminListen) {
		t.Errorf("%s: admin_listen %s is loopback: the kubelet's probes cannot reach it", cname, cfg.AdminListen)
	}
	if !c.sidecar && config.IsLoopback(cfg.Listen) {
		t.Errorf("%s: listen %s is loopback: the Service cannot reach it", cname, cfg.Listen)
	}
}

// checkService: the Service selects a workload of the file, and each target
// port is a port of that workload's containers.
func checkService(t *testing.T, s obj, workloads []obj) {
	name := str(s, "metadata", "name")
	sel, _ := get(s, "spec", "selector").(obj)
	for _, w := range workloads {
		labels, _ := get(w, "spec", "template", "metadata", "labels").(obj)
		match := len(sel) > 0
		for k, v := range sel {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		ports := map[string]bool{}
		pod := get(w, "spec", "template", "spec")
		for _, c := range append(list(pod, "containers"), list(pod, "initContainers")...) {
			for _, p := range list(c, "ports") {
				n, _ := num(p, "containerPort")
				ports[strconv.Itoa(n)], ports[str(p, "name")] = true, true
			}
		}
		for _, p := range list(s, "spec", "ports") {
			target := get(p, "targetPort")
			if target == nil {
				target = get(p, "port")
			}
			key := ""
			switch v := target.(type) {
			case int:
				key = strconv.Itoa(v)
			case string:
				key = v
			}
			if !ports[key] {
				t.Errorf("service %s: targetPort %v is not a container port of %s", name, target, str(w, "metadata", "name"))
			}
		}
		return
	}
	t.Errorf("service %s selects no workload of this file", name)
}

// metricName finds metric names in PromQL.
var metricName = regexp.MustCompile(`\b(?:switchyard|go|process)_[a-z0-9_]+\b`)

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/switchyard-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID, Title string
		Panels     []struct {
			ID      int
			Type    string
			Title   string
			GridPos struct{ X, Y, W, H int }
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard lacks uid, title or panels")
	}
	defined := definedMetrics(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced expression %s", p.Title, tg.Expr)
			}
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used[m] = true
			}
		}
	}
	for m := range used {
		if strings.HasPrefix(m, "go_") || strings.HasPrefix(m, "process_") {
			continue // the Go and process collectors
		}
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && defined[b] {
				base = b
			}
		}
		if !defined[base] {
			t.Errorf("the dashboard queries %s, which no Go source defines", m)
		}
	}
	// The panels the issue asks for.
	for _, m := range []string{
		"switchyard_client_connections", "switchyard_client_connections_refused_total", "switchyard_statements_total",
		"switchyard_statement_duration_seconds_bucket", "switchyard_pool_connections", "switchyard_pool_waits_total",
		"switchyard_backend_up", "switchyard_backend_role", "switchyard_backend_replication_lag_seconds",
		"switchyard_backend_rtt_seconds", "switchyard_failovers_total", "switchyard_failover_duration_seconds_bucket",
		"switchyard_statements_held", "switchyard_classify_cache_hits_total", "switchyard_cluster_members", "switchyard_cluster_members_agreeing",
		"switchyard_relayed_bytes_total", "switchyard_config_reloads_total", "switchyard_config_last_reload_successful",
		"switchyard_build_info", "go_goroutines", "process_resident_memory_bytes",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// definedMetrics collects the switchyard_* names that appear as string
// literals in the repository's non-test Go files: where metrics are defined.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(switchyard_[a-z0-9_]+)"`)
	names := map[string]bool{}
	root := ".."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
