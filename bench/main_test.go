package main

import "testing"

func TestCheckGenFlows(t *testing.T) {
	for _, ok := range []int{1, 4, 4096, 32768} {
		if err := checkGenFlows(ok); err != nil {
			t.Errorf("checkGenFlows(%d): %v", ok, err)
		}
	}
	for _, bad := range []int{0, -4, 3, 4095, 65536} {
		if err := checkGenFlows(bad); err == nil {
			t.Errorf("checkGenFlows(%d): no error", bad)
		}
	}
}
