package loader_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/loader"
)

// TestXDPReasonsPerInterface: a device xlb attached to has pass/drop
// counters of its own, kept across a detach and a new attach; the totals
// are their sums.
func TestXDPReasonsPerInterface(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	attach := func(ifname string) {
		t.Helper()
		var err error
		h.do(func() { _, err = h.dp.Attach(ifname, loader.ModeNative) })
		if err != nil {
			t.Fatal(err)
		}
	}
	attach(ifNameA)
	attach(ifNameB)
	send := func(in []byte, ifindex, n int) {
		t.Helper()
		for range n {
			if _, _, err := h.run(append([]byte(nil), in...), ifindex); err != nil {
				t.Fatal(err)
			}
		}
	}
	nonVIP := fromClient(addrReal3, 80, 42000, layers.IPProtocolTCP).bytes()
	truncated := nonVIP[:14+10]
	send(nonVIP, h.ifA, 3)
	send(truncated, h.ifB, 2)
	var err error
	h.do(func() { err = h.dp.Detach(ifNameB) })
	if err != nil {
		t.Fatal(err)
	}
	attach(ifNameB)
	send(truncated, h.ifB, 1)
	send(nonVIP, 1, 1) // lo: never attached

	byIf, err := h.dp.ReasonStatsByInterface()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ifname string
		reason loader.Reason
		want   uint64
	}{
		{ifNameA, loader.PassNoService, 3},
		{ifNameA, loader.PassMalformed, 0},
		{ifNameB, loader.PassMalformed, 3},
		{ifNameB, loader.PassNoService, 0},
		{loader.OtherInterfaces, loader.PassNoService, 1},
	} {
		if got := byIf[c.ifname][c.reason].Packets; got != c.want {
			t.Errorf("%s %q: %d packets, want %d (all: %v)", c.ifname, c.reason, got, c.want, byIf)
		}
	}
	if got := byIf[ifNameB][loader.PassMalformed].Bytes; got != 3*uint64(len(truncated)) {
		t.Errorf("%s malformed: %d bytes, want %d", ifNameB, got, 3*len(truncated))
	}
	total, err := h.dp.ReasonStats()
	if err != nil {
		t.Fatal(err)
	}
	if got := total[loader.PassNoService].Packets; got != 4 {
		t.Errorf("total %q: %d packets, want 4", loader.PassNoService, got)
	}
}
