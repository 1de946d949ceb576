package loader

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// SetService creates or replaces the service at ep. Replacing is atomic for
// packets: each sees the old or the new value, never a mix.
func (d *Dataplane) SetService(ep Endpoint, svc Service) error {
	if svc.ID >= d.maxServices {
		return fmt.Errorf("set service %s: id %d beyond the limit of %d services", ep, svc.ID, d.maxServices)
	}
	v := svc.toBPF()
	k := ep.toBPF()
	if err := d.objs.Services.Put(&k, &v); err != nil {
		return fmt.Errorf("set service %s: %w", ep, err)
	}
	return nil
}

// DeleteService removes the service at ep; its packets pass to the kernel
// from then on.
func (d *Dataplane) DeleteService(ep Endpoint) error {
	k := ep.toBPF()
	if err := d.objs.Services.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete service %s: %w", ep, err)
	}
	return nil
}

// Services reads every service from the data plane.
func (d *Dataplane) Services() (map[Endpoint]Service, error) {
	out := make(map[Endpoint]Service)
	var k xlbEndpoint
	var v xlbService
	it := d.objs.Services.Iterate()
	for it.Next(&k, &v) {
		out[endpointFromBPF(k)] = serviceFromBPF(v)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	return out, nil
}

func (svc Service) toBPF() xlbService {
	v := xlbService{Id: svc.ID, Sched: xlbSched(svc.Sched), Slot: svc.Slot, RingLen: svc.RingLen,
		PersistTimeout: svc.PersistTimeout, PersistPlen: svc.PersistPrefix}
	if svc.HashPort {
		v.Flags |= uint32(xlbServiceFlagsXLB_SVC_F_HASH_PORT)
	}
	return v
}

func serviceFromBPF(v xlbService) Service {
	return Service{ID: v.Id, Sched: Sched(v.Sched), Slot: v.Slot, RingLen: v.RingLen,
		HashPort:       v.Flags&uint32(xlbServiceFlagsXLB_SVC_F_HASH_PORT) != 0,
		PersistTimeout: v.PersistTimeout, PersistPrefix: v.PersistPlen}
}

// RingWrite is the ring of one slot of one service: the real ids its
// scheduler walks.
type RingWrite struct {
	ServiceID, Slot uint32
	RealIDs         []uint32
}

// WriteRing fills slot of service svcID's ring with realIDs. Write the slot
// that is not live, then make it live with SetService.
func (d *Dataplane) WriteRing(svcID, slot uint32, realIDs []uint32) error {
	return d.WriteRings([]RingWrite{{ServiceID: svcID, Slot: slot, RealIDs: realIDs}})
}

// WriteRings fills every given ring slot and swaps them all into svc_rings
// with one batch update: the kernel waits for running programs (an RCU
// grace period, milliseconds) once per update of a map of maps, so a batch
// of a thousand services costs one wait, not a thousand.
func (d *Dataplane) WriteRings(writes []RingWrite) error {
	if d.ringSpec == nil {
		return errors.New("write rings: the data plane is open read-only")
	}
	keys := make([]uint32, 0, len(writes))
	fds := make([]uint32, 0, len(writes))
	rings := make([]*ebpf.Map, 0, len(writes))
	defer func() {
		for _, m := range rings {
			m.Close()
		}
	}()
	for _, w := range writes {
		ring, err := d.newRing(w)
		if err != nil {
			return err
		}
		rings = append(rings, ring)
		keys = append(keys, w.ServiceID*2+w.Slot)
		fds = append(fds, uint32(ring.FD()))
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := d.objs.SvcRings.BatchUpdate(keys, fds, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("write rings of %d services: swap in: %w", len(keys), err)
		}
		for i, key := range keys {
			if err := d.objs.SvcRings.Put(key, rings[i]); err != nil {
				return fmt.Errorf("write ring of service %d: swap in: %w", writes[i].ServiceID, err)
			}
		}
	}
	return nil
}

// newRing creates and fills the inner map of one ring slot.
func (d *Dataplane) newRing(w RingWrite) (*ebpf.Map, error) {
	if len(w.RealIDs) > MaxRingSize {
		return nil, fmt.Errorf("write ring of service %d: %d entries, a ring holds at most %d", w.ServiceID, len(w.RealIDs), MaxRingSize)
	}
	if w.ServiceID >= d.maxServices || w.Slot > 1 {
		return nil, fmt.Errorf("write ring of service %d slot %d: out of range", w.ServiceID, w.Slot)
	}
	chunks := ringChunks(w.RealIDs)
	spec := d.ringSpec.Copy()
	spec.MaxEntries = uint32(max(1, len(chunks)))
	ring, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, fmt.Errorf("write ring of service %d: create ring: %w", w.ServiceID, err)
	}
	if len(chunks) == 0 {
		return ring, nil
	}
	keys := make([]uint32, len(chunks))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := ring.BatchUpdate(keys, chunks, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			ring.Close()
			return nil, fmt.Errorf("write ring of service %d: %w", w.ServiceID, err)
		}
		for i := range keys {
			if err := ring.Put(keys[i], chunks[i]); err != nil {
				ring.Close()
				return nil, fmt.Errorf("write ring of service %d: %w", w.ServiceID, err)
			}
		}
	}
	return ring, nil
}

