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

// flowOf is the Flow of the connection table entry k, v, read at now.
func flowOf(k *xlbFlowKey, v *xlbFlow, now clockNow) Flow {
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
	return f
}

// keyOf is the connection table key of f's entry: its Src, Dst and Proto.
func keyOf(f *Flow) xlbFlowKey {
	return xlbFlowKey{
		Src:    addrToBPF(f.Src.Addr()),
		Dst:    addrToBPF(f.Dst.Addr()),
		Sport:  portToBPF(f.Src.Port()),
		Dport:  portToBPF(f.Dst.Port()),
		Proto:  uint8(f.Proto),
		Family: familyOf(f.Src.Addr()),
	}
}

// ScanFlows calls visit for every connection table entry, in batches; the
// entries visit returns true for are deleted. It returns how many entries
// it saw and deleted.
func (d *Dataplane) ScanFlows(visit func(*Flow) bool) (seen, deleted int, err error) {
	keys := make([]xlbFlowKey, scanBatch)
	vals := make([]xlbFlow, scanBatch)
	var cursor ebpf.MapBatchCursor
	var del []xlbFlowKey
	for {
		n, lerr := d.objs.Flows.BatchLookup(&cursor, keys, vals, nil)
		now, err := d.now()
		if err != nil {
			return seen, deleted, err
		}
		for i := 0; i < n; i++ {
			f := flowOf(&keys[i], &vals[i], now)
			seen++
			if visit(&f) {
				del = append(del, keys[i])
			}
		}
		if errors.Is(lerr, ebpf.ErrKeyNotExist) {
			break
		}
		if lerr != nil {
			return seen, deleted, fmt.Errorf("scan connection table: %w", lerr)
		}
	}
	gone, err := d.deleteFlows(del)
	return seen, len(gone), err
}

// LookupFlows reads the entries of flows (each named by its Src, Dst and
// Proto) afresh: fresh[i] is flows[i]'s entry if found[i]. Idle times are
// reckoned from one clock reading taken before the reads, so none is more
// than its entry's.
func (d *Dataplane) LookupFlows(flows []Flow) (fresh []Flow, found []bool, err error) {
	now, err := d.now()
	if err != nil {
		return nil, nil, err
	}
	fresh, found = make([]Flow, len(flows)), make([]bool, len(flows))
	var v xlbFlow
	for i := range flows {
		k := keyOf(&flows[i])
		if err := d.objs.Flows.Lookup(&k, &v); errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("read connection %s -> %s: %w", flows[i].Src, flows[i].Dst, err)
		}
		fresh[i], found[i] = flowOf(&k, &v, now), true
	}
	return fresh, found, nil
}

// DeleteFlows deletes the entries of flows (each named by its Src, Dst and
// Proto) and returns them as they were when deleted; an entry no longer in
// the table is left out.
func (d *Dataplane) DeleteFlows(flows []Flow) (gone []Flow, err error) {
	keys := make([]xlbFlowKey, len(flows))
	for i := range flows {
		keys[i] = keyOf(&flows[i])
	}
	return d.deleteFlows(keys)
}

// deleteFlows deletes the entries of keys, returns them as they were when
// deleted, and empties the flow caches if one may still serve them.
func (d *Dataplane) deleteFlows(keys []xlbFlowKey) (gone []Flow, err error) {
	if len(keys) == 0 {
		return nil, nil
	}
	now, err := d.now()
	if err != nil {
		return nil, err
	}
	// The latest last packet of the deleted entries, as each was when
	// deleted (a packet may have come since the caller read it).
	var lastTouched uint64
	var v xlbFlow
	for i := range keys {
		if err = d.objs.Flows.LookupAndDelete(&keys[i], &v); err == nil {
			gone = append(gone, flowOf(&keys[i], &v, now))
			lastTouched = max(lastTouched, v.Atime)
		} else if errors.Is(err, ebpf.ErrKeyNotExist) {
			err = nil
		} else {
			err = fmt.Errorf("expire connection: %w", err)
			break
		}
	}
	if len(gone) > 0 {
		err = errors.Join(err, d.flushFlowCacheFor(lastTouched))
	}
	return gone, err
}

// flowCacheSlots is how many flows each CPU's flow cache holds: the
// established flows whose packets skip the connection table's lookup
// (bpf/flowcache.h). flow_cache_reply has as many, for the NAT replies.
const flowCacheSlots = uint32(xlbLimitsXLB_FLOW_CACHE_SLOTS)

// flushFlowCacheFor empties every CPU's flow cache after entries left the
// connection table, the last of them touched at lastTouched, if a cache
// may still serve one. A slot is filled just after a table lookup that
// touched its entry, with the same clock reading (or a tick later, when
// another CPU's older reading landed last), and serves for FlowCacheTTL:
// deleting only entries idle for longer, a sweep's usual work, keeps the
// caches. A CPU that looked an entry up just before its delete may still
// fill a slot from it; that slot sends the flow to its real for the TTL,
// as if the delete had come a moment later. xlbd is the generation's only
// writer (bpf/maps.h).
func (d *Dataplane) flushFlowCacheFor(lastTouched uint64) error {
	now, err := d.now()
	ttl := uint64(d.hz) * uint64(xlbLimitsXLB_FLOW_CACHE_TTL_SECONDS)
	if err == nil && ttl > 0 && int64(now.jiffies-lastTouched) > int64(ttl) {
		return nil
	}
	var gen uint32
	if err := d.objs.FlowCacheGen.Lookup(uint32(0), &gen); err != nil {
		return fmt.Errorf("flush the flow cache: %w", err)
	}
	if err := d.objs.FlowCacheGen.Put(uint32(0), gen+1); err != nil {
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
