package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy"
	"github.com/switchyard/switchyard/proxy/handoff"
)

// switchyard upgrade (POST /upgrade) and SIGUSR2 start the new binary and
// hand it this process's listeners and sessions (proxy/handoff's package
// doc has the conversation). Every failure before the new process is
// ready leaves this one serving as if nothing happened: it never stopped
// accepting, and /readyz never failed.

// How long the new process may take to say hello (it has only read its
// config) and to be ready (its first probe round, at most firstProbeWait).
const (
	helloWait = 20 * time.Second
	readyWait = 30 * time.Second
)

// idMargin skips connection ids the old process may still give between
// telling the new one where to continue and pausing its accepts.
const idMargin = 1 << 16

// errUpgradeRunning refuses a second upgrade while one runs or after one
// succeeded (this process is on its way out).
var errUpgradeRunning = errors.New("an upgrade of this process is already under way or done")

// upgrader runs upgrades in the old process. Upgrade may be called from
// the admin handler and the signal loop; one runs at a time.
type upgrader struct {
	log         *slog.Logger
	exe         string   // this binary's path when the process started
	args        []string // this process's arguments, for the new one
	srv         *proxy.Server
	mon         *health.Monitor
	ln, adminLn net.Listener
	cfg         func() config.Config

	running   sync.Mutex
	committed chan struct{}  // closed when a new process took over
	child     *handoff.Child // the new process, once committed
	first     bool           // this process was not started by an upgrade

	mu   sync.Mutex
	last *admin.UpgradeResponse

	total *prometheus.CounterVec
	busy  prometheus.Gauge
}

func newUpgrader(log *slog.Logger, srv *proxy.Server, mon *health.Monitor, ln, adminLn net.Listener, cfg func() config.Config, first bool) *upgrader {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return &upgrader{
		log: log, exe: exe, args: os.Args[1:], srv: srv, mon: mon, ln: ln, adminLn: adminLn, cfg: cfg, first: first,
		committed: make(chan struct{}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_upgrades_total",
			Help: "Upgrades this process ran (switchyard upgrade, SIGUSR2), by result: ok (the new process took over) or failed (rolled back).",
		}, []string{"result"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_upgrade_in_progress", Help: "1 while this process hands its listeners and sessions to a new process.",
		}),
	}
}

// Register registers the upgrade metrics.
func (u *upgrader) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{u.total, u.busy} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	u.total.WithLabelValues("ok")
	u.total.WithLabelValues("failed")
	return nil
}

// UpgradeStatus is the last upgrade's outcome.
func (u *upgrader) UpgradeStatus() *admin.UpgradeResponse {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		return nil
	}
	v := *u.last
	return &v
}

func (u *upgrader) setStatus(r admin.UpgradeResponse) {
	u.mu.Lock()
	u.last = &r
	u.mu.Unlock()
}

func (u *upgrader) keepParent() bool { return u.cfg().Upgrade.KeepParent }

// Committed is closed once a new process took over: serve then lets the
// sessions that stayed end and exits.
func (u *upgrader) Committed() <-chan struct{} { return u.committed }

// Upgrade starts binary ("" = this process's own path, which may hold a
// new file by now) and hands everything over; see admin.Upgrader.
func (u *upgrader) Upgrade(ctx context.Context, binary string) (admin.UpgradeResponse, error) {
	if binary == "" {
		binary = u.exe
	}
	res := admin.UpgradeResponse{Result: "running", Binary: binary, OldPID: os.Getpid(), Started: time.Now()}
	if !u.running.TryLock() {
		return res, errUpgradeRunning
	}
	select {
	case <-u.committed:
		u.running.Unlock()
		return res, errUpgradeRunning
	default:
	}
	u.busy.Set(1)
	u.setStatus(res)
	log := u.log.With("binary", binary)
	log.Info("upgrade: starting the new process")
	err := u.run(ctx, binary, &res)
	res.Seconds = time.Since(res.Started).Seconds()
	u.busy.Set(0)
	if err != nil {
		res.Result, res.Error = "failed", err.Error()
		u.total.WithLabelValues("failed").Inc()
		log.Error("upgrade failed; this process keeps serving", "err", err, "seconds", res.Seconds)
		u.setStatus(res)
		u.running.Unlock()
		return res, err
	}
	res.Result = "ok"
	u.total.WithLabelValues("ok").Inc()
	log.Info("upgrade done: the new process serves", "new_pid", res.NewPID, "moved", res.Moved,
		"tls_staying", res.TLS, "failed_staying", res.Failed, "left", res.Left, "seconds", res.Seconds)
	u.setStatus(res)
	close(u.committed) // running stays locked: no second upgrade from here
	return res, nil
}

