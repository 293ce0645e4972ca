package main

import "testing"

type drainerA struct{ name string }

func (d drainerA) SetDrained(string, bool) error { return nil }
func (d drainerA) IsDrained(string) bool         { return false }

func TestBackendDrainer(t *testing.T) {
	// health wins: the drained flag belongs in the topology snapshot.
	if d := backendDrainer(drainerA{"proxy"}, drainerA{"health"}); d.(drainerA).name != "health" {
		t.Errorf("backendDrainer picked %v", d)
	}
	if d := backendDrainer(drainerA{"proxy"}, struct{}{}); d.(drainerA).name != "proxy" {
		t.Errorf("backendDrainer picked %v", d)
	}
	if d := backendDrainer(struct{}{}, struct{}{}); d != nil {
		t.Errorf("backendDrainer = %v, want nil", d)
	}
}
