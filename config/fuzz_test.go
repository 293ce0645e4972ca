package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, every content error is ErrInvalid, and a
// config that Parse accepts also passes Validate.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if good, err := os.ReadFile(filepath.Join("testdata", "good.yaml")); err == nil {
		f.Add(good)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error is not ErrInvalid: %v", err)
			}
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
