package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy"
	"github.com/switchyard/switchyard/proxy/handoff"
)

// params is what serve needs from main; tests fill it directly.
type params struct {
	configPath string
	cfg        config.Config // loaded and valid
	pprof      bool
	log        *slog.Logger
	level      *slog.LevelVar
	// signals delivers SIGHUP (reload) and SIGTERM/SIGINT (stop; a second
	// one skips the remaining waits).
	signals <-chan os.Signal
	// listening, when set, is called once both listeners are bound.
	listening func(proxyAddr, adminAddr net.Addr)
}

// firstProbeWait bounds how long start waits for the first probe round:
// clients see the primary's version in the handshake, so it is worth a short
// wait, but the proxy starts without it.
const firstProbeWait = 3 * time.Second

// inheritProbeWait is firstProbeWait for a process started by an upgrade
// (below readyWait, the old process's patience).
const inheritProbeWait = 20 * time.Second

// serve runs the proxy until a stop signal, then stops gracefully:
//
//  1. /readyz fails (draining), so load balancers stop sending;
//  2. shutdown.ready_delay passes while the listener still accepts, for the
//     load balancers to notice;
//  3. the proxy stops accepting and gives open sessions
//     shutdown.drain_timeout to finish their transactions (proxy Drain);
//  4. what is left is closed, the health monitor and the admin listener
//     stop, and serve returns.
//
// A second stop signal skips what is left of 2 and 3. A component that fails
// (a listener error) stops the process the same way, without the waits, and
// its error is returned.
func serve(p params) error {
	log := p.log
	reg, m := newRegistry()

	// Signals: reloads go to the loop below; the first stop starts the
	// graceful stop, the second cuts it short.
	stopCtx, stop := context.WithCancel(context.Background())
	defer stop()
	forceCtx, force := context.WithCancel(context.Background())
	defer force()
	hup := make(chan struct{}, 1)
	usr2 := make(chan struct{}, 1)
	sigDone := make(chan struct{})
	defer close(sigDone)
	go func() {
		stops := 0
		for {
			select {
			case <-sigDone:
				return
			case s := <-p.signals:
				if s == syscall.SIGHUP {
					select {
					case hup <- struct{}{}:
					default: // a reload is pending already; it will read the latest file
					}
					continue
				}
				if s == syscall.SIGUSR2 {
					select {
					case usr2 <- struct{}{}:
					default: // an upgrade is starting already
					}
					continue
				}
				stops++
				if stops == 1 {
					log.Info("stop requested; draining", "signal", s.String())
					stop()
				} else {
					log.Warn("second stop signal; skipping the remaining drain", "signal", s.String())
					force()
				}
			}
		}
	}()

	// Bind first: a second instance on a taken port must fail before it
	// probes (and logs about) the backends, naming the field to change.
	// A process started by an upgrade takes the old one's sockets instead.
	hc, err := handoff.Inherited()
	if err != nil {
		return err
	}
	var ln, adminLn net.Listener
	var inherited handoff.Msg
	if hc != nil {
		ln, adminLn, inherited, err = inherit(hc, log)
		if err != nil {
			_ = hc.Close()
			return err
		}
	} else if ln, adminLn, err = listen(p.cfg); err != nil {
		return err
	}
	closeListeners := func() { _ = ln.Close(); _ = adminLn.Close() }

	mon, err := health.NewMonitor(p.cfg, log)
	if err != nil {
		closeListeners()
		return err
	}
	if err := mon.Register(reg); err != nil {
		mon.Close()
		closeListeners()
		return fmt.Errorf("health metrics: %w", err)
	}
	monCtx, stopMon := context.WithCancel(context.Background())
	defer stopMon()
	g, gctx := errgroup.WithContext(context.Background())
	g.Go(func() error { return mon.Run(monCtx) })

	// A process started by an upgrade waits longer and does not start
	// without its first round: the old process serves meanwhile, and a
	// new one that answered /readyz "no primary known" would fail it.
	probeWait := firstProbeWait
	if hc != nil {
		probeWait = inheritProbeWait
	}
	select {
	case <-mon.Ready():
	case <-time.After(probeWait):
		if hc != nil {
			closeListeners()
			stopMon()
			_ = g.Wait()
			return fmt.Errorf("upgrade: the first probe round did not finish in %v; the old process keeps serving", probeWait)
		}
		log.Warn("first probe round not finished; starting anyway", "waited", firstProbeWait)
	case <-stopCtx.Done():
	}
	if hc != nil && stopCtx.Err() == nil {
		if err := awaitPrimary(stopCtx, mon, inheritProbeWait); err != nil {
			closeListeners()
			stopMon()
			_ = g.Wait()
			return err
		}
	}
	if stopCtx.Err() != nil { // stopped before serving anything
		closeListeners()
		stopMon()
		return g.Wait()
	}
	ver := ""
	if pr, ok := mon.Snapshot().Primary(); ok {
		ver = pr.Version
	}
	srv, err := proxy.NewServer(p.cfg, mon, proxy.HandshakeVersion(ver), log.With("component", "proxy"))
	if err != nil {
		closeListeners()
		stopMon()
		_ = g.Wait()
		return err
	}
	if err := srv.Register(reg); err != nil {
		closeListeners()
		stopMon()
		_ = g.Wait()
		return fmt.Errorf("proxy metrics: %w", err)
	}
	if hc != nil {
		mon.InheritEpoch(inherited.Epoch, inherited.EpochPrimary)
		srv.SetNextID(inherited.NextID)
	}
	var rl *reloader
	upg := newUpgrader(log.With("component", "upgrade"), srv, mon, ln, adminLn,
		func() config.Config { return rl.current() }, hc == nil)
	if err := upg.Register(reg); err != nil {
		closeListeners()
		stopMon()
		_ = g.Wait()
		return fmt.Errorf("upgrade metrics: %w", err)
	}
	drainer := backendDrainer(srv, mon)
	logMissing(log, drainer)
	if drainer != nil {
		if err := reg.Register(admin.NewDrainCollector(mon, drainer)); err != nil {
			closeListeners()
			stopMon()
			_ = g.Wait()
			return fmt.Errorf("admin metrics: %w", err)
		}
	}

	adm := admin.New(admin.Options{
		Topology:      mon,
		Cluster:       mon,
		Token:         p.cfg.AdminToken,
		Pprof:         p.pprof,
		Metrics:       reg,
		Digests:       proxyDigests{srv},
		Switchover:    mon,
		Drainer:       drainer,
		ResetCooldown: mon.ResetCooldown,
		Reload:        func() error { return rl.reload() },
		Upgrader:      upg,
		Log:           log.With("component", "admin"),
	})
	rl = newReloader(p.configPath, p.cfg, log.With("component", "reload"), p.level, m, adm.SetToken,
		reloadTarget{"health", mon},
		reloadTarget{"proxy", srv},
	)
	httpSrv := &http.Server{
		Handler:           adm,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.With("component", "admin").Handler(), slog.LevelDebug),
	}

	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	proxyDone := make(chan struct{})
	g.Go(func() error {
		defer close(proxyDone)
		return srv.Serve(serveCtx, ln)
	})
	g.Go(func() error {
		if err := httpSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	log.Info("switchyard listening", "version", version, "listen", ln.Addr().String(),
		"admin", adminLn.Addr().String(), "backends", len(p.cfg.Backends))
	if p.listening != nil {
		p.listening(ln.Addr(), adminLn.Addr())
	}
	if hc != nil {
		g.Go(func() error { adoptSessions(serveCtx, hc, srv, log.With("component", "upgrade"), upg); return nil })
	}

	graceful, upgraded := true, false
loop:
	for {
		select {
		case <-hup:
			_ = rl.reload() // logs its own outcome
		case <-usr2:
			go func() { _, _ = upg.Upgrade(context.Background(), "") }() // logs its own outcome
		case <-upg.Committed():
			upgraded = true
			break loop
		case <-stopCtx.Done():
			break loop
		case <-gctx.Done():
			log.Error("a listener failed; stopping")
			graceful = false
			break loop
		}
	}

	cfg := rl.current()
	if upgraded {
		if err := finishUpgraded(upgradedParts{log: log, cfg: cfg, srv: srv, child: upg.child, httpSrv: httpSrv, forceCtx: forceCtx,
			stopServe: stopServe, proxyDone: proxyDone, stopMon: stopMon, g: g}); err != nil {
			return err
		}
		return &errUpgraded{child: upg.child, keep: upg.first && cfg.Upgrade.KeepParent, stop: stopCtx.Err() != nil}
	}

	// 1. Fail readiness first.
	adm.SetDraining(true)
	log.Info("draining: /readyz now fails", "ready_delay", cfg.Shutdown.ReadyDelay,
		"drain_timeout", cfg.Shutdown.DrainTimeout, "sessions", srv.ActiveConnections())

	// 2. Let load balancers notice, still accepting meanwhile.
	if graceful {
		wait(forceCtx, cfg.Shutdown.ReadyDelay)
	}

	// 3. Stop accepting; open sessions finish their transactions.
	if graceful {
		log.Info("refusing new connections; waiting for open sessions to finish",
			"sessions", srv.ActiveConnections(), "drain_timeout", cfg.Shutdown.DrainTimeout)
		drainCtx, cancel := context.WithTimeout(forceCtx, cfg.Shutdown.DrainTimeout)
		srv.Drain(drainCtx)
		cancel()
	}

	// 4. Close what is left, then the monitor and the admin listener, which
	// served /readyz and /metrics until now.
	stopServe()
	select {
	case <-proxyDone:
	case <-forceCtx.Done():
	}
	stopMon()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	return g.Wait()
}

// listen binds the client and admin listeners, and names the config field
// of the one that could not be bound.
func listen(cfg config.Config) (net.Listener, net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %s: %w; is another switchyard (or another server) using it? stop it or change listen", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("admin_listen: %s: %w; is another switchyard using it? stop it or change admin_listen", cfg.AdminListen, err)
	}
	return ln, adminLn, nil
}

