package testenv

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvTopology names an already running topology:
// "primaryAddr,replica1Addr,replica2Addr". EnvTopologyDir optionally gives
// its BASEDIR (for status and logs); `make test` sets both.
const (
	EnvTopology    = "SWITCHYARD_TEST_TOPOLOGY"
	EnvTopologyDir = "SWITCHYARD_TEST_TOPOLOGY_DIR"
)

// scriptTimeout bounds one run of scripts/topology.sh. A start on a fresh
// machine includes apt-get install mariadb-server.
const scriptTimeout = 5 * time.Minute

// Topo is a primary and two GTID replicas. Primary, Replica1 and Replica2 are
// the roles at start (db1, db2, db3 under BaseDir); failover tests change them.
type Topo struct {
	Primary, Replica1, Replica2 string // host:port
	BaseDir                     string // "" when given by SWITCHYARD_TEST_TOPOLOGY without a dir

	shared bool // from Topology: other tests and packages use it too
}

// Addrs returns the three server addresses, primary first.
func (t *Topo) Addrs() []string { return []string{t.Primary, t.Replica1, t.Replica2} }

var (
	sharedMu  sync.Mutex
	shared    *Topo
	sharedErr error
)

// Topology returns the topology shared by the tests of this process: the one
// named by SWITCHYARD_TEST_TOPOLOGY, or one started on first use. Do not kill
// its servers or change their roles; use NewTopology for that.
func Topology(tb testing.TB) *Topo {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = sharedTopology()
		if shared != nil {
			shared.shared = true
		}
	}
	if sharedErr != nil {
		tb.Fatalf("testenv: %v", sharedErr)
	}
	return shared
}

func sharedTopology() (*Topo, error) {
	if v := os.Getenv(EnvTopology); v != "" {
		addrs := strings.Split(v, ",")
		if len(addrs) != 3 {
			return nil, fmt.Errorf("%s=%q: want primary,replica1,replica2", EnvTopology, v)
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(strings.TrimSpace(a)); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", EnvTopology, v, err)
			}
		}
		return &Topo{
			Primary:  strings.TrimSpace(addrs[0]),
			Replica1: strings.TrimSpace(addrs[1]),
			Replica2: strings.TrimSpace(addrs[2]),
			BaseDir:  os.Getenv(EnvTopologyDir),
		}, nil
	}
	wd, err := workDir()
	if err != nil {
		return nil, err
	}
	return startTopology(filepath.Join(wd, "topo"))
}

var privateSeq struct {
	sync.Mutex
	n int
}

// NewTopology starts a topology that belongs to tb alone, on free ports, and
// stops it when tb ends. Tests that kill servers or fail over use it.
func NewTopology(tb testing.TB) *Topo {
	tb.Helper()
	wd, err := workDir()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	privateSeq.Lock()
	privateSeq.n++
	dir := filepath.Join(wd, fmt.Sprintf("topo-%d", privateSeq.n))
	privateSeq.Unlock()
	t, err := startTopology(dir)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if out, err := runScript("stop", dir); err != nil {
			tb.Errorf("testenv: stop %s: %v\n%s", dir, err, out)
			return
		}
		if !tb.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	return t
}

// startTopology runs `topology.sh start` on free ports, retrying with other
// ports when one was taken between picking and binding.
func startTopology(dir string) (*Topo, error) {
	var last error
	for range 3 {
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		args := []string{"start", dir}
		for _, p := range ports {
			args = append(args, strconv.Itoa(p))
		}
		out, err := runScript(args...)
		if err == nil {
			return &Topo{
				Primary:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
				Replica1: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
				Replica2: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
				BaseDir:  dir,
			}, nil
		}
		last = fmt.Errorf("scripts/topology.sh %s: %w\n%s", strings.Join(args, " "), err, out)
		if !bytes.Contains(out, []byte("in use")) && !bytes.Contains(out, []byte("as another server")) {
			break
		}
	}
	return nil, last
}

func runScript(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "scripts", "topology.sh"), args...)
	cmd.Dir = RepoRoot()
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// serverPID returns the pid of the running server at addr (one of t's
// addresses), checked against its command line. It needs BaseDir.
func (t *Topo) serverPID(tb testing.TB, addr string) int {
	tb.Helper()
	i := t.index(tb, addr)
	pidFile := filepath.Join(t.BaseDir, fmt.Sprintf("db%d", i+1), "mariadbd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		tb.Fatalf("testenv: server %s: %v", addr, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("testenv: server %s: pid file %s: %v", addr, pidFile, err)
	}
	cnf := filepath.Join(t.BaseDir, fmt.Sprintf("db%d", i+1), "my.cnf")
	if !ourServer(pid, cnf) {
		tb.Fatalf("testenv: server %s: pid %d is not the server of %s", addr, pid, cnf)
	}
	return pid
}

