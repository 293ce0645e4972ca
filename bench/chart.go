package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units: one row of two panels (qps, p99) per
// scenario of a sweep.
const (
	panelW, panelH = 440, 250
	plotL, plotR   = 64, 16 // margins inside a panel
	plotT, plotB   = 28, 40
	legendH        = 34
)

// chartColors are the lines' colors, one per target in the order targets
// ran; readable on white and for the common color blindnesses.
var chartColors = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442"}

// WriteSweepSVG draws a sweep: for each scenario, qps and p99 latency
// against client connections (log scale), a line per target. It is a
// plain SVG a browser and GitHub show as an image.
func (r *Report) WriteSweepSVG(w io.Writer) error {
	sc := r.sweepScenarios()
	if len(sc) == 0 {
		return fmt.Errorf("no sweep results to draw")
	}
	var targets []string
	for _, ss := range sc {
		for _, t := range ss.target {
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	color := map[string]string{}
	for i, t := range targets {
		color[t] = chartColors[i%len(chartColors)]
	}
	width, height := 2*panelW, legendH+len(sc)*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	x := 10
	for _, t := range targets {
		fmt.Fprintf(&b, `<line x1="%d" y1="17" x2="%d" y2="17" stroke="%s" stroke-width="2.5"/><text x="%d" y="21">%s</text>`+"\n", x, x+22, color[t], x+27, html.EscapeString(t))
		x += 40 + 7*len(t)
	}
	for row, ss := range sc {
		y := legendH + row*panelH
		drawPanel(&b, 0, y, ss, ss.name+": queries per second", color, qpsOf)
		drawPanel(&b, panelW, y, ss, ss.name+": p99 latency, ms", color, p99Of)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// drawPanel draws one panel at (x0, y0): axes, the counts as x ticks on a
// log scale, a y scale from 0 to a round number above the largest value,
// and a polyline with dots per target.
func drawPanel(b *strings.Builder, x0, y0 int, ss *sweepScenario, title string, color map[string]string, field func(*Result) *float64) {
	l, t := float64(x0+plotL), float64(y0+plotT)
	pw, ph := float64(panelW-plotL-plotR), float64(panelH-plotT-plotB)
	top := 0.0
	for _, n := range ss.conns {
		for _, name := range ss.target {
			if res := ss.result(n, name); res != nil {
				if v := field(res); v != nil {
					top = math.Max(top, *v)
				}
			}
		}
	}
	top, step := niceScale(top)
	lo, hi := math.Log(float64(ss.conns[0])), math.Log(float64(ss.conns[len(ss.conns)-1]))
	px := func(n int) float64 {
		if hi == lo {
			return l + pw/2
		}
		return l + (math.Log(float64(n))-lo)/(hi-lo)*pw
	}
	py := func(v float64) float64 { return t + ph - v/top*ph }

	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="12" font-weight="bold">%s</text>`+"\n", l, t-10, html.EscapeString(title))
	for v := 0.0; v <= top+step/2; v += step {
		y := py(v)
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#dddddd"/><text x="%g" y="%g" text-anchor="end">%s</text>`+"\n",
			l, y, l+pw, y, l-6, y+4, tickLabel(v, step))
	}
	for _, n := range ss.conns {
		x := px(n)
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eeeeee"/><text x="%g" y="%g" text-anchor="middle">%d</text>`+"\n",
			x, t, x, t+ph, x, t+ph+15, n)
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">client connections (log scale)</text>`+"\n", l+pw/2, t+ph+31)
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888888"/>`+"\n", l, t, pw, ph)
	for _, name := range ss.target {
		var pts []string
		for _, n := range ss.conns {
			res := ss.result(n, name)
			if res == nil {
				continue
			}
			v := field(res)
			if v == nil {
				continue
			}
			x, y := px(n), py(*v)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, %d conns: %.4g</title></circle>`+"\n", x, y, color[name], html.EscapeString(name), n, *v)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), color[name])
		}
	}
}

// niceScale rounds max up to a multiple of a 1, 2 or 5 step giving about
// five grid lines.
func niceScale(max float64) (top, step float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1, 0.2
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(max/step) * step, step
}

// tickLabel prints a grid value: thousands as k, small steps with decimals.
func tickLabel(v, step float64) string {
	switch {
	case step >= 1000:
		return fmt.Sprintf("%gk", v/1000)
	case step >= 1:
		return fmt.Sprintf("%.0f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}
