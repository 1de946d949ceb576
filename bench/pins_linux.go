package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xlbproject/xlb/loader"
)

// pinGlob matches the pin directories bench runs make: xlbbench-PID
// (control plane) and xlbbench-e2e-PID (end to end).
const pinGlob = "/sys/fs/bpf/xlbbench-*"

// sweepStalePins removes the pin directories of bench runs whose process is
// gone. A run killed before its cleanups leaves its pins, and its pinned
// XDP links keep programs on the interfaces of namespaces it built.
func sweepStalePins() {
	dirs, _ := filepath.Glob(pinGlob)
	for _, d := range stalePinDirs(dirs, processAlive) {
		if err := loader.RemovePins(d); err != nil {
			logf("remove pins of a bench run that died: %v", err)
			continue
		}
		logf("removed %s: pins of a bench run that died", d)
	}
}

// stalePinDirs are the dirs named for a process (their last "-" field)
// that alive says is gone.
func stalePinDirs(dirs []string, alive func(pid int) bool) []string {
	var stale []string
	for _, d := range dirs {
		name := filepath.Base(d)
		pid, err := strconv.Atoi(name[strings.LastIndex(name, "-")+1:])
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		stale = append(stale, d)
	}
	return stale
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return !errors.Is(err, os.ErrNotExist)
}
