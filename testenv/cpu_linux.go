package testenv

import (
	"errors"
	"fmt"
	"runtime"
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
	return lastIn(&set)
}

func lastIn(set *unix.CPUSet) (int, error) {
	for cpu := len(set)*int(unsafe.Sizeof(set[0]))*8 - 1; cpu >= 0; cpu-- {
		if set.IsSet(cpu) {
			return cpu, nil
		}
	}
	return 0, errors.New("no CPU in the affinity mask")
}

// OnLastCPU runs fn on the calling goroutine's thread pinned to LastCPU.
// The thread gets its CPUs back afterwards; if it cannot, it stays locked
// to the goroutine, so that it ends with it rather than serve others
// pinned.
func OnLastCPU(fn func() error) (err error) {
	runtime.LockOSThread()
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	last, err := lastIn(&all)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	one.Set(last)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin to CPU %d: %w", last, err)
	}
	defer func() {
		if rerr := unix.SchedSetaffinity(0, &all); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore CPU affinity: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}
