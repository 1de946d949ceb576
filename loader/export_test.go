//go:build linux

package loader

import (
	"net/netip"

	"github.com/cilium/ebpf"
)

// XDPProgram exposes the loaded XDP program to the golden-packet and fuzz
// tests, which run it through BPF_PROG_TEST_RUN. It is not part of the
// package's API: only this package's tests see it.
func (d *Dataplane) XDPProgram() *ebpf.Program { return d.objs.XlbXdp }

// FlowTable exposes the connection table, whose key and value sizes the
// benchmarks' table-only reference program copies.
func (d *Dataplane) FlowTable() *ebpf.Map { return d.objs.Flows }

// HZ is the tick rate the loader learned for the program's clock.
func (d *Dataplane) HZ() uint32 { return d.hz }

// FlowCached finds the flow src -> dst in CPU cpu's flow cache and returns
// the real it holds for it; ok is false when no good slot holds the flow.
func (d *Dataplane) FlowCached(cpu int, src, dst netip.AddrPort, proto Protocol) (realID uint32, ok bool, err error) {
	want := xlbFlowKey{Src: addrToBPF(src.Addr()), Dst: addrToBPF(dst.Addr()), Sport: portToBPF(src.Port()),
		Dport: portToBPF(dst.Port()), Proto: uint8(proto), Family: familyOf(src.Addr())}
	var dataplaneGen, controlGen uint32
	if err := d.objs.FlowCacheGen.Lookup(uint32(0), &dataplaneGen); err != nil {
		return 0, false, err
	}
	if err := d.objs.FlowCacheGen.Lookup(uint32(1), &controlGen); err != nil {
		return 0, false, err
	}
	var e xlbFlowCacheEntry
	for slot := uint32(cpu) * flowCacheSlots; slot < uint32(cpu+1)*flowCacheSlots; slot++ {
		if err := d.objs.FlowCache.Lookup(slot, &e); err != nil {
			return 0, false, err
		}
		if e.Key == want && e.Gen == dataplaneGen+controlGen {
			return e.RealId, true, nil
		}
	}
	return 0, false, nil
}
