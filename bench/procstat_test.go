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

func TestParseStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	m, err := parseStatCPU("cpu  700 1 2000 4500 15 3 400 9 50 1")
	if err != nil {
		t.Fatal(err)
	}
	if want := clockTicks(700 + 1 + 2000 + 3 + 400); m.busy != want {
		t.Errorf("busy = %v, want %v (user, nice, system, irq, softirq: guest is in user already)", m.busy, want)
	}
	if want := clockTicks(400); m.softirq != want {
		t.Errorf("softirq = %v, want %v", m.softirq, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7", "cpu 1 2 3", "cpu 1 2 3 4 5 6 x"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}
