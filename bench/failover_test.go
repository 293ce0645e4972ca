package bench

import (
	"slices"
	"testing"
	"time"
)

func ev(startMs, endMs int, ok bool) drillEvent {
	return drillEvent{start: time.Duration(startMs) * time.Millisecond, end: time.Duration(endMs) * time.Millisecond, ok: ok}
}

func TestAnalyzeDrill(t *testing.T) {
	tests := []struct {
		name          string
		events        []drillEvent
		killAt, end   int // ms
		before        int64
		firstErr, rec *float64
		maxGap        time.Duration
	}{
		{
			name:   "nothing failed",
			events: []drillEvent{ev(0, 1, true), ev(10, 11, true), ev(20, 21, true)},
			killAt: 15, end: 25,
			maxGap: 10 * time.Millisecond,
		},
		{
			name: "one outage",
			events: []drillEvent{
				ev(0, 1, true), ev(100, 101, true),
				ev(110, 120, false), ev(140, 150, false), // down
				ev(155, 300, true), // started after the last error ended
				ev(310, 311, true),
			},
			killAt: 105, end: 320,
			firstErr: fp(0.015), rec: fp(0.195), maxGap: 199 * time.Millisecond,
		},
		{
			name: "a slow write spanning the last error does not count as recovery",
			events: []drillEvent{
				ev(0, 1, true),
				ev(5, 400, true), // started before the failure ended
				ev(10, 50, false),
				ev(60, 100, true),
			},
			killAt: 2, end: 400,
			firstErr: fp(0.048), rec: fp(0.098), maxGap: 300 * time.Millisecond,
		},
		{
			name:   "errors before the kill are counted apart",
			events: []drillEvent{ev(0, 5, false), ev(10, 11, true), ev(20, 21, true)},
			killAt: 15, end: 22,
			before: 1, maxGap: 10 * time.Millisecond,
		},
		{
			name:   "never recovered: the gap runs to the end",
			events: []drillEvent{ev(0, 1, true), ev(10, 20, false), ev(30, 40, false)},
			killAt: 5, end: 1000,
			firstErr: fp(0.015), maxGap: 999 * time.Millisecond,
		},
		{
			name:   "no events",
			killAt: 5, end: 10,
			maxGap: 10 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := analyzeDrill(tt.events, time.Duration(tt.killAt)*time.Millisecond, time.Duration(tt.end)*time.Millisecond)
			if tl.errorsBeforeKill != tt.before {
				t.Errorf("errors before kill %d, want %d", tl.errorsBeforeKill, tt.before)
			}
			if !eqPtr(tl.firstErrorAfter, tt.firstErr) {
				t.Errorf("first error after %s, want %s", fmtF(tl.firstErrorAfter, "%v"), fmtF(tt.firstErr, "%v"))
			}
			if !eqPtr(tl.recoveredAfter, tt.rec) {
				t.Errorf("recovered after %s, want %s", fmtF(tl.recoveredAfter, "%v"), fmtF(tt.rec, "%v"))
			}
			if tl.maxGap != tt.maxGap {
				t.Errorf("max gap %v, want %v", tl.maxGap, tt.maxGap)
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	const (
		u = statusUnattempted
		a = statusAcked
		f = statusFailed
	)
	tests := []struct {
		name                         string
		status                       []uint8
		found                        []int64
		missing, unacked, unexpected int64
		sample                       []int64
	}{
		{"all there", []uint8{u, a, a, a}, []int64{1, 2, 3}, 0, 0, 0, nil},
		{"lost acknowledged writes", []uint8{u, a, a, a, a}, []int64{1, 4}, 2, 0, 0, []int64{2, 3}},
		{"failed but committed is allowed", []uint8{u, a, f, f}, []int64{1, 2}, 0, 1, 0, nil},
		{"failed and absent is fine", []uint8{u, a, f}, []int64{1}, 0, 0, 0, nil},
		{"rows nobody wrote", []uint8{u, a, u}, []int64{1, 2, 9, 0, -3}, 0, 0, 4, nil},
		{"duplicates are unexpected", []uint8{u, a}, []int64{1, 1}, 0, 0, 1, nil},
		{"empty table", []uint8{u, a, a}, nil, 2, 0, 0, []int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ua, ue, s := reconcile(tt.status, tt.found)
			if m != tt.missing || ua != tt.unacked || ue != tt.unexpected || !slices.Equal(s, tt.sample) {
				t.Errorf("got missing %d unacked %d unexpected %d sample %v, want %d %d %d %v",
					m, ua, ue, s, tt.missing, tt.unacked, tt.unexpected, tt.sample)
			}
		})
	}
}

func TestReconcileSampleIsBounded(t *testing.T) {
	status := slices.Repeat([]uint8{statusAcked}, 1000)
	status[0] = statusUnattempted
	m, _, _, s := reconcile(status, nil)
	if m != 999 || len(s) != maxMissingSample {
		t.Errorf("missing %d sample %d, want 999 and %d", m, len(s), maxMissingSample)
	}
}

func TestRunKill(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		timeout time.Duration
		out     string
		wantErr bool
	}{
		{"ok", "echo killed", time.Second, "killed\n", false},
		{"fails", "echo no >&2; exit 3", time.Second, "no\n", true},
		{"too slow", "sleep 5", 100 * time.Millisecond, "", true},
		{"too slow, in a child holding the output", "echo start; sleep 5; echo end", 100 * time.Millisecond, "start\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			out, err := runKill(t.Context(), tt.cmd, tt.timeout)
			if out != tt.out || (err != nil) != tt.wantErr {
				t.Errorf("out %q err %v, want %q wantErr %v", out, err, tt.out, tt.wantErr)
			}
			if d := time.Since(t0); d > tt.timeout+2*time.Second {
				t.Errorf("took %v with a %v timeout", d, tt.timeout)
			}
		})
	}
}
