package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) without cgo is
// not available; prometheus/procfs makes the same assumption).
const userHZ = 100

// rssPollInterval is how often a measured window samples VmRSS. Peaks shorter
// than this are still caught through VmHWM when the high-water mark could be
// reset at the start of the window.
const rssPollInterval = 100 * time.Millisecond

var errProcFormat = errors.New("unexpected /proc format")

// parseStatCPU returns utime+stime in seconds from the contents of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted after the last ')'.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no ')'", errProcFormat)
	}
	f := bytes.Fields(b[i+1:])
	// After the comm: state(3) ppid(4) … utime(14) stime(15), so utime is
	// f[14-3] and stime f[15-3].
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(f) <= stimeIdx {
		return 0, fmt.Errorf("%w: stat has %d fields after comm, want > %d", errProcFormat, len(f), stimeIdx)
	}
	ut, err := strconv.ParseUint(string(f[utimeIdx]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %w", errProcFormat, err)
	}
	st, err := strconv.ParseUint(string(f[stimeIdx]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %w", errProcFormat, err)
	}
	return float64(ut+st) / userHZ, nil
}

// parseStatusMem returns VmRSS and VmHWM in bytes from the contents of
// /proc/PID/status. A kernel thread or a zombie has neither: that is an error.
func parseStatusMem(b []byte) (rss, hwm int64, err error) {
	var haveRSS, haveHWM bool
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst, haveRSS = &rss, true
		case "VmHWM":
			dst, haveHWM = &hwm, true
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, fmt.Errorf("%w: %s: %q", errProcFormat, key, bytes.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %s: %w", errProcFormat, key, err)
		}
		*dst = kb * 1024
	}
	if !haveRSS || !haveHWM {
		return 0, 0, fmt.Errorf("%w: status has no VmRSS/VmHWM", errProcFormat)
	}
	return rss, hwm, nil
}

// procCPU reads the CPU seconds a process has used so far.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// procMem reads a process's current and peak RSS in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatusMem(b)
}

// resetHWM resets a process's VmHWM to its current RSS (Linux 4.0+, needs
// the right to ptrace it). It reports whether the reset happened.
func resetHWM(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// ProcStats is what a measured window saw of one target process.
type ProcStats struct {
	CPUSeconds   float64 // utime+stime used during the window
	PeakRSSBytes int64   // highest RSS seen during the window
	Err          error   // the first /proc error, if any; the numbers are then partial
}

// procWindow samples one process over a measured window: CPU at both ends,
// RSS every rssPollInterval in between. Create it with beginProcWindow, and
// call end exactly once, from the goroutine that began it.
type procWindow struct {
	pid       int
	cpu0      float64
	hwmReset  bool
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	peak      int64 // guarded by mu
	firstErr  error // guarded by mu
	startedOK bool
}

// beginProcWindow starts sampling pid. With pid <= 0 it returns nil, and a
// nil window's end returns zero stats.
func beginProcWindow(pid int) *procWindow {
	if pid <= 0 {
		return nil
	}
	w := &procWindow{pid: pid, stop: make(chan struct{})}
	w.hwmReset = resetHWM(pid)
	cpu, err := procCPU(pid)
	w.cpu0 = cpu
	w.startedOK = err == nil
	w.noteErr(err)
	w.sampleRSS()
	w.wg.Go(w.poll)
	return w
}

func (w *procWindow) noteErr(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		w.firstErr = err
	}
}

func (w *procWindow) sampleRSS() {
	rss, hwm, err := procMem(w.pid)
	if err != nil {
		w.noteErr(err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peak = max(w.peak, rss)
	if w.hwmReset {
		w.peak = max(w.peak, hwm)
	}
}

func (w *procWindow) poll() {
	t := time.NewTicker(rssPollInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.sampleRSS()
		}
	}
}

// end stops sampling and returns what the window saw.
func (w *procWindow) end() ProcStats {
	if w == nil {
		return ProcStats{}
	}
	close(w.stop)
	w.wg.Wait()
	w.sampleRSS()
	cpu1, err := procCPU(w.pid)
	w.noteErr(err)
	w.mu.Lock()
	defer w.mu.Unlock()
	s := ProcStats{PeakRSSBytes: w.peak, Err: w.firstErr}
	if w.startedOK && err == nil {
		s.CPUSeconds = cpu1 - w.cpu0
	}
	return s
}

// currentRSS is a one-off reading for reports (0 when unknown).
func currentRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	rss, _, err := procMem(pid)
	if err != nil {
		return 0
	}
	return rss
}