// run is one upgrade; an error means this process still serves everything
// the new one did not adopt.
func (u *upgrader) run(ctx context.Context, binary string, res *admin.UpgradeResponse) error {
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("new binary: %w", err)
	}
	if u.first && u.keepParent() {
		// Before the new process can upgrade in turn and leave its own
		// successor an orphan: that one must become this process's child.
		if err := becomeSubreaper(); err != nil {
			u.log.Warn("upgrade: cannot follow later upgrades (PR_SET_CHILD_SUBREAPER)", "err", err)
		}
	}
	child, err := handoff.Start(binary, u.args)
	if err != nil {
		return err
	}
	res.NewPID = child.PID()
	hello, files, err := child.Recv(helloWait)
	handoff.CloseAll(files)
	if err != nil || hello.Kind != handoff.KindHello {
		child.Kill()
		return fmt.Errorf("the new process (pid %d) did not start the handoff: %v (%s)", res.NewPID, errOr(err, hello.Kind), child.ExitStatus())
	}
	if hello.Version != proxy.StateVersion {
		why := fmt.Sprintf("session state version %q, this process writes %q", hello.Version, proxy.StateVersion)
		_ = child.Send(handoff.Msg{Kind: handoff.KindReject, Err: why})
		child.Kill()
		return fmt.Errorf("the new binary reads %s: it cannot take these sessions over", why)
	}
	lnFile, err := u.ln.(*net.TCPListener).File()
	if err != nil {
		child.Kill()
		return fmt.Errorf("listener: %w", err)
	}
	defer lnFile.Close()
	adminFile, err := u.adminLn.(*net.TCPListener).File()
	if err != nil {
		child.Kill()
		return fmt.Errorf("admin listener: %w", err)
	}
	defer adminFile.Close()

	// Gossip goes first: the new process binds the same address as it starts.
	resumeGossip := u.mon.HandGossipOver()
	rollback := func() {
		child.Kill()
		if resumeGossip != nil {
			if err := resumeGossip(); err != nil {
				u.log.Error("upgrade rollback: gossip did not restart; restart this process", "err", err)
			}
		}
	}
	epoch, primary := u.mon.RecordedEpoch()
	if err := child.Send(handoff.Msg{Kind: handoff.KindListeners, Epoch: epoch, EpochPrimary: primary,
		NextID: u.srv.NextID() + idMargin, Files: []string{"listen", "admin_listen"}}, lnFile, adminFile); err != nil {
		rollback()
		return err
	}
	ready, files, err := child.Recv(readyWait)
	handoff.CloseAll(files)
	if err != nil || ready.Kind != handoff.KindReady {
		rollback()
		return fmt.Errorf("the new process (pid %d) did not get ready: %v %s (%s)", res.NewPID, errOr(err, ready.Kind), ready.Err, child.ExitStatus())
	}

	// Both accept on the listening socket now; this one stops.
	u.srv.PauseAccepting()
	// Not the caller's context: a CLI that gives up waiting must not
	// leave the handoff half done.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg().Upgrade.Window)
	hr := u.srv.HandOff(wctx, child)
	cancel()
	res.Moved, res.TLS, res.Failed, res.Left = hr.Moved, hr.TLS, hr.Failed, hr.Left
	if err := child.Ping(); err != nil {
		u.srv.EndHandOff()
		// The new process died while sessions moved: those it adopted are
		// lost with it; this one takes the listener back.
		if ln, lerr := net.FileListener(lnFile); lerr == nil {
			u.srv.ResumeAccepting(ln)
		} else {
			u.log.Error("upgrade rollback: cannot accept again; restart this process", "err", lerr)
		}
		rollback()
		return fmt.Errorf("the new process (pid %d) failed during the handoff (%d sessions had moved): %w (%s)", res.NewPID, hr.Moved, err, child.ExitStatus())
	}
	u.child = child
	return nil
}

func errOr(err error, kind string) string {
	if err != nil {
		return err.Error()
	}
	return "got " + kind
}

// inherit is the new process's side before it serves: it says hello and
// receives the listening sockets. A refusal (state version) returns an
// error: the process exits, the old one keeps serving.
func inherit(hc *handoff.Conn, log *slog.Logger) (ln, adminLn net.Listener, m handoff.Msg, err error) {
	if err := hc.Send(handoff.Msg{Kind: handoff.KindHello, Version: proxy.StateVersion, PID: os.Getpid()}); err != nil {
		return nil, nil, m, err
	}
	m, files, err := hc.Recv(readyWait)
	if err != nil {
		return nil, nil, m, err
	}
	defer handoff.CloseAll(files)
	if m.Kind == handoff.KindReject {
		return nil, nil, m, fmt.Errorf("upgrade refused by the running process: %s", m.Err)
	}
	if m.Kind != handoff.KindListeners || len(files) != 2 {
		return nil, nil, m, fmt.Errorf("upgrade: expected the listeners, got %s with %d sockets", m.Kind, len(files))
	}
	if ln, err = net.FileListener(files[0]); err != nil {
		return nil, nil, m, fmt.Errorf("upgrade: listen socket: %w", err)
	}
	if adminLn, err = net.FileListener(files[1]); err != nil {
		_ = ln.Close()
		return nil, nil, m, fmt.Errorf("upgrade: admin_listen socket: %w", err)
	}
	log.Info("upgrade: took over the listening sockets", "listen", ln.Addr().String(), "admin", adminLn.Addr().String())
	return ln, adminLn, m, nil
}

