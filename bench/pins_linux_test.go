package main

import (
	"slices"
	"testing"
)

func TestStalePinDirs(t *testing.T) {
	dirs := []string{
		"/sys/fs/bpf/xlbbench-100",     // alive
		"/sys/fs/bpf/xlbbench-200",     // gone
		"/sys/fs/bpf/xlbbench-e2e-100", // alive
		"/sys/fs/bpf/xlbbench-e2e-300", // gone
		"/sys/fs/bpf/xlbbench-e2e-x",   // no pid: not ours to judge
		"/sys/fs/bpf/xlbbench-0",
	}
	alive := func(pid int) bool { return pid == 100 }
	got := stalePinDirs(dirs, alive)
	want := []string{"/sys/fs/bpf/xlbbench-200", "/sys/fs/bpf/xlbbench-e2e-300"}
	if !slices.Equal(got, want) {
		t.Errorf("stale pin dirs %v, want %v", got, want)
	}
}
