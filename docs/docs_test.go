// Package docs holds the operator documentation; its test fails when a
// config field or a metric is added without being documented.
package docs

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
)

func read(t *testing.T, paths ...string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// configPaths lists every config field as a dotted path ("failover.semi_sync",
// "backends[].promote").
func configPaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[config.Config]().PkgPath() {
		*out = append(*out, prefix)
		return
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		configPaths(f.Type, path, out)
	}
}

// TestEveryConfigFieldIsDocumented: each field's key appears in the README
// or docs/OPERATIONS.md, as YAML (key:) or in backquotes.
func TestEveryConfigFieldIsDocumented(t *testing.T) {
	docs := read(t, "../README.md", "OPERATIONS.md")
	var paths []string
	configPaths(reflect.TypeFor[config.Config](), "", &paths)
	if len(paths) < 40 {
		t.Fatalf("only %d config fields found: the walk is broken", len(paths))
	}
	for _, p := range paths {
		leaf := p[strings.LastIndexAny(p, ".]")+1:]
		if !strings.Contains(docs, leaf+":") && !strings.Contains(docs, "`"+leaf+"`") && !strings.Contains(docs, "."+leaf+"`") {
			t.Errorf("config field %s is not documented in README.md or docs/OPERATIONS.md", p)
		}
	}
}

// metricName finds metric names where collectors are declared.
var metricName = regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(switchyard_[a-z0-9_]+)"`)

// TestEveryMetricIsDocumented: each metric name in the source appears in
// docs/OPERATIONS.md's metrics tables.
func TestEveryMetricIsDocumented(t *testing.T) {
	docs := read(t, "OPERATIONS.md")
	var names []string
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bench" || d.Name() == "deploy") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, m := range metricName.FindAllStringSubmatch(read(t, path), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 20 {
		t.Fatalf("only %d metric names found: the scan is broken", len(names))
	}
	for _, n := range names {
		if !strings.Contains(docs, "`"+n+"`") && !strings.Contains(docs, "`"+strings.TrimSuffix(n, "_total")) {
			t.Errorf("metric %s is not documented in docs/OPERATIONS.md", n)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksStayInTheRepository: every relative link of the README and the
// docs names a file of the repository (none outside it, none missing).
func TestLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range []string{"../README.md", "OPERATIONS.md", "BENCHMARKS.md"} {
		for _, m := range mdLink.FindAllStringSubmatch(read(t, md), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(md), target))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(abs, root+string(filepath.Separator)) {
				t.Errorf("%s links outside the repository: %s", md, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to a missing file: %s", md, m[1])
			}
		}
	}
}
