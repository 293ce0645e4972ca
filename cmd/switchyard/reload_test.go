package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/config"
)

const baseYAML = `listen: 127.0.0.1:3306
admin_listen: 127.0.0.1:9090
users:
  - {name: app, password: app}
backends:
  - {name: db1, address: 127.0.0.1:3401}
`

// fakeComponent records the configs it is given.
type fakeComponent struct {
	mu   sync.Mutex
	got  []config.Config
	fail error
}

func (f *fakeComponent) Reload(cfg config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, cfg)
	return f.fail
}

func (f *fakeComponent) calls() []config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]config.Config(nil), f.got...)
}

type reloadFixture struct {
	path           string
	rl             *reloader
	m              *metrics
	healthC, proxy *fakeComponent
	token          string
	level          *slog.LevelVar
	logs           *bytes.Buffer
}

func newReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	f := &reloadFixture{path: filepath.Join(t.TempDir(), "switchyard.yaml"), healthC: &fakeComponent{}, proxy: &fakeComponent{},
		level: new(slog.LevelVar), logs: &bytes.Buffer{}}
	f.write(t, baseYAML)
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	_, f.m = newRegistry()
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	f.rl = newReloader(f.path, cfg, log, f.level, f.m, func(s string) { f.token = s },
		reloadTarget{"health", f.healthC}, reloadTarget{"proxy", f.proxy})
	return f
}

func (f *reloadFixture) write(t *testing.T, y string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *reloadFixture) counts() (success, failure, last float64) {
	return testutil.ToFloat64(f.m.reloads.WithLabelValues("success")),
		testutil.ToFloat64(f.m.reloads.WithLabelValues("failure")),
		testutil.ToFloat64(f.m.lastSuccessful)
}

func TestReloadValid(t *testing.T) {
	f := newReloadFixture(t)
	f.write(t, baseYAML+"  - {name: db2, address: 127.0.0.1:3402}\nlog: {level: debug}\nadmin_token: 0123456789abcdef0123\n")
	if err := f.rl.reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, f.logs)
	}
	for name, c := range map[string]*fakeComponent{"health": f.healthC, "proxy": f.proxy} {
		got := c.calls()
		if len(got) != 1 || len(got[0].Backends) != 2 {
			t.Errorf("%s got %d reloads: %+v", name, len(got), got)
		}
	}
	if f.level.Level() != slog.LevelDebug || f.token != "0123456789abcdef0123" {
		t.Errorf("level %v token %q not applied", f.level.Level(), f.token)
	}
	if len(f.rl.current().Backends) != 2 {
		t.Errorf("current config not replaced")
	}
	if s, fl, last := f.counts(); s != 1 || fl != 0 || last != 1 {
		t.Errorf("metrics success=%v failure=%v last=%v", s, fl, last)
	}
}

func TestReloadInvalidChangesNothing(t *testing.T) {
	f := newReloadFixture(t)
	before := f.rl.current()
	f.write(t, baseYAML+"  - {name: db1, address: nowhere}\nlog: {level: loud}\n")
	err := f.rl.reload()
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("reload = %v, want a validation error", err)
	}
	if len(f.healthC.calls())+len(f.proxy.calls()) != 0 {
		t.Errorf("a refused file reached the components")
	}
	if cur := f.rl.current(); len(cur.Backends) != len(before.Backends) || cur.Log != before.Log {
		t.Errorf("running config changed: %+v", cur)
	}
	if s, fl, last := f.counts(); s != 0 || fl != 1 || last != 0 {
		t.Errorf("metrics success=%v failure=%v last=%v", s, fl, last)
	}
	// Every problem is logged, each on its own line, with its line number.
	logs := f.logs.String()
	for _, want := range []string{"line 7: backends[1].name", "line 7: backends[1].address", "line 8: log.level", "running config stays"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	// A good file afterwards sets the gauge back.
	f.write(t, baseYAML)
	if err := f.rl.reload(); err != nil {
		t.Fatal(err)
	}
	if s, fl, last := f.counts(); s != 1 || fl != 1 || last != 1 {
		t.Errorf("after recovery: success=%v failure=%v last=%v", s, fl, last)
	}
}

