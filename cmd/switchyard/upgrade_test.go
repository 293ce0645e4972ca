package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestInstallBinaryCopiesItself(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "switchyard")
	if err := os.WriteFile(dest, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runAction(t, "install-binary", dest)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes, want a copy of %s (%d bytes): %v", dest, len(got), self, len(want), err)
	}
	if st, _ := os.Stat(dest); st.Mode().Perm()&0o100 == 0 {
		t.Errorf("%s is not executable: %v", dest, st.Mode())
	}
	if _, _, code := runAction(t, "install-binary"); code != 2 {
		t.Errorf("no PATH: exit %d, want 2", code)
	}
}
