package control

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/xlbproject/xlb/loader"
)

// realKey identifies a real of a service across reloads and restarts: the
// same key keeps its id, so flows and counters stay with it.
type realKey struct {
	svc    loader.Endpoint
	real   netip.AddrPort
	method loader.Method
}

// Reconciler writes desired state into the data plane, changing only what
// differs from what the maps hold.
type Reconciler struct {
	dp  *loader.Dataplane
	log *slog.Logger

	services map[loader.Endpoint]loader.Service
	applied  map[loader.Endpoint]*Service // what Apply last wrote
	realIDs  map[realKey]uint32
	usedReal map[uint32]bool
	natReals map[loader.Endpoint]bool
	// ringless are adopted services whose live ring is gone (the loader
	// made svc_rings anew): planned again even when unchanged.
	ringless map[loader.Endpoint]bool
}

// NewReconciler reads what the data plane holds (left by an earlier xlbd)
// so that services and reals keep their ids.
func NewReconciler(dp *loader.Dataplane, log *slog.Logger) (*Reconciler, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Reconciler{
		dp:       dp,
		log:      log,
		applied:  make(map[loader.Endpoint]*Service),
		realIDs:  make(map[realKey]uint32),
		usedReal: make(map[uint32]bool),
		natReals: make(map[loader.Endpoint]bool),
		ringless: make(map[loader.Endpoint]bool),
	}
	var err error
	if r.services, err = dp.Services(); err != nil {
		return nil, fmt.Errorf("adopt data plane state: %w", err)
	}
	byID := make(map[uint32]loader.Endpoint, len(r.services))
	for ep, s := range r.services {
		byID[s.ID] = ep
	}
	reals, err := dp.Reals()
	if err != nil {
		return nil, fmt.Errorf("adopt data plane state: %w", err)
	}
	for id, rl := range reals {
		r.usedReal[id] = true
		ep, ok := byID[rl.ServiceID]
		if !ok {
			continue
		}
		r.realIDs[realKey{ep, netip.AddrPortFrom(rl.Addr, rl.Port), rl.Method}] = id
		if rl.Removed {
			continue
		}
		// What an earlier xlbd applied, as far as the maps tell: enough
		// to retire the reals the new config drops.
		prev := r.applied[ep]
		if prev == nil {
			ls := r.services[ep]
			prev = &Service{Endpoint: ep, Sched: ls.Sched.String(), Method: rl.Method,
				HashPort: ls.HashPort, Persistence: time.Duration(ls.PersistTimeout) * time.Second, PersistenceBits: int(ls.PersistPrefix)}
			if ls.Sched == loader.SchedMH {
				prev.MHTableSize = int(ls.RingLen)
			}
			r.applied[ep] = prev
		}
		prev.Reals = append(prev.Reals, Real{Addr: rl.Addr, Port: rl.Port, Weight: int(rl.Weight)})
	}
	nat, err := dp.NATReals()
	if err != nil {
		return nil, fmt.Errorf("adopt data plane state: %w", err)
	}
	for _, ep := range nat {
		r.natReals[ep] = true
	}
	for ep, s := range r.services {
		if s.RingLen == 0 {
			continue
		}
		ok, err := dp.HasRing(s.ID, s.Slot)
		if err != nil {
			return nil, fmt.Errorf("adopt data plane state: %w", err)
		}
		if !ok {
			r.ringless[ep] = true
		}
	}
	if len(r.services) > 0 {
		log.Info("adopted data plane state", "services", len(r.services), "reals", len(reals), "rings_to_rewrite", len(r.ringless))
	}
	return r, nil
}

