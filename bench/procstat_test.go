package main

import "testing"

func TestStatCPUTicks(t *testing.T) {
	// A command that holds ") " must not shift the fields.
	stat := "4242 (hap) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 2 0 100 0 0\n"
	if got, err := statCPUTicks(stat); err != nil || got != 1234+567 {
		t.Errorf("statCPUTicks: got %d, %v; want %d", got, err, 1234+567)
	}
	for _, bad := range []string{"", "4242 (hap) S 1 2", "4242 (hap) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 567 0"} {
		if _, err := statCPUTicks(bad); err == nil {
			t.Errorf("statCPUTicks(%q): no error", bad)
		}
	}
}
