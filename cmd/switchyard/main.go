// Command switchyard is the MySQL proxy binary: flags, config, signals and
// wiring. It holds no logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	configPath := flag.String("config", "", "path to the YAML config file")
	showVersion := flag.Bool("version", false, "print the version and exit")
	pprofOn := flag.Bool("pprof", false, "serve /debug/pprof/ on the admin listener")
	flag.Parse()
	if *showVersion {
		fmt.Println("switchyard", version)
		return
	}
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "usage: switchyard --config FILE")
		os.Exit(2)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchyard: config %s refused:\n%v\n", *configPath, err)
		os.Exit(2)
	}
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *pprofOn, log); err != nil {
		log.Error("switchyard stopped", "err", err)
		os.Exit(1)
	}
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func run(ctx context.Context, cfg config.Config, pprofOn bool, log *slog.Logger) error {
	mon := health.NewMonitor(cfg, log.With("component", "health"))
	defer mon.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return mon.Run(ctx) })

	// Clients see the primary's version in the handshake; wait briefly for the
	// first probe round so that it is known, but start anyway without it.
	select {
	case <-mon.Ready():
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
	}
	ver := ""
	if p, ok := mon.Snapshot().Primary(); ok {
		ver = p.Version
	}
	srv, err := proxy.NewServer(cfg, mon, proxy.HandshakeVersion(ver), log.With("component", "proxy"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	adm := admin.New(mon, pprofOn)
	httpSrv := &http.Server{Addr: cfg.AdminListen, Handler: adm, ReadHeaderTimeout: 5 * time.Second}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		_ = ln.Close()
		return err
	}
	log.Info("switchyard listening", "version", version, "listen", ln.Addr().String(), "admin", adminLn.Addr().String())
	g.Go(func() error { return srv.Serve(ctx, ln) })
	g.Go(func() error {
		if err := httpSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		adm.SetDraining(true)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return httpSrv.Shutdown(shutdownCtx)
	})
	return g.Wait()
}
