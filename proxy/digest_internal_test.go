package proxy

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestDigestIDsHaveAFixedWidth: ids are 16 hex digits, also when the hash
// has leading zero digits (one in 16 does), so that they line up in
// `switchyard status` and compare as text.
func TestDigestIDsHaveAFixedWidth(t *testing.T) {
	found := false
	for i := 0; i < 1_000_000 && !found; i++ {
		s := fmt.Sprintf("q%x", i)
		h := fnv.New64a()
		_, _ = h.Write([]byte(s))
		found = found || h.Sum64() < 1<<60
		if id := hashDigest(s); len(id) != 16 {
			t.Fatalf("hashDigest(%q) = %q: %d digits, want 16", s, id, len(id))
		}
	}
	if !found {
		t.Fatal("no input with a leading zero digit was tried")
	}
}
