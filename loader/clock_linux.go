package loader

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The program's clock is jiffies (bpf/clock.h); the connection table's and
// the persistence templates' time stamps are in it.

// jiffies reads the program's clock by running xlb_clock.
func (d *Dataplane) jiffies() (uint64, error) {
	buf := make([]byte, 64) // BPF_PROG_TEST_RUN wants at least an Ethernet header
	out := make([]byte, len(buf))
	if _, err := d.clock.Run(&ebpf.RunOptions{Data: buf, DataOut: out}); err != nil {
		return 0, fmt.Errorf("read the data plane's clock: %w", err)
	}
	return binary.NativeEndian.Uint64(out), nil
}

// hzChoices are the tick rates Linux is built with (CONFIG_HZ).
var hzChoices = []uint32{100, 250, 300, 1000}

// hzSample is how long measureHZ counts ticks: long enough to tell 250
// from 300 with a tick's error at either end.
const hzSample = 100 * time.Millisecond

// measureHZ counts jiffies over hzSample of the monotonic clock and
// returns the nearest tick rate Linux is built with.
func (d *Dataplane) measureHZ() (uint32, error) {
	mono := func() time.Duration {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return time.Duration(ts.Nano())
	}
	j0, err := d.jiffies()
	if err != nil {
		return 0, err
	}
	t0 := mono()
	time.Sleep(hzSample)
	j1, err := d.jiffies()
	if err != nil {
		return 0, err
	}
	rate := float64(j1-j0) / (mono() - t0).Seconds()
	best := hzChoices[0]
	for _, hz := range hzChoices {
		if math.Abs(float64(hz)-rate) < math.Abs(float64(best)-rate) {
			best = hz
		}
	}
	return best, nil
}

// initClock learns HZ: from the pinned clock_hz_map when an earlier xlbd
// wrote it (HZ changes only with a reboot, which empties bpffs), else by
// measuring, and writes it for the program and the CLI.
func (d *Dataplane) initClock() error {
	var hz uint32
	if err := d.objs.ClockHzMap.Lookup(uint32(0), &hz); err != nil {
		return fmt.Errorf("read HZ: %w", err)
	}
	if hz == 0 {
		var err error
		if hz, err = d.measureHZ(); err != nil {
			return err
		}
		if err := d.objs.ClockHzMap.Put(uint32(0), hz); err != nil {
			return fmt.Errorf("write HZ: %w", err)
		}
	}
	d.hz = hz
	return nil
}

// clockNow is the program's clock now, with its HZ.
type clockNow struct {
	jiffies uint64
	hz      uint32
}

func (d *Dataplane) now() (clockNow, error) {
	j, err := d.jiffies()
	return clockNow{j, d.hz}, err
}

// since is how long ago the time stamp atime was (0 when it is not in the
// past: a stamp the sweeper wrote may be a tick ahead of a CPU's).
func (c clockNow) since(atime uint64) time.Duration {
	if atime >= c.jiffies || c.hz == 0 {
		return 0
	}
	return time.Duration(c.jiffies-atime) * time.Second / time.Duration(c.hz)
}
