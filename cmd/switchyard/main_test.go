package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"version", []string{"--version"}, 0, "switchyard dev", ""},
		{"no config", nil, 2, "", "usage:"},
		{"bad log format", []string{"--config", "x.yaml", "--log-format", "xml"}, 2, "", "--log-format \"xml\": use text or json"},
		{"missing config file", []string{"--config", "/nonexistent/switchyard.yaml"}, 2, "", "config /nonexistent/switchyard.yaml refused"},
		{"stray argument", []string{"--config", "x.yaml", "extra"}, 2, "", "unexpected argument"},
		{"help", []string{"--help"}, 0, "", "switchyard status"},
		{"status help", []string{"status", "--help"}, 0, "", "--digests"},
		{"status bad address", []string{"status", "--admin", "ftp://x:1"}, 2, "", "write host:port"},
		{"status unreachable", []string{"status", "--admin", "127.0.0.1:1"}, 1, "", "admin API at http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := realMain(tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("code %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errb.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}
