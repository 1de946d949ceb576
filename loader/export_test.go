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
// the real it holds for it and its slot among the CPU's; ok is false when
// no good slot holds the flow.
func (d *Dataplane) FlowCached(cpu int, src, dst netip.AddrPort, proto Protocol) (realID, slot uint32, ok bool, err error) {
	want := flowKeyOf(src, dst, proto)
	var gen uint32
	if err := d.objs.FlowCacheGen.Lookup(uint32(0), &gen); err != nil {
		return 0, 0, false, err
	}
	var e xlbFlowCacheEntry
	for slot := range flowCacheSlots {
		if err := d.objs.FlowCache.Lookup(uint32(cpu)*flowCacheSlots+slot, &e); err != nil {
			return 0, 0, false, err
		}
		if e.Key == want && e.Gen == gen {
			return e.RealId, slot, true, nil
		}
	}
	return 0, 0, false, nil
}

// FlowCachedOn is the connection table entry's record of the CPUs whose
// flow cache may hold the flow src -> dst: CPUs lists the one CPU it
// names, many is true when it names several.
func (d *Dataplane) FlowCachedOn(src, dst netip.AddrPort, proto Protocol) (cpus []int, many bool, err error) {
	var f xlbFlow
	k := flowKeyOf(src, dst, proto)
	if err := d.objs.Flows.Lookup(&k, &f); err != nil {
		return nil, false, err
	}
	switch f.CachedOn {
	case 0:
		return nil, false, nil
	case uint32(xlbLimitsXLB_CACHED_ON_MANY):
		return nil, true, nil
	}
	return []int{int(f.CachedOn) - 1}, false, nil
}

// FlowCacheSlot is the slot among a CPU's that the flow src -> dst hashes
// to; its set is that slot and its neighbour (slot &^ 1). The hash of
// fcache_set in bpf/flowcache.h, computed again.
func FlowCacheSlot(src, dst netip.AddrPort, proto Protocol) uint32 {
	const golden = 0x9E3779B1
	k := flowKeyOf(src, dst, proto)
	h := k.Src[0] ^ k.Src[1] ^ k.Src[2] ^ k.Src[3]
	h = h*golden ^ k.Dst[0] ^ k.Dst[1] ^ k.Dst[2] ^ k.Dst[3]
	h = (h ^ (uint32(k.Sport)<<16 | uint32(k.Dport)) ^ uint32(k.Proto)) * golden
	return h >> (32 - xlbLimitsXLB_FLOW_CACHE_BITS)
}

func flowKeyOf(src, dst netip.AddrPort, proto Protocol) xlbFlowKey {
	return keyOf(&Flow{Src: src, Dst: dst, Proto: proto})
}
