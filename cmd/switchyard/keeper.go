package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/proxy/handoff"
)

// A supervisor (Kubernetes, systemd, Docker) watches the process it
// started: when that one exits, the container or the service is over, and
// whatever it left running is killed with it. So after an upgrade the first
// process does not exit (upgrade.keep_parent): it stays as a parent that
// forwards signals to the process serving now and exits with its status.
// It is a child subreaper (PR_SET_CHILD_SUBREAPER), so when that process
// upgrades in turn and exits, its successor becomes this one's child and
// is followed the same way.

// errUpgraded ends serve after a successful upgrade.
type errUpgraded struct {
	child *handoff.Child
	keep  bool // this process stays as the keeper (upgrade.keep_parent, first process)
	// stop: a stop signal came while the upgrade finished; the keeper
	// passes it on at once.
	stop bool
}

func (e *errUpgraded) Error() string {
	return fmt.Sprintf("upgraded: pid %d serves", e.child.PID())
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (Linux 3.4).
const prSetChildSubreaper = 36

// becomeSubreaper makes orphaned descendants this process's children.
func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
}

// keep forwards signals to the serving process and follows it across its
// own upgrades; it returns the exit code of the last one.
func keep(log *slog.Logger, signals <-chan os.Signal, first *handoff.Child, stop bool) int {
	log.Info("upgrade: staying as the parent of the serving process (upgrade.keep_parent)", "pid", first.PID())
	current := first.PID()
	if stop {
		_ = syscall.Kill(current, syscall.SIGTERM)
	}
	direct := true // current is first, whose status os/exec collects
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case sig := <-signals:
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(current, s)
			}
			continue
		case <-tick.C:
		}
		code, exited := 0, false
		if direct {
			select {
			case <-first.Exited():
				code, exited = first.ExitCode(), true
			default:
			}
		} else {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(current, &ws, syscall.WNOHANG, nil)
			switch {
			case err != nil: // not our child any more: gone
				code, exited = 1, true
			case pid == current:
				code, exited = ws.ExitStatus(), true
			}
		}
		if !exited {
			continue
		}
		next := childOf(os.Getpid())
		if code != 0 || next == 0 {
			log.Info("upgrade: the serving process exited; so does its parent", "pid", current, "code", code)
			return code
		}
		log.Info("upgrade: the serving process upgraded; following its successor", "was", current, "pid", next)
		current, direct = next, false
	}
}

// childOf returns a child of ppid found in /proc, or 0.
func childOf(ppid int) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) >= 2 && f[0] != "Z" && f[1] == strconv.Itoa(ppid) {
			return pid
		}
	}
	return 0
}
