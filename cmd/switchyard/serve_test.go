package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/config"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is serve running in this process, against backends that do not
// answer: what is tested is the wiring, not the proxying.
type instance struct {
	path             string
	proxy, adminAddr string
	sigs             chan os.Signal
	done             chan struct{} // closed when serve returned, err set
	err              error
	logs             *syncBuffer
}

// hermeticYAML has two unreachable backends (port 1 refuses connections).
func hermeticYAML(extra string) string {
	return "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nusers: [{name: app, password: app}]\n" +
		"backends:\n  - {name: db1, address: 127.0.0.1:1}\n  - {name: db2, address: 127.0.0.2:1}\n" +
		"health: {interval: 100ms, timeout: 500ms}\n" + extra
}

func startServe(t *testing.T, yaml string) *instance {
	t.Helper()
	in := &instance{
		path: filepath.Join(t.TempDir(), "switchyard.yaml"),
		sigs: make(chan os.Signal, 4),
		done: make(chan struct{}),
		logs: &syncBuffer{},
	}
	in.write(t, yaml)
	cfg, err := config.Load(in.path)
	if err != nil {
		t.Fatal(err)
	}
	level := new(slog.LevelVar)
	addrs := make(chan [2]string, 1)
	go func() {
		defer close(in.done)
		in.err = serve(params{
			configPath: in.path, cfg: cfg, level: level, signals: in.sigs,
			log: newLogger(in.logs, "text", level),
			listening: func(p, a net.Addr) {
				addrs <- [2]string{p.String(), a.String()}
			},
		})
	}()
	select {
	case a := <-addrs:
		in.proxy, in.adminAddr = a[0], a[1]
	case <-in.done:
		t.Fatalf("serve returned at start: %v\n%s", in.err, in.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30s\n%s", in.logs)
	}
	t.Cleanup(func() {
		select {
		case <-in.done:
			return
		default:
		}
		in.sigs <- syscall.SIGTERM
		in.sigs <- syscall.SIGTERM
		select {
		case <-in.done:
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	return in
}

func (in *instance) write(t *testing.T, y string) {
	t.Helper()
	if err := os.WriteFile(in.path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// httpClient bounds every test request.
var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeHermetic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	in := startServe(t, hermeticYAML("shutdown: {ready_delay: 1s, drain_timeout: 1s}\n"))
	base := "http://" + in.adminAddr

	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "no primary known") {
		t.Errorf("/readyz = %d %q, want 503 without a primary", code, body)
	}
	if code, body := get(t, base+"/topology"); code != 200 || !strings.Contains(body, `"name": "db2"`) {
		t.Errorf("/topology = %d %s", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{"switchyard_build_info{", "switchyard_config_last_reload_successful 1", "go_goroutines ", "process_start_time_seconds "} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q (code %d)", want, code)
		}
	}

	metric := func(line string) func() bool {
		return func() bool { _, b := get(t, base+"/metrics"); return strings.Contains(b, line+"\n") }
	}

	// A broken file is refused and counted.
	in.write(t, hermeticYAML("listen: nowhere\n"))
	in.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "a failed reload", metric(`switchyard_config_reloads_total{result="failure"} 1`))
	if _, b := get(t, base+"/metrics"); !strings.Contains(b, "switchyard_config_last_reload_successful 0\n") {
		t.Errorf("last reload not marked failed")
	}
	if !strings.Contains(in.logs.String(), "set twice") {
		t.Errorf("problem not logged:\n%s", in.logs)
	}

	// A good one is counted, over HTTP too.
	in.write(t, hermeticYAML("shutdown: {ready_delay: 1s, drain_timeout: 1s}\n"))
	in.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "a good reload", metric(`switchyard_config_reloads_total{result="success"} 1`))
	resp, err := httpClient.Post(base+"/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /reload: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, 10*time.Second, "the HTTP reload", metric(`switchyard_config_reloads_total{result="success"} 2`))

	// SIGTERM: /readyz says draining while the listener still accepts.
	in.sigs <- syscall.SIGTERM
	eventually(t, 5*time.Second, "/readyz to say draining", func() bool {
		_, b := get(t, base+"/readyz")
		return strings.Contains(b, "fail: draining")
	})
	c, err := net.DialTimeout("tcp", in.proxy, time.Second)
	if err != nil {
		t.Fatalf("listener closed before ready_delay passed: %v", err)
	}
	c.Close()
	select {
	case <-in.done:
		if in.err != nil {
			t.Fatalf("serve: %v", in.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not return\n%s", in.logs)
	}
	if c, err := net.DialTimeout("tcp", in.proxy, time.Second); err == nil {
		c.Close()
		t.Errorf("proxy listener still open after serve returned")
	}
	if c, err := net.DialTimeout("tcp", in.adminAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("admin listener still open after serve returned")
	}
}

func TestServeSecondSignalSkipsWaits(t *testing.T) {
	in := startServe(t, hermeticYAML("shutdown: {ready_delay: 1m, drain_timeout: 1m}\n"))
	start := time.Now()
	in.sigs <- syscall.SIGTERM
	eventually(t, 5*time.Second, "draining", func() bool {
		_, b := get(t, "http://"+in.adminAddr+"/readyz")
		return strings.Contains(b, "draining")
	})
	in.sigs <- syscall.SIGINT
	select {
	case <-in.done:
		if in.err != nil {
			t.Fatal(in.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("a second signal did not cut the drain short\n%s", in.logs)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stop took %s", d)
	}
}

func TestServeRefusesBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "c.yaml")
	y := strings.Replace(hermeticYAML(""), "admin_listen: 127.0.0.1:0", "admin_listen: "+ln.Addr().String(), 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	level := new(slog.LevelVar)
	var logs strings.Builder
	err = serve(params{configPath: path, cfg: cfg, level: level, log: newLogger(&logs, "text", level),
		signals: make(chan os.Signal)})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.HasPrefix(err.Error(), "admin_listen: "+ln.Addr().String()) {
		t.Errorf("serve = %v, want address already in use, naming admin_listen", err)
	}
	// It binds before it probes: a clash says nothing about the backends.
	if strings.Contains(logs.String(), "backend") {
		t.Errorf("the backends were probed before the clash was found:\n%s", logs.String())
	}
}