// Freeze stops the server at addr with SIGSTOP, as when its host hangs: its
// connections stay open and the kernel still acknowledges what is sent to
// it, but nothing answers. It is thawed (SIGCONT) when the test ends, so
// that the topology can be stopped. It needs BaseDir: use it on a
// NewTopology.
func (t *Topo) Freeze(tb testing.TB, addr string) {
	tb.Helper()
	pid := t.serverPID(tb, addr)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		tb.Fatalf("testenv: freeze %s (pid %d): %v", addr, pid, err)
	}
	tb.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// Kill sends SIGKILL to the server at addr (one of t's addresses) and waits
// until it is gone. It needs BaseDir: use it on a NewTopology.
func (t *Topo) Kill(tb testing.TB, addr string) {
	tb.Helper()
	pid := t.serverPID(tb, addr)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		tb.Fatalf("testenv: kill %s (pid %d): %v", addr, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: %s (pid %d) still runs 10s after SIGKILL", addr, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ourServer reports whether pid is a live (not zombie) process started with
// cnf as its defaults file.
func ourServer(pid int, cnf string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("--defaults-file="+cnf+"\x00"))
}

// running reports whether pid has not finished exiting. The command line
// empties early in exit, and a multithreaded process's leader turns zombie
// while its other threads still hold the sockets, so: not a zombie, or a
// zombie that still has other threads.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		state, ok := strings.CutPrefix(line, "State:")
		if !ok {
			continue
		}
		state = strings.TrimSpace(state)
		if state == "" {
			return false
		}
		if state[0] != 'Z' && state[0] != 'X' {
			return true
		}
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		return err == nil && len(tasks) > 1
	}
	return false
}