// adoptSessions is the new process's side once it serves: it says ready,
// then adopts each session the old process sends until done.
func adoptSessions(ctx context.Context, hc *handoff.Conn, srv *proxy.Server, log *slog.Logger, upg *upgrader) {
	started, oldPID := time.Now(), os.Getppid()
	defer hc.Close()
	if err := hc.Send(handoff.Msg{Kind: handoff.KindReady}); err != nil {
		log.Error("upgrade: ready not sent", "err", err)
		return
	}
	adopted, refused := 0, 0
	for {
		m, files, err := hc.Recv(0)
		if err != nil {
			log.Warn("upgrade: the old process went away before done", "err", err, "adopted", adopted)
			return
		}
		switch m.Kind {
		case handoff.KindSession:
			reply := handoff.Msg{Kind: handoff.KindAck, ID: m.ID}
			if err := srv.Adopt(ctx, m.Session, files); err != nil {
				refused++
				reply = handoff.Msg{Kind: handoff.KindNack, ID: m.ID, Err: err.Error()}
				log.Warn("upgrade: session refused; it stays in the old process", "conn_id", m.ID, "err", err)
			} else {
				adopted++
			}
			if err := hc.Send(reply); err != nil {
				log.Error("upgrade: answer not sent", "err", err)
				return
			}
		case handoff.KindPing:
			handoff.CloseAll(files)
			if err := hc.Send(handoff.Msg{Kind: handoff.KindAck}); err != nil {
				log.Error("upgrade: answer not sent", "err", err)
				return
			}
		case handoff.KindDone:
			handoff.CloseAll(files)
			_ = hc.Send(handoff.Msg{Kind: handoff.KindAck})
			log.Info("upgrade: handoff complete", "adopted", adopted, "refused", refused)
			// /topology shows where this process came from.
			upg.setStatus(admin.UpgradeResponse{Result: "ok", OldPID: oldPID, NewPID: os.Getpid(), Started: started,
				Seconds: time.Since(started).Seconds(), Moved: adopted, Failed: refused})
			return
		default:
			handoff.CloseAll(files)
			log.Warn("upgrade: unexpected message", "kind", m.Kind)
		}
	}
}

// upgradeMain is `switchyard upgrade`: it asks the running instance to
// upgrade and reports the outcome, not just that it asked.
func upgradeMain(args []string, stdout, stderr io.Writer) int {
	var binary string
	c, pos, code := actionFlags("upgrade", "[--binary PATH]", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&binary, "binary", "", "the new switchyard binary (default: the running one's path, which may hold a new file)")
	})
	if code != 0 || c == nil {
		return max(code, 0)
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: switchyard upgrade [--binary PATH] [--admin HOST:PORT] [--token TOKEN]")
		return 2
	}
	if binary != "" && !filepath.IsAbs(binary) {
		// The running process resolves it, from its own directory.
		if abs, err := filepath.Abs(binary); err == nil {
			binary = abs
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.Upgrade(ctx, binary)
	if err != nil {
		fmt.Fprintln(stderr, "switchyard upgrade:", err)
		return 1
	}
	fmt.Fprintf(stdout, "upgrade done in %.1fs: pid %d serves (was %d); %d sessions moved", res.Seconds, res.NewPID, res.OldPID, res.Moved)
	if res.Left > 0 {
		fmt.Fprintf(stdout, "; %d mid-command (each moves at its next command, within upgrade.window)", res.Left)
	}
	if res.TLS+res.Failed > 0 {
		fmt.Fprintf(stdout, "; %d stay in the old process until they end (%d TLS, %d failed to move)", res.TLS+res.Failed, res.TLS, res.Failed)
	}
	fmt.Fprintln(stdout)
	return 0
}

// installBinaryMain is `switchyard install-binary PATH`: it copies this
// binary to PATH (written beside it, then renamed over it, so that a
// process starting PATH never runs half a file). It is how an image with no
// shell (distroless) puts its binary on a volume for `switchyard upgrade
// --binary PATH` in another container of the pod.
func installBinaryMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: switchyard install-binary PATH")
		return 2
	}
	if err := installBinary(args[0]); err != nil {
		fmt.Fprintln(stderr, "switchyard install-binary:", err)
		return 1
	}
	fmt.Fprintf(stdout, "installed %s (switchyard %s)\n", args[0], version)
	return 0
}

func installBinary(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".switchyard-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}
