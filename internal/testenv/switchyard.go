package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Switchyard is a real switchyard process started by a test.
type Switchyard struct {
	Addr, AdminAddr string // host:port of the MySQL and admin listeners
	ConfigPath      string
	LogPath         string
	Cmd             *exec.Cmd

	bin    string
	exited chan struct{} // closed when the current Cmd has exited
}

// PID is the process id, for RSS and CPU readings.
func (s *Switchyard) PID() int { return s.Cmd.Process.Pid }

// ProxyConfig returns a config for a switchyard in front of addrs, with
// fresh loopback ports, users app/app, and the extra YAML appended.
func ProxyConfig(tb testing.TB, addrs []string, extra string) (yaml, addr, admin string) {
	tb.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	admin = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: %s\nregion: local\n", addr, admin)
	b.WriteString("users:\n  - {name: app, password: app}\nmonitor: {user: root, password: \"\"}\nbackends:\n")
	for i, a := range addrs {
		fmt.Fprintf(&b, "  - {name: db%d, address: %q, region: local}\n", i+1, a)
	}
	if !strings.Contains(extra, "shutdown:") {
		b.WriteString("shutdown: {ready_delay: 0s}\n") // tests stop proxies at once
	}
	b.WriteString(extra)
	return b.String(), addr, admin
}

// StartSwitchyard starts the -race switchyard binary with the given config
// (from ProxyConfig), waits until it serves a primary (/readyz) or, when
// requireReady is false, until its listener answers, and stops it (SIGTERM,
// then SIGKILL) when the test ends.
func StartSwitchyard(tb testing.TB, yaml, addr, admin string, requireReady bool) *Switchyard {
	tb.Helper()
	return StartSwitchyardBinary(tb, BuildSwitchyard(tb), yaml, addr, admin, requireReady)
}

// StartSwitchyardBinary is StartSwitchyard with a given binary (for
// example one built without -race, for memory measurements).
func StartSwitchyardBinary(tb testing.TB, bin, yaml, addr, admin string, requireReady bool) *Switchyard {
	tb.Helper()
	dir := tb.TempDir()
	s := &Switchyard{
		Addr:       addr,
		AdminAddr:  admin,
		ConfigPath: filepath.Join(dir, "switchyard.yaml"),
		LogPath:    filepath.Join(dir, "switchyard.log"),
		bin:        bin,
	}
	if err := os.WriteFile(s.ConfigPath, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if tb.Failed() {
			if b, err := os.ReadFile(s.LogPath); err == nil {
				tb.Logf("switchyard log:\n%s", tail(b, 4000))
			}
		}
	})
	s.start(tb, requireReady)
	return s
}

// start runs the binary with s's config, appending to its log, and waits
// for it as StartSwitchyard says.
func (s *Switchyard) start(tb testing.TB, requireReady bool) {
	tb.Helper()
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	s.Cmd = exec.Command(s.bin, "--config", s.ConfigPath)
	s.Cmd.Stdout, s.Cmd.Stderr = logFile, logFile
	// The proxy must not outlive the test binary, however that one ends.
	s.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.Cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { _ = s.Cmd.Wait(); logFile.Close(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b, _ := os.ReadFile(s.LogPath)
			tb.Fatalf("switchyard exited at start:\n%s", tail(b, 4000))
		default:
		}
		if requireReady {
			if s.Ready() {
				return
			}
		} else if WaitTCP(s.Addr, 100*time.Millisecond) == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("switchyard at %s did not become ready within 30s", s.Addr)
}

// stop sends sig (SIGKILL after 10s) and waits for the process to exit.
func (s *Switchyard) stop(sig syscall.Signal) {
	if s.exited == nil {
		return
	}
	_ = s.Cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-s.exited
	}
}

// Ready reports whether the admin /readyz answers 200: a primary is served.
func (s *Switchyard) Ready() bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.AdminAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady polls Ready until it holds, failing tb after timeout.
func (s *Switchyard) WaitReady(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !s.Ready() {
		if time.Now().After(deadline) {
			tb.Fatalf("switchyard at %s not ready within %v", s.Addr, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill sends SIGKILL to the process (a crash: no drain) and waits until it is gone.
func (s *Switchyard) Kill(tb testing.TB) {
	tb.Helper()
	if err := s.Cmd.Process.Kill(); err != nil {
		tb.Fatalf("testenv: kill switchyard %d: %v", s.PID(), err)
	}
	<-s.exited
}

// Restart starts the process again after Kill, with the same binary,
// config and ports (its log continues in LogPath), and waits as
// StartSwitchyard does.
func (s *Switchyard) Restart(tb testing.TB, requireReady bool) {
	tb.Helper()
	select {
	case <-s.exited:
	default:
		tb.Fatalf("testenv: restart switchyard %d: still running", s.PID())
	}
	s.start(tb, requireReady)
}

// Proxy starts a switchyard in front of the shared topology.
func Proxy(tb testing.TB, extra string) *Switchyard {
	tb.Helper()
	return Topology(tb).Proxy(tb, extra)
}

// Proxy starts a switchyard (-race) in front of t with the extra YAML and
// waits until it serves a primary.
func (t *Topo) Proxy(tb testing.TB, extra string) *Switchyard {
	tb.Helper()
	yaml, addr, admin := ProxyConfig(tb, t.Addrs(), extra)
	return StartSwitchyard(tb, yaml, addr, admin, true)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var buildPlain = sync.OnceValues(func() (string, error) {
	return buildBinary("switchyard-plain")
})

// BuildSwitchyardPlain builds ./cmd/switchyard without -race, as users run
// it, for tests that measure memory.
func BuildSwitchyardPlain(tb testing.TB) string {
	tb.Helper()
	bin, err := buildPlain()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return bin
}

// ProcStatus reads a field such as VmRSS or VmHWM of /proc/PID/status, in bytes.
func ProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// BuildSwitchyardWith builds ./cmd/switchyard under name with extra go
// build flags (for example -ldflags that set a variable), once per name.
func BuildSwitchyardWith(tb testing.TB, name string, flags ...string) string {
	tb.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if bin, ok := built[name]; ok {
		return bin
	}
	bin, err := buildBinary(name, flags...)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	built[name] = bin
	return bin
}

var (
	builtMu sync.Mutex
	built   = map[string]string{}
)

// Alive tells whether pid runs (a zombie does not): for processes a test
// did not start itself, such as those a switchyard upgrade starts.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// WaitGone polls until pid no longer runs, at most d; false if it still does.
func WaitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// StopPID stops a process the test did not start: SIGTERM, then SIGKILL
// after 10s.
func StopPID(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !WaitGone(pid, 10*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
