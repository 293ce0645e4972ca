// Command switchyard is the MySQL proxy binary: flags, config, signals and
// wiring. It holds no logic of its own.
//
//	switchyard --config FILE [--log-format text|json] [--pprof]
//	switchyard --version
//	switchyard status [--admin HOST:PORT] [--token T] [--digests N]
//	switchyard switchover --to NAME | drain NAME [--undo] | reset-cooldown   (actions.go)
//	switchyard upgrade [--binary PATH] | install-binary PATH   (upgrade.go)
//
// Signals: SIGHUP reloads the config file (see reload.go); SIGTERM or SIGINT
// stops gracefully (see serve.go), and a second one skips the waits;
// SIGUSR2 upgrades in place (see upgrade.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard/switchyard/config"
)

// subcommands talk to a running instance's admin API.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"status":         statusMain,
	"switchover":     switchoverMain,
	"drain":          drainMain,
	"reset-cooldown": resetCooldownMain,
	"upgrade":        upgradeMain,
	"install-binary": installBinaryMain,
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() { os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr)) }

// realMain runs the command line args and returns the exit code: 0 on a
// clean stop, 1 when serving failed, 2 for a usage or config problem.
func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("switchyard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the YAML config file")
	showVersion := fs.Bool("version", false, "print the version and exit")
	pprofOn := fs.Bool("pprof", false, "serve /debug/pprof/ on the admin listener")
	logFormat := fs.String("log-format", "", "text or json; overrides log.format of the config")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n  switchyard --config FILE [--log-format text|json] [--pprof]\n"+
			"  switchyard --version\n  switchyard status [--admin HOST:PORT] [--token TOKEN] [--digests N]\n"+
			"  switchyard switchover --to NAME [--admin HOST:PORT] [--token TOKEN]\n"+
			"  switchyard drain NAME [--undo] [--admin HOST:PORT] [--token TOKEN]\n"+
			"  switchyard reset-cooldown [--admin HOST:PORT] [--token TOKEN]\n"+
			"  switchyard upgrade [--binary PATH] [--admin HOST:PORT] [--token TOKEN]\n"+
			"  switchyard install-binary PATH\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "switchyard", version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "switchyard: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *configPath == "" {
		fs.Usage()
		return 2
	}
	switch *logFormat {
	case "", "text", "json":
	default:
		fmt.Fprintf(stderr, "switchyard: --log-format %q: use text or json\n", *logFormat)
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: config %s refused:\n%v\n", *configPath, err)
		return 2
	}
	format := cfg.Log.Format
	if *logFormat != "" {
		format = *logFormat
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.Log.Level))
	log := newLogger(stderr, format, level)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	err = serve(params{
		configPath: *configPath,
		cfg:        cfg,
		pprof:      *pprofOn,
		log:        log,
		level:      level,
		signals:    sigs,
	})
	if up, ok := errors.AsType[*errUpgraded](err); ok {
		if up.keep {
			return keep(log, sigs, up.child, up.stop)
		}
		log.Info("switchyard upgraded; this process exits", "serving", up.child.PID())
		return 0
	}
	if err != nil {
		log.Error("switchyard stopped", "err", err)
		return 1
	}
	log.Info("switchyard stopped")
	return 0
}

// newLogger writes one line per event to w. The level is a LevelVar so that
// a reload can change it; the format is fixed for the life of the process.
func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseLevel maps a validated log.level to its slog level.
func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
