package testenv

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a switchyard's /metrics, parsed: the metric
// families by name. Tests compare two scrapes to see which series moved.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics reads http://admin/metrics, bounded by ctx and 5s.
func ScrapeMetrics(ctx context.Context, admin string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", admin, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", admin, err)
	}
	return Metrics(fams), nil
}

// Value sums the samples of the family name whose labels include every
// pair of labels ("backend", "db1", "role", "primary"); a histogram or a
// summary counts by its observations. A family or series that is absent
// is 0.
func (m Metrics) Value(name string, labels ...string) float64 {
	if len(labels)%2 != 0 {
		panic("BUG: Metrics.Value wants label name, value pairs")
	}
	f, ok := m[name]
	if !ok {
		return 0
	}
	sum := 0.0
	for _, s := range f.GetMetric() {
		if !hasLabels(s.GetLabel(), labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		case s.Summary != nil:
			sum += float64(s.GetSummary().GetSampleCount())
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum
}

// Has reports whether the scrape holds the family name.
func (m Metrics) Has(name string) bool {
	_, ok := m[name]
	return ok
}

func hasLabels(have []*dto.LabelPair, want []string) bool {
	for i := 0; i < len(want); i += 2 {
		if !slices.ContainsFunc(have, func(l *dto.LabelPair) bool {
			return l.GetName() == want[i] && l.GetValue() == want[i+1]
		}) {
			return false
		}
	}
	return true
}
