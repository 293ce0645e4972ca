package bench

import (
	"errors"
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// Fields after the comm: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{"plain", "4421 (mariadbd) S 1 4420 4420 0 -1 4194560 5000 0 0 0 250 130 0 0 20 0 40 0 100 0 0", 3.8, false},
		{"comm with spaces and parens", "77 (my (odd) proc) R 1 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0", 0.03, false},
		{"zero", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0", 0, false},
		{"no paren", "1 init S 0", 0, true},
		{"truncated", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 5", 0, true},
		{"not a number", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 five 2 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errProcFormat) {
				t.Errorf("err = %v, want errProcFormat", err)
			}
			if d := got - tt.want; d > 1e-9 || d < -1e-9 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStatusMem(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rss, hwm int64
		wantErr  bool
	}{
		{"typical", "Name:\thaproxy\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t2\n", 1 << 20, 2 << 20, false},
		{"order does not matter", "VmRSS:\t5 kB\nVmHWM:\t6 kB\n", 5 * 1024, 6 * 1024, false},
		{"kernel thread has none", "Name:\tkthreadd\nState:\tS\n", 0, 0, true},
		{"only rss", "VmRSS:\t5 kB\n", 0, 0, true},
		{"bad unit", "VmRSS:\t5 MB\nVmHWM:\t6 kB\n", 0, 0, true},
		{"bad number", "VmRSS:\tx kB\nVmHWM:\t6 kB\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, hwm, err := parseStatusMem([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if rss != tt.rss || hwm != tt.hwm {
				t.Errorf("got rss %d hwm %d, want %d %d", rss, hwm, tt.rss, tt.hwm)
			}
		})
	}
}

// The real files of this process parse, and a window over it sees it.
func TestProcWindowSelf(t *testing.T) {
	w := beginProcWindow(os.Getpid())
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	s := w.end()
	if s.Err != nil {
		t.Fatalf("window over self: %v", s.Err)
	}
	if s.PeakRSSBytes <= 0 || s.CPUSeconds < 0 {
		t.Errorf("stats = %+v, want positive RSS and non-negative CPU", s)
	}
}

func TestProcWindowNoPID(t *testing.T) {
	var w *procWindow = beginProcWindow(0)
	if s := w.end(); s != (ProcStats{}) {
		t.Errorf("nil window end = %+v, want zero", s)
	}
}

func TestProcWindowGonePID(t *testing.T) {
	// PID max is below 1<<22 on Linux, so this process cannot exist.
	s := beginProcWindow(1<<22 + 1).end()
	if s.Err == nil {
		t.Error("window over a missing process reports no error")
	}
}