// ringChunk is one value of a ring map (struct ring_chunk): ringChunkLen
// consecutive entries.
type ringChunk [ringChunkLen]uint32

const ringChunkLen = int(xlbLimitsXLB_RING_CHUNK)

// ringChunks packs a ring's entries into its map's values; the last one's
// unused entries stay zero (the program reads only the ring's length).
func ringChunks(ids []uint32) []ringChunk {
	chunks := make([]ringChunk, (len(ids)+ringChunkLen-1)/ringChunkLen)
	for i, id := range ids {
		chunks[i/ringChunkLen][i%ringChunkLen] = id
	}
	return chunks
}

// HasRing reports whether slot of service svcID holds a ring. An adopted
// service's live ring is gone when svc_rings was made anew (a new ring
// layout): its ring must be written again.
func (d *Dataplane) HasRing(svcID, slot uint32) (bool, error) {
	var id uint32
	err := d.objs.SvcRings.Lookup(svcID*2+slot, &id)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read ring of service %d: %w", svcID, err)
	}
	return true, nil
}

// Ring reads n entries of slot of service svcID's ring.
func (d *Dataplane) Ring(svcID, slot, n uint32) ([]uint32, error) {
	var id uint32
	if err := d.objs.SvcRings.Lookup(svcID*2+slot, &id); err != nil {
		return nil, fmt.Errorf("read ring of service %d: %w", svcID, err)
	}
	ring, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return nil, fmt.Errorf("read ring of service %d: %w", svcID, err)
	}
	defer ring.Close()
	if n > ring.MaxEntries()*uint32(ringChunkLen) {
		return nil, fmt.Errorf("read ring of service %d: %d entries asked, the ring holds at most %d", svcID, n, ring.MaxEntries()*uint32(ringChunkLen))
	}
	out := make([]uint32, 0, n)
	var chunk ringChunk
	for c := uint32(0); len(out) < int(n); c++ {
		if err := ring.Lookup(c, &chunk); err != nil {
			return nil, fmt.Errorf("read ring of service %d: %w", svcID, err)
		}
		out = append(out, chunk[:min(ringChunkLen, int(n)-len(out))]...)
	}
	return out, nil
}

const realRemoved = xlbRealFlagsXLB_REAL_F_REMOVED

// SetReal writes real id. A real's address never changes under an id: a
// changed real gets a new id, so flows pinned to the old one stay correct.
func (d *Dataplane) SetReal(id uint32, r Real) error {
	if id >= d.maxReals {
		return fmt.Errorf("set real %s: id %d beyond the limit of %d reals", r.Addr, id, d.maxReals)
	}
	v := xlbReal{Addr: addrToBPF(r.Addr), Port: portToBPF(r.Port), Family: familyOf(r.Addr), Method: xlbMethod(r.Method), SvcId: r.ServiceID, Weight: r.Weight}
	if r.Removed {
		v.Flags |= realRemoved
	}
	if err := d.objs.Reals.Put(id, &v); err != nil {
		return fmt.Errorf("set real %d (%s): %w", id, r.Addr, err)
	}
	d.realsEnd.wrote(id)
	return nil
}

