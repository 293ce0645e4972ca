package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseCPUModel(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nmodel name\t: other\n", "Intel(R) Xeon(R) Processor"},
		{"none (arm)", "processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCPUModel([]byte(tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLargeQuery(t *testing.T) {
	tests := []struct {
		total    int64
		row      int
		wantRows int64
	}{
		{1 << 30, 1000, 1073742},
		{1000, 1000, 1},
		{1001, 1000, 2},
	}
	for _, tt := range tests {
		q, rows := largeQuery(tt.total, tt.row)
		if rows != tt.wantRows || !strings.Contains(q, "LIMIT ") || !strings.Contains(q, "REPEAT('x', ") {
			t.Errorf("largeQuery(%d, %d) = %q, %d rows; want %d rows", tt.total, tt.row, q, rows, tt.wantRows)
		}
	}
}

func TestStatementText(t *testing.T) {
	s := statementText(2)
	if s[1][stPoint] != "SELECT c FROM sbtest2 WHERE id=?" || s[0][stBegin] != "BEGIN" || s[0][stInsert] != "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)" {
		t.Errorf("unexpected statements: %q", s)
	}
	for tbl := range s {
		for k, q := range s[tbl] {
			if strings.Contains(q, "%") {
				t.Errorf("table %d kind %d: unformatted %q", tbl, k, q)
			}
		}
	}
}

// The report renders every kind of scenario, and its JSON has no NaN (which
// encoding/json rejects) when ratios have nothing to compare.
func TestReportRenders(t *testing.T) {
	cfg := DefaultConfig()
	rep := &Report{Baseline: "a", Compare: []string{"b"}}
	for _, sc := range AllScenarios() {
		res := []Result{
			aggregate("a", []*round{{seconds: 1, queries: 10, events: 10, bytes: 100, idle: &IdleStats{Requested: 5}, drill: &DrillStats{}}}),
			aggregate("b", []*round{{seconds: 1, errors: 3, errSamples: []string{"boom `x`"}}}),
		}
		rep.Scenarios = append(rep.Scenarios, ScenarioResult{Name: sc, Description: describe(sc, &cfg), Results: res,
			VsBaseline: ratios(res, "a"), VsCompare: ratios(res, "b")})
	}
	var text, md, js bytes.Buffer
	rep.WriteText(&text)
	rep.WriteMarkdown(&md)
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, sc := range AllScenarios() {
		if !strings.Contains(text.String(), "== "+sc+":") || !strings.Contains(md.String(), "### "+sc) {
			t.Errorf("scenario %s missing from the text or markdown", sc)
		}
	}
	if !strings.Contains(md.String(), "`boom 'x'`") {
		t.Errorf("markdown error sample not quoted safely:\n%s", md.String())
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Scenarios) != len(AllScenarios()) {
		t.Errorf("JSON does not round-trip: %v", err)
	}
}
