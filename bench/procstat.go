package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// clockTicks is n of /proc's clock ticks (USER_HZ, 100 a second on Linux).
func clockTicks(n uint64) time.Duration { return time.Duration(n) * time.Second / 100 }

// statCPUTicks is utime plus stime, in clock ticks, from a /proc/PID/stat
// line: its 14th and 15th fields, counted after the command's closing
// parenthesis (the command may hold one).
func statCPUTicks(stat string) (uint64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command in parentheses")
	}
	f := strings.Fields(stat[end+1:]) // from the 3rd field, state, on
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command, want 13 or more", len(f))
	}
	var ticks uint64
	for _, v := range f[11:13] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("utime or stime: %w", err)
		}
		ticks += n
	}
	return ticks, nil
}

// machineCPU is CPU time of the whole machine: busy (user, nice, system,
// irq and softirq), and the part of it spent in softirq, where every
// host's packet receive runs, XDP programs included.
type machineCPU struct{ busy, softirq time.Duration }

func (m machineCPU) minus(o machineCPU) machineCPU {
	return machineCPU{busy: m.busy - o.busy, softirq: m.softirq - o.softirq}
}

// parseStatCPU reads /proc/stat's first line: "cpu" and clock ticks of
// user, nice, system, idle, iowait, irq, softirq, then steal, guest and
// guest_nice where the kernel has them. Only the first seven are this
// machine's own time: steal is the hypervisor's, and guest and guest_nice
// are already in user and nice.
func parseStatCPU(line string) (machineCPU, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("not a cpu line with 7 or more times: %q", line)
	}
	var busy, softirq uint64
	for i, v := range f[1:8] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("time %d: %w", i+1, err)
		}
		switch i {
		case 3, 4: // idle, iowait
			continue
		case 6:
			softirq = n
		}
		busy += n
	}
	return machineCPU{busy: clockTicks(busy), softirq: clockTicks(softirq)}, nil
}