// Reals reads every configured real (family set) with its id. Only ids
// below realsEnd are read: all 65,536 took about 18 ms, most of what a
// sweep of an empty connection table cost.
func (d *Dataplane) Reals() (map[uint32]Real, error) {
	out := make(map[uint32]Real)
	end, writes := d.realsEnd.get(d.maxReals)
	var found uint32
	err := readArray(d.objs.Reals, end, func(k uint32, v *xlbReal) {
		if v.Family != 0 {
			out[k] = Real{Addr: addrFromBPF(v.Family, v.Addr), Port: portFromBPF(v.Port), Method: Method(v.Method), ServiceID: v.SvcId, Weight: v.Weight, Removed: v.Flags&realRemoved != 0}
			found = k + 1
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read reals: %w", err)
	}
	d.realsEnd.lower(found, writes)
	return out, nil
}

// realsEnd is where the written reals end: every id at or above it is
// empty. A real is never cleared and only xlbd writes them, through the
// Dataplane Open made (one xlbd per pin directory), so that Dataplane
// finds the end with one read of the whole map and moves it on SetReal.
// Another Dataplane (OpenPinned's, the CLI's) reads the whole map every
// time: xlbd may write reals above any end it saw.
type realsEnd struct {
	mu     sync.Mutex
	writer bool // the Dataplane is Open's
	known  bool
	end    uint32
	writes uint64 // SetReal calls, so that a read that raced one does not lower end
}

// get is the end to read up to (size, the map's, while unknown) and the writes so far.
func (e *realsEnd) get(size uint32) (uint32, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.writer || !e.known {
		return size, e.writes
	}
	return e.end, e.writes
}

// wrote records that SetReal wrote id.
func (e *realsEnd) wrote(id uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.end = max(e.end, id+1)
	e.writes++
}

// lower takes found, the end a read saw, unless a write came after the
// read began: that write may be one the read missed.
func (e *realsEnd) lower(found uint32, writesBefore uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.writes == writesBefore {
		e.end, e.known = found, true
	}
}

// readArray calls visit for elements 0 to n-1 of the array map m, read in
// batches: an element at a time, the 65,536 reals took 131,072 system
// calls and about 200 ms.
func readArray[V any](m *ebpf.Map, n uint32, visit func(k uint32, v *V)) error {
	n = min(n, m.MaxEntries())
	keys := make([]uint32, min(n, scanBatch))
	vals := make([]V, len(keys))
	var cursor ebpf.MapBatchCursor
	for read := uint32(0); read < n; {
		want := min(n-read, uint32(len(keys)))
		got, err := m.BatchLookup(&cursor, keys[:want], vals[:want], nil)
		for i := range got {
			visit(keys[i], &vals[i])
		}
		read += uint32(got)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// AddNATReal marks ep as a NAT real whose packets may be replies to rewrite.
func (d *Dataplane) AddNATReal(ep Endpoint) error {
	k := ep.toBPF()
	if err := d.objs.NatReals.Put(&k, uint32(1)); err != nil {
		return fmt.Errorf("add NAT real %s: %w", ep, err)
	}
	return nil
}

// DeleteNATReal stops treating ep's packets as NAT replies.
func (d *Dataplane) DeleteNATReal(ep Endpoint) error {
	k := ep.toBPF()
	if err := d.objs.NatReals.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete NAT real %s: %w", ep, err)
	}
	return nil
}

// NATReals lists the endpoints treated as NAT reals.
func (d *Dataplane) NATReals() ([]Endpoint, error) {
	var out []Endpoint
	var k xlbEndpoint
	var v uint32
	it := d.objs.NatReals.Iterate()
	for it.Next(&k, &v) {
		out = append(out, endpointFromBPF(k))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read NAT reals: %w", err)
	}
	return out, nil
}

// RealStats sums real id's counters over all CPUs.
func (d *Dataplane) RealStats(id uint32) (RealCounters, error) {
	var per []xlbRealCounters
	if err := d.objs.RealStats.Lookup(id, &per); err != nil {
		return RealCounters{}, fmt.Errorf("read counters of real %d: %w", id, err)
	}
	var sum RealCounters
	for _, c := range per {
		sum.Add(RealCounters{Conns: c.Conns, PacketsIn: c.PacketsIn, BytesIn: c.BytesIn, PacketsOut: c.PacketsOut, BytesOut: c.BytesOut})
	}
	return sum, nil
}

// RealConns reads real id's connection counts.
func (d *Dataplane) RealConns(id uint32) (ConnCounts, error) {
	var v xlbConnCounts
	if err := d.objs.RealConns.Lookup(id, &v); err != nil {
		return ConnCounts{}, fmt.Errorf("read connections of real %d: %w", id, err)
	}
	return ConnCounts{Active: v.Active, Inactive: v.Inactive}, nil
}

// SetRealConns overwrites real id's connection counts, for the sweeper's
// recount and for an id given to a new real.
func (d *Dataplane) SetRealConns(id uint32, c ConnCounts) error {
	v := xlbConnCounts{Active: c.Active, Inactive: c.Inactive}
	if err := d.objs.RealConns.Put(id, &v); err != nil {
		return fmt.Errorf("set connections of real %d: %w", id, err)
	}
	return nil
}

// RealConnsBelow reads the connection counts of real ids 0 to n-1 in one
// pass; the result is indexed by id.
func (d *Dataplane) RealConnsBelow(n uint32) ([]ConnCounts, error) {
	out := make([]ConnCounts, min(n, d.objs.RealConns.MaxEntries()))
	err := readArray(d.objs.RealConns, n, func(k uint32, v *xlbConnCounts) {
		out[k] = ConnCounts{Active: v.Active, Inactive: v.Inactive}
	})
	if err != nil {
		return nil, fmt.Errorf("read connection counts: %w", err)
	}
	return out, nil
}
