package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
)

// Flow is one entry of the connection table.
type Flow struct {
	// Src and Dst are the addresses of the entry's packets: client ->
	// VIP for a forward entry, NAT real -> client for a reply entry.
	Src, Dst netip.AddrPort
	Proto    Protocol
	// Reply marks a NAT reply entry; VIP is what its packets' source
	// becomes again.
	Reply bool
	VIP   netip.AddrPort
	// State is the connection's state (forward entries only).
	State     ConnState
	RealID    uint32
	ServiceID uint32
	// Idle is the time since the entry's last packet.
	Idle time.Duration
}

// SinceLastPacket is the least time since the entry's last packet. A
// CPU's flow cache serves the packets of an ESTABLISHED or UDP flow, and a
// NAT real's replies, for up to FlowCacheTTL without the table, so such an
// entry's Idle may lag its last packet by that long.
func (f *Flow) SinceLastPacket() time.Duration {
	if f.Reply || f.State == StateEstablished || f.State == StateUDP {
		return max(f.Idle-FlowCacheTTL, 0)
	}
	return f.Idle
}

// ForwardKey is the forward entry's Src, Dst and Proto for a reply entry.
func (f *Flow) ForwardKey() (src, dst netip.AddrPort) {
	return f.Dst, f.VIP
}

const scanBatch = 4096

// ScanFlows calls visit for every connection table entry, in batches; the
// entries visit returns true for are deleted. It returns how many entries
// it saw and deleted.
func (d *Dataplane) ScanFlows(visit func(*Flow) bool) (seen, deleted int, err error) {
	keys := make([]xlbFlowKey, scanBatch)
	vals := make([]xlbFlow, scanBatch)
	var cursor ebpf.MapBatchCursor
	var del []xlbFlowKey
	// Whether a CPU's flow cache may still serve the entries to delete.
	var cached []bool
	for {
		n, lerr := d.objs.Flows.BatchLookup(&cursor, keys, vals, nil)
		now, err := d.now()
		if err != nil {
			return seen, deleted, err
		}
		for i := 0; i < n; i++ {
			k, v := keys[i], vals[i]
			f := Flow{
				Src:       netip.AddrPortFrom(addrFromBPF(k.Family, k.Src), portFromBPF(k.Sport)),
				Dst:       netip.AddrPortFrom(addrFromBPF(k.Family, k.Dst), portFromBPF(k.Dport)),
				Proto:     Protocol(k.Proto),
				Reply:     v.Dir == xlbFlowDirXLB_FLOW_REPLY,
				State:     ConnState(v.State),
				RealID:    v.RealId,
				ServiceID: v.SvcId,
				Idle:      now.since(v.Atime),
			}
			if f.Reply {
				f.VIP = netip.AddrPortFrom(addrFromBPF(k.Family, v.Vaddr), portFromBPF(v.Vport))
			}
			seen++
			if visit(&f) {
				del = append(del, k)
				cached = append(cached, f.Idle <= FlowCacheTTL)
			}
		}
		if errors.Is(lerr, ebpf.ErrKeyNotExist) {
			break
		}
		if lerr != nil {
			return seen, deleted, fmt.Errorf("scan connection table: %w", lerr)
		}
	}
	var derr error
	flush := false
	for i, k := range del {
		if err := d.objs.Flows.Delete(&k); err == nil {
			deleted++
			flush = flush || cached[i]
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			derr = fmt.Errorf("expire connection: %w", err)
			break
		}
	}
	if flush {
		derr = errors.Join(derr, d.flushFlowCache())
	}
	return seen, deleted, derr
}

// flowCacheSlots is how many flows each CPU's flow cache holds: the
// established flows whose packets skip the connection table's lookup
// (bpf/flowcache.h).
const flowCacheSlots = uint32(xlbLimitsXLB_FLOW_CACHE_SLOTS)

// flushFlowCache empties every CPU's flow cache after flows that a cache
// may still serve left the connection table, so that none of them is
// served from a cache. A slot serves for FlowCacheTTL after a table
// lookup that touched its flow, so an entry idle for longer is in no
// cache, and deleting only such entries (a sweep's usual work) needs no
// flush. xlbd is the only writer of its half of the generation
// (bpf/maps.h).
func (d *Dataplane) flushFlowCache() error {
	const control = uint32(1)
	var gen uint32
	if err := d.objs.FlowCacheGen.Lookup(control, &gen); err != nil {
		return fmt.Errorf("flush the flow cache: %w", err)
	}
	if err := d.objs.FlowCacheGen.Put(control, gen+1); err != nil {
		return fmt.Errorf("flush the flow cache: %w", err)
	}
	return nil
}

// PersistAction is what ScanPersistence does with a template.
type PersistAction int

const (
	PersistKeep    PersistAction = iota // leave it
	PersistDelete                       // expire it
	PersistRefresh                      // restart its timeout now
)

// Persistence is one persistence template: a client prefix of a service
// and the real it sticks to.
type Persistence struct {
	ServiceID uint32
	Client    netip.Addr // the client address masked to the granularity
	RealID    uint32
	Idle      time.Duration // since the prefix's last new connection
}

// ScanPersistence calls visit for every persistence template and deletes
// or refreshes it as visit says. It returns how many it deleted.
func (d *Dataplane) ScanPersistence(visit func(*Persistence) PersistAction) (deleted int, err error) {
	keys := make([]xlbPersistKey, scanBatch)
	vals := make([]xlbPersist, scanBatch)
	var cursor ebpf.MapBatchCursor
	var del, refresh []xlbPersistKey
	var refreshVals []xlbPersist
	for {
		n, lerr := d.objs.PersistTmpl.BatchLookup(&cursor, keys, vals, nil)
		now, err := d.now()
		if err != nil {
			return deleted, err
		}
		for i := 0; i < n; i++ {
			t := Persistence{ServiceID: keys[i].SvcId, Client: addrFromBPF(keys[i].Family, keys[i].Addr), RealID: vals[i].RealId, Idle: now.since(vals[i].Atime)}
			switch visit(&t) {
			case PersistDelete:
				del = append(del, keys[i])
			case PersistRefresh:
				v := vals[i]
				v.Atime = now.jiffies
				refresh = append(refresh, keys[i])
				refreshVals = append(refreshVals, v)
			}
		}
		if errors.Is(lerr, ebpf.ErrKeyNotExist) {
			break
		}
		if lerr != nil {
			return deleted, fmt.Errorf("scan persistence templates: %w", lerr)
		}
	}
	for i := range refresh {
		// Only a template that still exists: the data plane may have
		// replaced it meanwhile with a newer one.
		if err := d.objs.PersistTmpl.Update(&refresh[i], &refreshVals[i], ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return deleted, fmt.Errorf("refresh persistence template: %w", err)
		}
	}
	for _, k := range del {
		if err := d.objs.PersistTmpl.Delete(&k); err == nil {
			deleted++
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return deleted, fmt.Errorf("expire persistence template: %w", err)
		}
	}
	return deleted, nil
}
