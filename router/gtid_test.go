package router

import "testing"

func TestGTIDPos(t *testing.T) {
	for _, tc := range []struct {
		name      string
		have      string
		need      string
		covers    bool
		mergeWant string
	}{
		{"equal", "0-1-5", "0-1-5", true, "0-1-5"},
		{"ahead", "0-1-9", "0-1-5", true, "0-1-9"},
		{"behind", "0-1-4", "0-1-5", false, "0-1-5"},
		{"other server same domain compares seq", "0-2-7", "0-1-5", true, "0-2-7"},
		{"missing domain", "0-1-9", "1-1-1", false, "0-1-9,1-1-1"},
		{"multi domain all ahead", "0-1-9,1-2-3", "1-2-3,0-1-2", true, "0-1-9,1-2-3"},
		{"empty need", "0-1-1", "", true, "0-1-1"},
		{"empty have", "", "0-1-1", false, "0-1-1"},
		{"malformed parts skipped", "0-1-9,x-y,3-3", "0-1-9", true, "0-1-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have, need := ParseGTIDPos(tc.have), ParseGTIDPos(tc.need)
			if got := have.Covers(need); got != tc.covers {
				t.Errorf("Covers = %v, want %v", got, tc.covers)
			}
			if got := need.CoveredBy(tc.have); got != tc.covers {
				t.Errorf("CoveredBy = %v, want %v", got, tc.covers)
			}
			if got := have.Merge(need).String(); got != tc.mergeWant {
				t.Errorf("Merge = %q, want %q", got, tc.mergeWant)
			}
		})
	}
}