func TestReloadMissingFile(t *testing.T) {
	f := newReloadFixture(t)
	_ = os.Remove(f.path)
	if err := f.rl.reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if _, fl, last := f.counts(); fl != 1 || last != 0 {
		t.Errorf("failure=%v last=%v", fl, last)
	}
}

func TestReloadNeedsRestart(t *testing.T) {
	f := newReloadFixture(t)
	f.write(t, strings.Replace(baseYAML, "127.0.0.1:3306", "127.0.0.1:3307", 1)+"limits: {max_connections: 5}\n")
	if err := f.rl.reload(); err != nil {
		t.Fatal(err)
	}
	got := f.proxy.calls()[0]
	if got.Listen != "127.0.0.1:3306" || got.Limits.MaxConnections != 5 {
		t.Errorf("applied listen %q max_connections %d; want the running listen and the new limit", got.Listen, got.Limits.MaxConnections)
	}
	if !strings.Contains(f.logs.String(), "needs a restart") || !strings.Contains(f.logs.String(), "field=listen") {
		t.Errorf("restart not logged:\n%s", f.logs)
	}
	// The next reload of the same file warns again: the process still
	// listens on the old address.
	f.logs.Reset()
	_ = f.rl.reload()
	if !strings.Contains(f.logs.String(), "field=listen") {
		t.Errorf("second reload forgot the pending restart:\n%s", f.logs)
	}
}

// TestReloadUnreadableFileChangesNothing: a file the config names (a
// password file, a CA) that cannot be read refuses the reload before any
// component sees it, so none runs the new config while another keeps the
// old.
func TestReloadUnreadableFileChangesNothing(t *testing.T) {
	for name, extra := range map[string]string{
		"password file": "  - {name: other, password_file: /nonexistent/switchyard-password}\n",
		"backend CA":    "backend_tls: {mode: verify_ca, ca: /nonexistent/switchyard-ca.pem}\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := newReloadFixture(t)
			y := baseYAML + "log: {level: debug}\n"
			if strings.HasPrefix(extra, "  -") {
				y = strings.Replace(baseYAML, "backends:", extra+"backends:", 1) + "log: {level: debug}\n"
			} else {
				y += extra
			}
			f.write(t, y)
			if err := f.rl.reload(); err == nil || !strings.Contains(err.Error(), "nonexistent") {
				t.Fatalf("reload = %v, want an error naming the file", err)
			}
			if n := len(f.healthC.calls()) + len(f.proxy.calls()); n != 0 {
				t.Errorf("components got the config %d times", n)
			}
			if f.rl.current().Log.Level == "debug" {
				t.Error("the running config took the refused file")
			}
			if _, fl, _ := f.counts(); fl != 1 {
				t.Errorf("failures = %v, want 1", fl)
			}
		})
	}
}

func TestReloadComponentError(t *testing.T) {
	f := newReloadFixture(t)
	f.proxy.fail = errors.New("tls: cannot read cert")
	if err := f.rl.reload(); err == nil || !strings.Contains(err.Error(), "proxy: tls") {
		t.Fatalf("reload = %v", err)
	}
	if len(f.healthC.calls()) != 1 {
		t.Errorf("health not reloaded")
	}
	if _, fl, last := f.counts(); fl != 1 || last != 0 {
		t.Errorf("failure=%v last=%v", fl, last)
	}
}

func TestReloadSerialized(t *testing.T) {
	f := newReloadFixture(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = f.rl.reload() })
	}
	wg.Wait()
	if s, _, _ := f.counts(); s != 8 || len(f.proxy.calls()) != 8 {
		t.Errorf("success=%v proxy calls=%d", s, len(f.proxy.calls()))
	}
}
