package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsLint(t *testing.T) {
	reg, _ := newRegistry()
	problems, err := testutil.GatherAndLint(reg,
		"switchyard_build_info", "switchyard_config_reloads_total",
		"switchyard_config_last_reload_successful", "switchyard_config_last_reload_success_timestamp_seconds")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestMetricsAtStart(t *testing.T) {
	reg, _ := newRegistry()
	want := `# HELP switchyard_build_info Always 1; the labels say which build is running.
# TYPE switchyard_build_info gauge
switchyard_build_info{goversion="` + runtime.Version() + `",version="dev"} 1
# HELP switchyard_config_last_reload_successful 1 when the last config reload (or the initial load) succeeded, 0 when it failed and the previous config is still running.
# TYPE switchyard_config_last_reload_successful gauge
switchyard_config_last_reload_successful 1
# HELP switchyard_config_reloads_total Config reloads (SIGHUP or POST /reload) by result: success, or failure when the file was refused or a component could not apply it.
# TYPE switchyard_config_reloads_total counter
switchyard_config_reloads_total{result="failure"} 0
switchyard_config_reloads_total{result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"switchyard_build_info", "switchyard_config_reloads_total", "switchyard_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "go_goroutines", "process_start_time_seconds")
	if err != nil || n != 2 {
		t.Errorf("go and process collectors: %d series, %v", n, err)
	}
}
