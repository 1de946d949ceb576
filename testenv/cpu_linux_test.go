package testenv

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOnLastCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	last, err := LastCPU()
	if err != nil {
		t.Fatal(err)
	}
	err = OnLastCPU(func() error {
		var in unix.CPUSet
		if err := unix.SchedGetaffinity(0, &in); err != nil {
			return err
		}
		if in.Count() != 1 || !in.IsSet(last) {
			t.Errorf("inside fn: %d CPUs, CPU %d set %v; want only CPU %d", in.Count(), last, in.IsSet(last), last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("after: affinity %v, want it restored to %v", after, before)
	}
}
