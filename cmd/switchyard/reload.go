package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/config/tlsconf"
)

// reloader applies the config file again, on SIGHUP or POST /reload.
//
// A file that does not load or validate changes nothing: every problem is
// logged, the failure is counted, and the running config stays. A valid
// file is applied through each component's Reload, in order (health first,
// so that a new backend is probed before the proxy routes to it); fields
// that cannot change live keep their running value and are logged as
// needing a restart (config.ForReload).
//
// Concurrency: reload and current may be called from any goroutine; reloads
// are serialized by mu.
type reloader struct {
	path    string
	log     *slog.Logger
	level   *slog.LevelVar
	metrics *metrics
	targets []reloadTarget
	// setToken hands the admin handler its new bearer token.
	setToken func(string)
	now      func() time.Time

	mu      sync.Mutex
	running config.Config // guarded by mu: the config in effect
}

// reloadTarget is a component that takes a config live.
type reloadTarget struct {
	name string
	r    reloadable
}

func newReloader(path string, running config.Config, log *slog.Logger, level *slog.LevelVar, m *metrics,
	setToken func(string), targets ...reloadTarget) *reloader {
	return &reloader{path: path, running: running, log: log, level: level, metrics: m,
		setToken: setToken, targets: targets, now: time.Now}
}

// current returns the config in effect.
func (r *reloader) current() config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// reload loads, validates and applies the file. It returns why the file was
// refused or what could not be applied; the caller need not log it.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.log.With("path", r.path)
	log.Info("config reload started")

	next, err := config.Load(r.path)
	if err != nil {
		r.metrics.reloadFailed()
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors {
				log.Error("config reload: problem in file", "problem", fe.Error())
			}
			log.Error("config reload refused; the running config stays", "problems", len(ve.Errors))
		} else {
			log.Error("config reload refused; the running config stays", "err", err)
		}
		return err
	}

	apply, restart := config.ForReload(r.running, next)
	for _, c := range restart {
		log.Warn("config change needs a restart; keeping the running value", "field", c.Path, "running", c.Old, "file", c.New)
	}
	if err := readableFiles(apply); err != nil {
		r.metrics.reloadFailed()
		log.Error("config reload refused; the running config stays", "err", err)
		return err
	}
	var errs []error
	for _, t := range r.targets {
		if err := t.r.Reload(apply); err != nil {
			log.Error("config reload: component refused the new config", "component", t.name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
		}
	}
	// cmd's own live fields.
	r.level.Set(parseLevel(apply.Log.Level))
	r.setToken(apply.AdminToken)
	r.running = apply

	if err := errors.Join(errs...); err != nil {
		r.metrics.reloadFailed()
		log.Error("config reload partly applied", "err", err)
		return err
	}
	r.metrics.reloadSucceeded(r.now())
	log.Info("config reloaded", "backends", len(apply.Backends), "users", len(apply.Users), "needs_restart", len(restart))
	return nil
}

// readableFiles reads the files the config names (passwords, backend TLS
// certificates) before any component applies it: a file that is missing or
// broken refuses the whole reload, instead of one component taking the new
// config while another keeps the old.
func readableFiles(cfg config.Config) error {
	if _, err := config.ResolvePasswords(cfg.Users); err != nil {
		return err
	}
	if _, err := tlsconf.Load(cfg); err != nil {
		return err
	}
	return nil
}
