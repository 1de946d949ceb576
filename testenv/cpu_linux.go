package testenv

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LastCPU is the highest CPU the calling thread may run on. Benchmarks pin
// their load to it, as RSS gives a flow's packets to one CPU: the
// program's per-CPU state is then that CPU's throughout.
func LastCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("read CPU affinity: %w", err)
	}
	for cpu := len(set)*int(unsafe.Sizeof(set[0]))*8 - 1; cpu >= 0; cpu-- {
		if set.IsSet(cpu) {
			return cpu, nil
		}
	}
	return 0, errors.New("no CPU in the affinity mask")
}

// OnLastCPU runs fn with the calling thread, which the caller has locked
// to its goroutine, pinned to LastCPU, and gives the thread its CPUs back
// afterwards.
func OnLastCPU(fn func() error) error {
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	last, err := LastCPU()
	if err != nil {
		return err
	}
	one.Set(last)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", last, err)
	}
	err = fn()
	if rerr := unix.SchedSetaffinity(0, &all); rerr != nil {
		err = errors.Join(err, fmt.Errorf("restore CPU affinity: %w", rerr))
	}
	return err
}