// wait returns after d, or earlier when ctx is done.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// upgradedParts is what finishUpgraded stops.
type upgradedParts struct {
	log       *slog.Logger
	cfg       config.Config
	srv       *proxy.Server
	child     *handoff.Child
	httpSrv   *http.Server
	forceCtx  context.Context
	stopServe context.CancelFunc
	proxyDone <-chan struct{}
	stopMon   context.CancelFunc
	g         *errgroup.Group
}

// finishUpgraded ends the old process after an upgrade: the new one
// serves the listeners and /readyz (which never failed), so this one
// closes its copy of the admin socket at once. Sessions that were still
// mid-command get upgrade.window more to reach their next command and
// move; those that stayed (TLS, refused, still busy) may end on their own
// for upgrade.window; what is left is drained as a graceful stop does, and
// the process exits. The gossip member was handed over: nothing leaves
// the cluster.
func finishUpgraded(p upgradedParts) error {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = p.httpSrv.Shutdown(shutdownCtx)
	cancel()
	moveCtx, cancelMove := context.WithTimeout(p.forceCtx, p.cfg.Upgrade.Window)
	late := p.srv.HandOff(moveCtx, p.child)
	cancelMove()
	p.srv.EndHandOff()
	if err := p.child.Finish(); err != nil {
		p.log.Warn("upgrade: the new process did not confirm the end of the handoff", "err", err)
	}
	left := p.srv.ActiveConnections()
	p.log.Info("upgrade: handoff over", "moved", late.Moved, "tls_staying", late.TLS, "failed_staying", late.Failed, "still_busy", late.Left)
	p.log.Info("upgraded: waiting for the sessions that stayed in this process", "sessions", left, "window", p.cfg.Upgrade.Window)
	deadline := time.Now().Add(p.cfg.Upgrade.Window)
	for p.srv.ActiveConnections() > 0 && time.Now().Before(deadline) && p.forceCtx.Err() == nil {
		wait(p.forceCtx, 100*time.Millisecond)
	}
	drainCtx, cancelDrain := context.WithTimeout(p.forceCtx, p.cfg.Shutdown.DrainTimeout)
	p.srv.Drain(drainCtx)
	cancelDrain()
	p.stopServe()
	select {
	case <-p.proxyDone:
	case <-p.forceCtx.Done():
	}
	p.stopMon()
	p.log.Info("upgraded: this process exits; the new one serves")
	return p.g.Wait()
}

// awaitPrimary waits until the monitor knows a primary, at most d: a
// process started by an upgrade takes nothing over before, so that
// /readyz, answered by either process meanwhile, never fails.
func awaitPrimary(ctx context.Context, mon *health.Monitor, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, ok := mon.Snapshot().Primary(); ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("upgrade: no primary known after %v; the old process keeps serving", d)
		}
		wait(ctx, 50*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
