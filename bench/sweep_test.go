package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// sweepReport is a two-count sweep of point_select against direct,
// haproxy-read and switchyard, with made-up numbers.
func sweepReport() *Report {
	cpu := func(v float64) *float64 { return &v }
	res := func(target string, qps, p99 float64, c *float64) Result {
		return Result{Target: target, Queries: int64(qps), QPS: qps, Latency: Latency{P99: p99}, CPUSecPer1kQueries: c}
	}
	return &Report{
		Baseline: "direct", Compare: []string{"haproxy-read", "haproxy"},
		Scenarios: []ScenarioResult{
			{Name: ScPointSelect, Conns: 32, Description: "primary-key lookups", Results: []Result{
				res("direct", 30000, 2, nil), res("haproxy-read", 20000, 4, cpu(0.010)), res("switchyard", 19000, 4.4, cpu(0.013))}},
			{Name: ScPointSelect, Conns: 256, Description: "primary-key lookups", Results: []Result{
				res("direct", 20000, 30, nil), res("haproxy-read", 15000, 40, cpu(0.012)), res("switchyard", 16500, 30, cpu(0.014))}},
		},
	}
}

func TestSweepMarkdownAndBar(t *testing.T) {
	r := sweepReport()
	var md bytes.Buffer
	r.WriteSweepMarkdown(&md)
	for _, want := range []string{
		"| conns | target | qps | p99 ms | cpu s/1k q | qps vs haproxy-read | p99 vs haproxy-read | cpu/query vs haproxy-read | qps vs direct at 32 |",
		"| 32 | switchyard | 19000 | 4.40 | 0.0130 | 0.95x | 1.10x | 1.30x | 0.63x |",
		"| 256 | switchyard | 16500 | 30.00 | 0.0140 | 1.10x | 0.75x | 1.17x | 0.55x |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("sweep markdown lacks %q:\n%s", want, md.String())
		}
	}
	var bar bytes.Buffer
	r.WriteSweepBar(&bar, "switchyard", Issue15Bar)
	for _, want := range []string{
		"| point_select | 32 | qps switchyard / haproxy-read | 0.95x | >= 0.90x | pass |",
		"| point_select | 256 | qps switchyard / haproxy-read | 1.10x | >= 1.05x | pass |",
		"| point_select | 32 | cpu/query switchyard / haproxy-read | 1.30x | <= 1.35x | pass |",
		"| point_select | 256 | p99 switchyard / haproxy-read | 0.75x | <= 1.25x | pass |",
	} {
		if !strings.Contains(bar.String(), want) {
			t.Errorf("bar lacks %q:\n%s", want, bar.String())
		}
	}
	// Rounds measured side by side show the verdict's noise: each round's
	// ratio of the target to its reference, in order.
	r.Scenarios[0].Results[1].RoundQPS = []float64{21000, 19000}
	r.Scenarios[0].Results[2].RoundQPS = []float64{16800, 19950}
	bar.Reset()
	r.WriteSweepBar(&bar, "switchyard", Issue15Bar)
	if !strings.Contains(bar.String(), "| point_select | 32 | qps switchyard / haproxy-read | 0.95x | >= 0.90x | pass | 0.80x, 1.05x |") ||
		!strings.Contains(bar.String(), "| point_select | 32 | cpu/query switchyard / haproxy-read | 1.30x | <= 1.35x | pass | - |") {
		t.Errorf("per-round ratios missing or wrong:\n%s", bar.String())
	}
	r.Scenarios[1].Results[2].QPS = 15000 // 1.00x: below the 1.05x bar
	bar.Reset()
	r.WriteSweepBar(&bar, "switchyard", Issue15Bar)
	if !strings.Contains(bar.String(), "| point_select | 256 | qps switchyard / haproxy-read | 1.00x | >= 1.05x | **miss** |") {
		t.Errorf("a miss is not reported:\n%s", bar.String())
	}
}

// TestSweepSVG: the chart is well-formed XML with a line per target in
// each of the two panels, and a point per target and count.
func TestSweepSVG(t *testing.T) {
	var b bytes.Buffer
	if err := sweepReport().WriteSweepSVG(&b); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	d := xml.NewDecoder(&b)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			count[se.Name.Local]++
		}
	}
	if count["svg"] != 1 || count["polyline"] != 2*3 || count["circle"] != 2*3*2 {
		t.Fatalf("elements %v, want 1 svg, 6 polylines, 12 circles", count)
	}
	if err := (&Report{}).WriteSweepSVG(io.Discard); err == nil {
		t.Fatal("a report without a sweep drew a chart")
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ max, top, step float64 }{
		{38000, 40000, 10000}, {4.4, 5, 1}, {0.9, 1, 0.2}, {0, 1, 0.2}, {120, 150, 50},
	} {
		if top, step := niceScale(c.max); top != c.top || step != c.step {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.max, top, step, c.top, c.step)
		}
	}
}
