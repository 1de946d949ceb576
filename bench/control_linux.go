package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

const (
	ctlServices = 1000
	ctlReals    = 64
	ctlHosts    = 1024
	ctlMaglev   = 1000
)

// ctlRealAddr is the j-th real host, in 198.19.1.0-198.19.4.255.
func ctlRealAddr(j int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, byte(1 + j/256), byte(j % 256)})
}

// ctlState is ctlServices DR services (rr) on VIPs in 198.18.10.0/23 and
// up, each with ctlReals reals of the ctlHosts hosts, port 8080.
func ctlState() *control.State {
	st := &control.State{}
	for i := range ctlServices {
		vip := netip.AddrFrom4([4]byte{198, 18, byte(10 + i/250), byte(1 + i%250)})
		svc := &control.Service{Endpoint: loader.Endpoint{Addr: vip, Port: 80, Proto: loader.ProtoTCP}, Sched: "rr", Method: loader.MethodDR}
		for k := range ctlReals {
			svc.Reals = append(svc.Reals, control.Real{Addr: ctlRealAddr((i*ctlReals + k) % ctlHosts), Port: 8080, Weight: 1})
		}
		st.Services = append(st.Services, svc)
	}
	return st
}

func cloneState(st *control.State) *control.State {
	out := &control.State{}
	for _, s := range st.Services {
		c := *s
		c.Reals = slices.Clone(s.Reals)
		out.Services = append(out.Services, &c)
	}
	return out
}

// snapshot is the data plane's services, live rings and reals.
type snapshot struct {
	services map[loader.Endpoint]loader.Service
	rings    map[loader.Endpoint][]uint32
	reals    map[uint32]loader.Real
}

func takeSnapshot(dp *loader.Dataplane) (snapshot, error) {
	s := snapshot{rings: make(map[loader.Endpoint][]uint32)}
	var err error
	if s.services, err = dp.Services(); err != nil {
		return s, err
	}
	for ep, svc := range s.services {
		if s.rings[ep], err = dp.Ring(svc.ID, svc.Slot, svc.RingLen); err != nil {
			return s, err
		}
	}
	if s.reals, err = dp.Reals(); err != nil {
		return s, err
	}
	return s, nil
}

// diff says what changed from a to b; changed is the service that was
// meant to change, with realIDs its reals' ids.
func diff(a, b snapshot, changed loader.Endpoint) Touched {
	t := Touched{OnlyChanged: true}
	changedID := a.services[changed].ID
	eps := slices.SortedFunc(maps.Keys(b.services), func(x, y loader.Endpoint) int { return x.Addr.Compare(y.Addr) })
	for _, ep := range eps {
		if a.services[ep] != b.services[ep] || !slices.Equal(a.rings[ep], b.rings[ep]) {
			t.Services = append(t.Services, ep.String())
			if ep != changed {
				t.OnlyChanged = false
			}
		}
	}
	for id, r := range b.reals {
		if a.reals[id] != r {
			t.Reals = append(t.Reals, id)
			if r.ServiceID != changedID {
				t.OnlyChanged = false
			}
		}
	}
	slices.Sort(t.Reals)
	return t
}

// setupControlNet gives the namespace a veth whose end holds 198.19.0.1/16,
// the real hosts' subnet, so that the reconciler resolves their next hops
// as on a director's LAN.
func setupControlNet() error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xb0"}, PeerName: "xb0p"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth: %w", err)
	}
	for _, name := range []string{"xb0", "xb0p"} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
		if name == "xb0" {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(198, 19, 0, 1), Mask: net.CIDRMask(16, 32)}, Flags: unix.IFA_F_NODAD}
			if err := netlink.AddrAdd(l, addr); err != nil {
				return fmt.Errorf("add address: %w", err)
			}
		}
	}
	return nil
}

func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return float64(time.Since(start).Microseconds()) / 1000, err
}