// Start starts the servers of t that are not running, keeping their data,
// and waits until all three answer. It needs BaseDir.
func (t *Topo) Start(tb testing.TB) {
	tb.Helper()
	if t.BaseDir == "" || t.shared {
		tb.Fatalf("testenv: Start is for a NewTopology")
	}
	args := []string{"start", t.BaseDir}
	for _, a := range t.Addrs() {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		args = append(args, port)
	}
	if out, err := runScript(args...); err != nil {
		tb.Fatalf("testenv: scripts/topology.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (t *Topo) index(tb testing.TB, addr string) int {
	tb.Helper()
	if t.shared {
		tb.Fatalf("testenv: %s belongs to the shared topology: kill servers of a NewTopology", addr)
	}
	if t.BaseDir == "" {
		tb.Fatalf("testenv: %s: this topology has no BaseDir (set %s or use NewTopology)", addr, EnvTopologyDir)
	}
	for i, a := range t.Addrs() {
		if a == addr {
			return i
		}
	}
	tb.Fatalf("testenv: %s is not a server of this topology (%v)", addr, t.Addrs())
	return -1
}

// DSN returns a go-sql-driver/mysql DSN for addr that allows LOAD DATA LOCAL
// INFILE from any file and multi-statement queries.
func DSN(addr, user, pass, db string) string {
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = pass
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.DBName = db
	cfg.AllowAllFiles = true
	cfg.MultiStatements = true
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// DB opens a handle on addr (a server or a proxy), pings it within 10s and
// closes it when tb ends.
func (t *Topo) DB(tb testing.TB, addr, user, pass, db string) *sql.DB {
	tb.Helper()
	h, err := sql.Open("mysql", DSN(addr, user, pass, db))
	if err != nil {
		tb.Fatalf("testenv: open %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.PingContext(ctx); err != nil {
		tb.Fatalf("testenv: ping %s as %s: %v", addr, user, err)
	}
	return h
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ports, err := freePorts(1)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return ports[0]
}

// freePorts holds every listener open until all n are picked, so the n
// ports differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WaitTCP polls addr until it accepts a TCP connection or timeout passes.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var repoRoot = sync.OnceValue(func() string {
	if dir, err := os.Getwd(); err == nil {
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && bytes.Contains(b, []byte("module github.com/switchyard/switchyard\n")) {
				return dir
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	// Not under the repo (a test binary run elsewhere): this file's location.
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
})

// RepoRoot returns the directory that holds the repository's go.mod.
func RepoRoot() string { return repoRoot() }

var buildSwitchyard = sync.OnceValues(func() (string, error) {
	return buildBinary("switchyard", "-race")
})

// buildBinary builds ./cmd/switchyard into the work dir under name, with
// extra go build flags.
func buildBinary(name string, flags ...string) (string, error) {
	wd, err := workDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(wd, "bin", name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/switchyard")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// BuildSwitchyard builds ./cmd/switchyard with -race once per process and
// returns the binary's path.
func BuildSwitchyard(tb testing.TB) string {
	tb.Helper()
	bin, err := buildSwitchyard()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return bin
}

// ---- the per-process work directory and its watchdog ----

// keepName is a file in the work dir that tells the watchdog to keep the dir.
const keepName = "keep"

var workDir = sync.OnceValues(func() (string, error) {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	name = regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "_")
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-%s-%d", name, os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := startWatchdog(dir); err != nil {
		return "", fmt.Errorf("testenv: watchdog: %w", err)
	}
	return dir, nil
})

// watchdogW is the write end of the watchdog's stdin. Only this process
// holds it (os.Pipe sets close-on-exec); when the process exits, however it
// exits, the watchdog reads EOF and cleans up.
var watchdogW *os.File

func startWatchdog(dir string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	const script = `cat >/dev/null
for d in "$2"/topo*; do [ -d "$d" ] && "$1" stop "$d"; done
[ -e "$2/` + keepName + `" ] || rm -rf "$2"`
	cmd := exec.Command("/bin/sh", "-c", script, "testenv-watchdog",
		filepath.Join(RepoRoot(), "scripts", "topology.sh"), dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // survives a Ctrl-C to the test's process group
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	r.Close()
	_ = cmd.Process.Release()
	watchdogW = w
	return nil
}

// Main runs the tests, then stops the topologies this process started and
// removes its work directory (kept, with the servers' logs, when tests
// failed). Use it as TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the os.Exit, for a TestMain that checks more after the
// tests (goleak.Find, say): it returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	if err := cleanup(code != 0); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: cleanup: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func cleanup(keep bool) error {
	if watchdogW == nil { // nothing was started
		return nil
	}
	dir, err := workDir()
	if err != nil {
		return err
	}
	topos, _ := filepath.Glob(filepath.Join(dir, "topo*"))
	var errs []error
	for _, d := range topos {
		if out, err := runScript("stop", d); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w\n%s", d, err, out))
		}
	}
	if keep || len(errs) > 0 {
		// Keep what explains a failure (configs, error logs), not the bulk.
		// Datadirs only once their servers are stopped.
		bulk := []string{filepath.Join(dir, "bin")}
		if len(errs) == 0 {
			datadirs, _ := filepath.Glob(filepath.Join(dir, "topo*", "db*", "data"))
			bulk = append(bulk, datadirs...)
		}
		for _, d := range bulk {
			_ = os.RemoveAll(d)
		}
		_ = os.WriteFile(filepath.Join(dir, keepName), nil, 0o644)
		fmt.Fprintf(os.Stderr, "testenv: kept %s (server logs in */db*/error.log)\n", dir)
	} else if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// EnableSemiSync turns on MariaDB semi-synchronous replication from primary
// to replicas (servers of t, as root) and waits until every replica is
// connected as a semi-sync client: from then on no commit is acknowledged
// before a replica has it, so killing the primary loses no acknowledged
// write. A primary left without semi-sync replicas falls back to
// asynchronous commits after 2s (rpl_semi_sync_master_timeout).
func (t *Topo) EnableSemiSync(tb testing.TB, ctx context.Context, primary string, replicas ...string) {
	tb.Helper()
	exec := func(addr string, stmts ...string) {
		db := t.DB(tb, addr, "root", "", "")
		defer db.Close()
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				tb.Fatalf("testenv: %s: %s: %v", addr, s, err)
			}
		}
	}
	for _, a := range append([]string{primary}, replicas...) {
		exec(a, "SET GLOBAL rpl_semi_sync_master_timeout = 2000")
	}
	exec(primary, "SET GLOBAL rpl_semi_sync_master_enabled = 1")
	for _, r := range replicas {
		exec(r, "SET GLOBAL rpl_semi_sync_slave_enabled = 1", "STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD")
	}
	db := t.DB(tb, primary, "root", "", "")
	defer db.Close()
	for {
		var name string
		var n int
		err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'").Scan(&name, &n)
		if err == nil && n == len(replicas) {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("testenv: %d of %d semi-sync replicas connected to %s (err %v)", n, len(replicas), primary, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
