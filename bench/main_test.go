package main

import "testing"

func TestCheckGenFlows(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		flows int
		ok    bool
	}{
		{"one flow", 1, true},
		{"a few", 4, true},
		{"the default", defaultGenFlows, true},
		{"the most ports above 1023 a mask can pick", 32768, true},
		{"none", 0, false},
		{"negative", -4, false},
		{"not a power of two", 3, false},
		{"one short of a power of two", 4095, false},
		{"ports past 65535", 65536, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if err := checkGenFlows(tc.flows); (err == nil) != tc.ok {
				t.Errorf("checkGenFlows(%d) = %v, want ok %v", tc.flows, err, tc.ok)
			}
		})
	}
}