// benchControl applies the control-plane scenarios through a real
// Reconciler and data plane, in a namespace of its own.
func benchControl() (res ControlResults, err error) {
	res = ControlResults{Services: ctlServices, RealsPerService: ctlReals, RealHosts: ctlHosts, MaglevReals: ctlMaglev, MaglevSlots: control.DefaultMaglevSize}
	th, err := newNSThread()
	if err != nil {
		return res, err
	}
	defer th.Close()
	if err := th.Do(setupControlNet); err != nil {
		return res, err
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbbench-%d", os.Getpid())
	dp, err := loader.Open(loader.Options{PinDir: pinDir, FlowTableSize: 1 << 16})
	if err != nil {
		_ = loader.RemovePins(pinDir)
		return res, fmt.Errorf("open data plane: %w", err)
	}
	defer func() {
		dp.Close()
		if rerr := loader.RemovePins(pinDir); rerr != nil && err == nil {
			err = fmt.Errorf("remove pins: %w", rerr)
		}
	}()
	rec, err := control.NewReconciler(dp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return res, fmt.Errorf("new reconciler: %w", err)
	}
	st := ctlState()
	apply := func(st *control.State) (float64, error) {
		var ms float64
		err := th.Do(func() error {
			var err error
			ms, err = timed(func() error { return rec.Apply(st) })
			return err
		})
		return ms, err
	}
	if res.ApplyMs, err = apply(st); err != nil {
		return res, fmt.Errorf("apply %dx%d: %w", ctlServices, ctlReals, err)
	}
	logf("control: apply %d services x %d reals: %.1f ms", ctlServices, ctlReals, res.ApplyMs)
	if res.ReapplyMs, err = apply(cloneState(st)); err != nil {
		return res, fmt.Errorf("re-apply: %w", err)
	}
	before, err := takeSnapshot(dp)
	if err != nil {
		return res, err
	}
	changed := cloneState(st)
	target := changed.Services[ctlServices/2]
	target.Reals[7].Weight = 0
	if res.ChangeMs, err = apply(changed); err != nil {
		return res, fmt.Errorf("apply one-real change: %w", err)
	}
	after, err := takeSnapshot(dp)
	if err != nil {
		return res, err
	}
	res.Touched = diff(before, after, target.Endpoint)
	logf("control: one-real change: %.1f ms, touched services %v reals %v", res.ChangeMs, res.Touched.Services, res.Touched.Reals)

	withMH := cloneState(changed)
	mh := &control.Service{Endpoint: loader.Endpoint{Addr: netip.MustParseAddr("198.18.9.1"), Port: 80, Proto: loader.ProtoTCP}, Sched: "mh", Method: loader.MethodDR}
	for j := range ctlMaglev {
		mh.Reals = append(mh.Reals, control.Real{Addr: ctlRealAddr(j), Port: 9090, Weight: 1 + j%3})
	}
	withMH.Services = append([]*control.Service{mh}, withMH.Services...)
	if res.MaglevApplyMs, err = apply(withMH); err != nil {
		return res, fmt.Errorf("apply mh service: %w", err)
	}
	logf("control: add one mh service of %d reals: %.1f ms", ctlMaglev, res.MaglevApplyMs)
	if res.OuterMapUpdateMs, err = outerMapUpdate(); err != nil {
		return res, err
	}
	if err := th.Do(func() error {
		var err error
		res.NeighResolveMs, err = neighResolve()
		return err
	}); err != nil {
		return res, err
	}
	logf("control: one array-of-maps update %.2f ms, one route lookup + neighbour dump %.2f ms", res.OuterMapUpdateMs, res.NeighResolveMs)
	return res, th.Do(func() error {
		if l, err := netlink.LinkByName("xb0"); err == nil {
			return netlink.LinkDel(l)
		}
		return nil
	})
}

// outerMapUpdate times one update of an array of maps: the kernel waits for
// an RCU grace period in each (so that no program still uses the old inner
// map when it returns); the reconciler batches its ring swaps into one.
func outerMapUpdate() (float64, error) {
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner})
	if err != nil {
		return 0, fmt.Errorf("create array of maps: %w", err)
	}
	defer outer.Close()
	m, err := ebpf.NewMap(inner)
	if err != nil {
		return 0, fmt.Errorf("create inner map: %w", err)
	}
	defer m.Close()
	const n = 50
	ms, err := timed(func() error {
		for range n {
			if err := outer.Put(uint32(0), m); err != nil {
				return fmt.Errorf("update array of maps: %w", err)
			}
		}
		return nil
	})
	return ms / n, err
}

// neighResolve times what the reconciler does per real host to keep it
// resolved: a route lookup and a dump of the neighbours of the route's
// link (ctlHosts of them by now). It runs in the control namespace.
func neighResolve() (float64, error) {
	const n = 50
	ms, err := timed(func() error {
		for j := range n {
			routes, err := netlink.RouteGet(ctlRealAddr(j).AsSlice())
			if err != nil || len(routes) == 0 {
				return fmt.Errorf("route to %s: %v", ctlRealAddr(j), err)
			}
			if _, err := netlink.NeighList(routes[0].LinkIndex, netlink.FAMILY_V4); err != nil {
				return fmt.Errorf("list neighbours: %w", err)
			}
		}
		return nil
	})
	return ms / n, err
}