// Apply makes the data plane hold st. Services and reals that did not change
// are not touched; established flows keep their real whatever changes.
func (r *Reconciler) Apply(st *State) error {
	if err := r.reserve(st); err != nil {
		return err
	}
	want := make(map[loader.Endpoint]bool, len(st.Services))
	anyPort := false
	for _, svc := range st.Services {
		want[svc.Endpoint] = true
		anyPort = anyPort || svc.Endpoint.Port == 0
	}
	// Before an all-ports service goes in, the program must look for it.
	if anyPort {
		if err := r.dp.SetAnyPort(true); err != nil {
			return err
		}
	}
	// A NAT real's replies are rewritten for as long as it has an id, also
	// after it left the config: its established flows continue.
	wantNAT := make(map[loader.Endpoint]bool)
	for k := range r.realIDs {
		if k.method == loader.MethodNAT {
			wantNAT[loader.Endpoint{Addr: k.real.Addr(), Port: k.real.Port(), Proto: k.svc.Proto}] = true
		}
	}
	// The address filter gains the new addresses before anything uses
	// them, and loses the old ones after the last use is gone.
	if err := r.setAddrFilter(want, wantNAT, true); err != nil {
		return err
	}
	var errs []error
	// NAT reals first, so that replies are recognised before the first
	// request reaches a new real.
	for ep := range wantNAT {
		if !r.natReals[ep] {
			if err := r.dp.AddNATReal(ep); err != nil {
				errs = append(errs, err)
				continue
			}
			r.natReals[ep] = true
		}
	}
	var plans []*servicePlan
	for _, svc := range st.Services {
		p, err := r.planService(svc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p != nil {
			plans = append(plans, p)
		}
	}
	// Every changed ring goes in with one update (one wait for running
	// programs), then each service flips to its new slot.
	writes := make([]loader.RingWrite, len(plans))
	for i, p := range plans {
		writes[i] = loader.RingWrite{ServiceID: p.next.ID, Slot: p.next.Slot, RealIDs: p.ring}
	}
	if err := r.dp.WriteRings(writes); err != nil {
		errs = append(errs, err)
		plans = nil // no new ring is in place: no service flips
	}
	for _, p := range plans {
		if err := r.commitService(p); err != nil {
			errs = append(errs, err)
		}
	}
	for ep := range r.services {
		if want[ep] {
			continue
		}
		if prev := r.applied[ep]; prev != nil {
			if err := r.retireReals(prev, &Service{Endpoint: ep}, r.services[ep].ID); err != nil {
				errs = append(errs, err)
			}
		}
		if err := r.dp.DeleteService(ep); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.services, ep)
		delete(r.applied, ep)
		delete(r.ringless, ep)
		r.log.Info("virtual server removed", "vs", ep.String())
	}
	if !anyPort {
		if err := r.dp.SetAnyPort(false); err != nil {
			errs = append(errs, err)
		}
	}
	r.resolveReals(st)
	for ep := range r.natReals {
		if !wantNAT[ep] {
			if err := r.dp.DeleteNATReal(ep); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(r.natReals, ep)
		}
	}
	if err := r.setAddrFilter(nil, nil, false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// setAddrFilter writes the program's address filter: the VIPs of the
// services and the NAT reals the maps hold, and (widen) those of want and
// wantNAT too.
func (r *Reconciler) setAddrFilter(want, wantNAT map[loader.Endpoint]bool, widen bool) error {
	var vips, nat []netip.Addr
	for ep := range r.services {
		vips = append(vips, ep.Addr)
	}
	for ep := range r.natReals {
		nat = append(nat, ep.Addr)
	}
	if widen {
		for ep := range want {
			vips = append(vips, ep.Addr)
		}
		for ep := range wantNAT {
			nat = append(nat, ep.Addr)
		}
	}
	return r.dp.SetAddrFilter(vips, nat)
}

// resolveReals keeps every real's next hop resolved; a failure is logged,
// not fatal: the real may become reachable later.
func (r *Reconciler) resolveReals(st *State) {
	seen := make(map[netip.Addr]bool)
	rs := newResolver()
	for _, svc := range st.Services {
		for _, rl := range svc.Reals {
			if seen[rl.Addr] {
				continue
			}
			seen[rl.Addr] = true
			if err := rs.keepResolved(rl.Addr); err != nil {
				r.log.Warn("real server unreachable from the director", "real", rl.Addr.String(), "error", err)
			}
		}
	}
}

// reserve allocates ids for new services and reals before anything is
// written; a config that does not fit changes nothing, not even the
// reconciler's bookkeeping.
func (r *Reconciler) reserve(st *State) error {
	usedSvc := make(map[uint32]bool, len(r.services))
	for _, s := range r.services {
		usedSvc[s.ID] = true
	}
	newServices := make(map[loader.Endpoint]loader.Service)
	newReals := make(map[realKey]uint32)
	taken := make(map[uint32]bool)
	usedReal := func(id uint32) bool { return r.usedReal[id] || taken[id] }
	nextSvc, nextReal := uint32(0), uint32(0)
	for _, svc := range st.Services {
		if _, ok := r.services[svc.Endpoint]; !ok {
			for usedSvc[nextSvc] {
				nextSvc++
			}
			if nextSvc >= r.dp.MaxServices() {
				return fmt.Errorf("apply config: more than %d virtual services", r.dp.MaxServices())
			}
			usedSvc[nextSvc] = true
			newServices[svc.Endpoint] = loader.Service{ID: nextSvc, Slot: 1, RingLen: 0}
		}
		for _, rl := range svc.Reals {
			k := realKey{svc.Endpoint, rl.AddrPort(), svc.Method}
			if _, ok := r.realIDs[k]; ok {
				continue
			}
			if _, ok := newReals[k]; ok {
				continue
			}
			for usedReal(nextReal) {
				nextReal++
			}
			if nextReal >= r.dp.MaxReals() {
				return fmt.Errorf("apply config: more than %d real servers in all", r.dp.MaxReals())
			}
			newReals[k] = nextReal
			taken[nextReal] = true
		}
	}
	for ep, s := range newServices {
		r.services[ep] = s
	}
	for k, id := range newReals {
		r.realIDs[k] = id
		r.usedReal[id] = true
	}
	return nil
}

// servicePlan is one service's change, prepared (its reals written) before
// its ring goes in with every other service's.
type servicePlan struct {
	svc, prev *Service
	existed   bool
	next      loader.Service
	ring      []uint32
	live      int
}

// planService writes the reals svc adds or changes and prepares its new
// ring in the idle slot; nil when svc is as applied.
func (r *Reconciler) planService(svc *Service) (*servicePlan, error) {
	cur := r.services[svc.Endpoint]
	prev, existed := r.applied[svc.Endpoint]
	if existed && sameService(prev, svc) && !r.ringless[svc.Endpoint] {
		return nil, nil
	}

	ids := make([]uint32, len(svc.Reals))
	live := 0
	for i, rl := range svc.Reals {
		id := r.realIDs[realKey{svc.Endpoint, rl.AddrPort(), svc.Method}]
		ids[i] = id
		if rl.Weight > 0 {
			live++
		}
		if existed && prev.Method == svc.Method && slices.Contains(prev.Reals, rl) {
			continue
		}
		if err := r.dp.SetReal(id, loader.Real{Addr: rl.Addr, Port: rl.Port, Method: svc.Method, ServiceID: cur.ID, Weight: uint32(rl.Weight)}); err != nil {
			return nil, err
		}
	}
	ring := ringFor(svc)
	realIDs := make([]uint32, len(ring))
	for i, idx := range ring {
		realIDs[i] = ids[idx]
	}
	next := cur
	next.Slot = 1 - cur.Slot
	next.RingLen = uint32(len(realIDs))
	next.Sched = schedulers[svc.Sched]
	next.HashPort = svc.HashPort
	next.PersistTimeout = uint32((svc.Persistence + time.Second - 1) / time.Second)
	next.PersistPrefix = uint8(svc.PersistenceBits)
	if svc.PersistenceBits == 0 {
		next.PersistPrefix = uint8(svc.Endpoint.Addr.BitLen())
	}
	return &servicePlan{svc: svc, prev: prev, existed: existed, next: next, ring: realIDs, live: live}, nil
}

// commitService makes a planned service live, its ring already in place.
func (r *Reconciler) commitService(p *servicePlan) error {
	if err := r.dp.SetService(p.svc.Endpoint, p.next); err != nil {
		return err
	}
	r.services[p.svc.Endpoint] = p.next
	r.applied[p.svc.Endpoint] = p.svc
	delete(r.ringless, p.svc.Endpoint)
	// Only now that the ring without them is live: reals that left are
	// marked removed (and logged as such).
	if p.existed {
		if err := r.retireReals(p.prev, p.svc, p.next.ID); err != nil {
			return err
		}
	}
	r.logChange(p.prev, p.svc, p.live)
	return nil
}

// retireReals marks the reals of prev that svc no longer has as removed: they
// leave the ring, and their established flows continue.
func (r *Reconciler) retireReals(prev, svc *Service, svcID uint32) error {
	for _, old := range prev.Reals {
		if prev.Method == svc.Method && slices.ContainsFunc(svc.Reals, func(rl Real) bool { return rl.AddrPort() == old.AddrPort() }) {
			continue
		}
		id := r.realIDs[realKey{svc.Endpoint, old.AddrPort(), prev.Method}]
		err := r.dp.SetReal(id, loader.Real{Addr: old.Addr, Port: old.Port, Method: prev.Method, ServiceID: svcID, Removed: true})
		if err != nil {
			return err
		}
		r.log.Info("real server removed: no new connections, established ones continue", "real", old.AddrPort().String(), "vs", svc.String())
	}
	return nil
}

func (r *Reconciler) logChange(prev, svc *Service, live int) {
	vs := svc.String()
	if prev == nil {
		r.log.Info("virtual server configured", "vs", vs, "sched", svc.Sched, "method", svc.Method.String(), "reals", len(svc.Reals), "taking_new_flows", live)
	} else {
		r.log.Info("virtual server updated", "vs", vs, "sched", svc.Sched, "method", svc.Method.String(), "reals", len(svc.Reals), "taking_new_flows", live)
	}
	if live == 0 {
		r.log.Warn("virtual server has no real taking new flows: its new connections are dropped", "vs", vs)
	}
}

// sameService reports whether a and b need the same ring. The order of the
// reals does not matter: after a restart it is only known as a set.
func sameService(a, b *Service) bool {
	if a.Sched != b.Sched || a.Method != b.Method || len(a.Reals) != len(b.Reals) ||
		a.HashPort != b.HashPort || mhSize(a) != mhSize(b) ||
		a.Persistence != b.Persistence || a.PersistenceBits != b.PersistenceBits {
		return false
	}
	byAddr := func(x, y Real) int { return x.AddrPort().Compare(y.AddrPort()) }
	ar, br := slices.Clone(a.Reals), slices.Clone(b.Reals)
	slices.SortFunc(ar, byAddr)
	slices.SortFunc(br, byAddr)
	return slices.Equal(ar, br)
}

// mhSize is the Maglev table size of an mh service, the default resolved.
func mhSize(s *Service) int {
	if s.Sched != "mh" {
		return 0
	}
	if s.MHTableSize == 0 {
		return DefaultMaglevSize
	}
	return s.MHTableSize
}
