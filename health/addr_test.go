package health

import (
	"context"
	"testing"
)

func TestSameAddr(t *testing.T) {
	hosts.refresh(context.Background(), "localhost:1") // a literal: nothing to resolve
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:3306", "127.0.0.1:3306", true},
		{"localhost:3306", "127.0.0.1:3306", true},
		{"localhost:3306", "[::1]:3306", true},
		{"[::ffff:10.0.0.1]:3306", "10.0.0.1:3306", true},
		{"DB1.example:3306", "db1.example:3306", true},
		{"127.0.0.1:3306", "127.0.0.1:3307", false},
		{"10.0.0.1:3306", "10.0.0.2:3306", false},
		{"unresolved.invalid:3306", "10.0.0.2:3306", false},
	} {
		if got := sameAddr(c.a, c.b); got != c.want {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestSourceNameResolvesHostNames(t *testing.T) {
	hosts.mu.Lock()
	if hosts.m == nil {
		hosts.m = map[string]hostEntry{}
	}
	hosts.mu.Unlock()
	// "localhost" resolves through the system resolver like any name.
	servers := []Server{{Name: "db1", Address: "127.0.0.1:3401"}, {Name: "db2", Address: "127.0.0.2:3402"}}
	hosts.refresh(context.Background(), "localhost:3401")
	for addr, want := range map[string]string{
		"localhost:3401": "db1", "127.0.0.1:3401": "db1", "127.0.0.2:3402": "db2", "10.9.9.9:3401": "", "": "",
	} {
		if got := sourceName(addr, servers); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", addr, got, want)
		}
	}
}
