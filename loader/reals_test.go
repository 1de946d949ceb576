//go:build linux

package loader

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/xlbproject/xlb/testenv"
)

// Reals reads only up to where the written reals end once it has found
// that, and still finds a real written above it afterwards. A read-only
// Dataplane (the CLI's) finds a real xlbd wrote above the end it saw, and
// another Dataplane over the same pins (a restarted xlbd) reads them all.
func TestIntegrationRealsEnd(t *testing.T) {
	testenv.RequirePrivileged(t)
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbtest-reals-%d", os.Getpid())
	if err := RemovePins(pinDir); err != nil { // an earlier run's, killed
		t.Fatal(err)
	}
	if _, err := EnsureBPFFS(pinDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemovePins(pinDir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	dp, err := Open(Options{PinDir: pinDir, FlowTableSize: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()

	set := func(id uint32) {
		t.Helper()
		addr := netip.AddrFrom4([4]byte{198, 18, byte(id >> 8), byte(id)})
		if err := dp.SetReal(id, Real{Addr: addr, Port: 80, Method: MethodDR, ServiceID: 1, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(d *Dataplane, want ...uint32) {
		t.Helper()
		reals, err := d.Reals()
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(reals)); !slices.Equal(got, want) {
			t.Errorf("reals %v, want %v", got, want)
		}
	}
	cli, err := OpenPinned(pinDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	read(dp)
	if end, _ := dp.realsEnd.get(dp.maxReals); end != 0 {
		t.Errorf("after reading no reals the end is %d, want 0", end)
	}
	set(1)
	set(3)
	read(dp, 1, 3)
	read(cli, 1, 3)
	if end, _ := dp.realsEnd.get(dp.maxReals); end != 4 {
		t.Errorf("after reading reals 1 and 3 the end is %d, want 4", end)
	}
	last := dp.maxReals - 1
	set(last)
	read(dp, 1, 3, last)
	read(cli, 1, 3, last)

	again, err := Open(Options{PinDir: pinDir, FlowTableSize: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	read(again, 1, 3, last)
}

// A read that a SetReal raced does not lower the end: the read may have
// passed the real's id before it was written.
func TestRealsEndRacedRead(t *testing.T) {
	e := realsEnd{writer: true}
	if end, _ := e.get(100); end != 100 {
		t.Fatalf("unknown end read as %d, want the map's size", end)
	}
	_, writes := e.get(100)
	e.wrote(7) // during the read, which saw none
	e.lower(0, writes)
	if end, _ := e.get(100); end != 100 {
		t.Errorf("a raced read made the end %d, want it still unknown (100)", end)
	}
	_, writes = e.get(100)
	e.lower(8, writes)
	if end, _ := e.get(100); end != 8 {
		t.Errorf("end %d after a read that saw up to id 7, want 8", end)
	}
	e.wrote(3)
	if end, _ := e.get(100); end != 8 {
		t.Errorf("writing id 3 moved the end to %d, want 8", end)
	}
	e.wrote(20)
	if end, _ := e.get(100); end != 21 {
		t.Errorf("writing id 20 left the end at %d, want 21", end)
	}
}
