package testenv

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// A Pair is the topology of two directors in front of the same reals, for
// VRRP tests: every host has one interface, eth0, on one LAN (the bridge
// br0 in the lan namespace), and the directors forward by direct routing
// out of the interface the packet came in on (one-arm LVS-DR).
//
//	client     198.18.0.2/24   2001:db8::2/64
//	director1  198.18.0.1/24   2001:db8::1/64
//	director2  198.18.0.3/24   2001:db8::3/64
//	realN      198.18.0.(9+N)/24   2001:db8::(9+N)/64, every VIP on lo
//
// No host holds a VIP on eth0: the VRRP master adds it and answers ARP for
// it, the reals hold the VIPs on lo with arp_ignore=1 and arp_announce=2
// and answer the client directly. The directors forward (rp_filter 0,
// accept_local 1); GRO is on on every veth end and TX checksum offload off
// on the client's and the reals' eth0 (DESIGN.md veth facts).
type Pair struct {
	Client    *Host
	Directors [2]*Host
	LAN       *Host
	Reals     []*Host
	VIPs      []netip.Addr

	topo *Topology // for the host bookkeeping and Close
}

// PairOptions choose the shape of a Pair; the zero value has two reals and
// the VIP 198.18.0.100.
type PairOptions struct {
	Reals int // 0 means 2; at most 50
	VIPs  []netip.Addr
}

func pairPrefixes(last byte) (netip.Prefix, netip.Prefix) {
	v6 := netip.MustParseAddr("2001:db8::").As16()
	v6[15] = last
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, last}), 24),
		netip.PrefixFrom(netip.AddrFrom16(v6), 64)
}

// NewPair builds a Pair; on error it removes whatever it made.
func NewPair(opts PairOptions) (*Pair, error) {
	if opts.Reals == 0 {
		opts.Reals = 2
	}
	if opts.Reals < 0 || opts.Reals > 50 {
		return nil, fmt.Errorf("create pair: %d reals, want 1 to 50", opts.Reals)
	}
	if opts.VIPs == nil {
		opts.VIPs = []netip.Addr{defaultVIP}
	}
	for _, v := range opts.VIPs {
		if !benchNet4.Contains(v) && !docNet6.Contains(v) {
			return nil, fmt.Errorf("create pair: VIP %s outside %s and %s", v, benchNet4, docNet6)
		}
	}
	prefix := fmt.Sprintf("xlb%d-%d", os.Getpid(), topoSeq.Add(1))
	host := func(name string, last byte) *Host {
		h := &Host{Name: name, NSName: prefix + "-" + name}
		if last != 0 {
			p4, p6 := pairPrefixes(last)
			h.Prefixes = []netip.Prefix{p4, p6}
			h.Addr, h.Addr6 = p4.Addr(), p6.Addr()
		}
		h.sys.init()
		return h
	}
	p := &Pair{
		Client:    host("client", 2),
		Directors: [2]*Host{host("director1", 1), host("director2", 3)},
		LAN:       host("lan", 0),
		VIPs:      opts.VIPs,
	}
	for i := range opts.Reals {
		p.Reals = append(p.Reals, host(fmt.Sprintf("real%d", i+1), byte(10+i)))
	}
	for _, h := range p.Reals {
		for _, v := range p.VIPs {
			if h.Addr == v || h.Addr6 == v {
				return nil, fmt.Errorf("create pair: VIP %s is %s's address", v, h.Name)
			}
		}
	}
	// The Topology does the host bookkeeping (servers, Close); only its
	// client, director and lan slots and reals are used.
	p.topo = &Topology{Client: p.Client, Director: p.Directors[0], LAN: p.LAN,
		Reals: append([]*Host{p.Directors[1]}, p.Reals...), VIPs: p.VIPs}
	if err := p.build(); err != nil {
		if cerr := p.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("create pair: %w", err)
	}
	return p, nil
}

// StartPair applies the privilege rule (RequirePrivileged), builds a Pair
// and registers its Close with tb.Cleanup.
func StartPair(tb testing.TB, opts PairOptions) *Pair {
	tb.Helper()
	RequirePrivileged(tb)
	p, err := NewPair(opts)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("testenv: %v", err)
		}
	})
	return p
}

// endpoints are the hosts on the LAN, in bridge port order: port pI leads
// to endpoints()[I].
func (p *Pair) endpoints() []*Host {
	return append([]*Host{p.Client, p.Directors[0], p.Directors[1]}, p.Reals...)
}

// Port is the name of the bridge port in the lan namespace that leads to h.
func (p *Pair) Port(h *Host) string {
	for i, e := range p.endpoints() {
		if e == h {
			return fmt.Sprintf("p%d", i)
		}
	}
	return ""
}

// SetCarrier takes h's link to the LAN down or up from the bridge side:
// h's eth0 stays administratively up but loses (or regains) its carrier,
// as when a cable is pulled.
func (p *Pair) SetCarrier(h *Host, up bool) error {
	port := p.Port(h)
	if port == "" {
		return fmt.Errorf("set carrier: %s is not on the pair's LAN", h.Name)
	}
	l, err := p.LAN.Link(port)
	if err != nil {
		return err
	}
	if up {
		err = p.LAN.sys.handle.LinkSetUp(l)
	} else {
		err = p.LAN.sys.handle.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("set %s (to %s) up=%v: %w", port, h.Name, up, err)
	}
	return nil
}

func (p *Pair) build() error {
	for _, h := range p.topo.hosts() {
		if err := p.topo.initHost(h); err != nil {
			return err
		}
	}
	snooping := false
	br0 := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeIf}, MulticastSnooping: &snooping}
	if err := p.LAN.sys.handle.LinkAdd(br0); err != nil {
		return fmt.Errorf("create bridge %s: %w", BridgeIf, err)
	}
	br, err := p.LAN.Link(BridgeIf)
	if err != nil {
		return err
	}
	for i, h := range p.endpoints() {
		port := fmt.Sprintf("p%d", i)
		if err := p.LAN.addVeth(port, mac(1, h.Addr), h, EndpointIf, mac(0, h.Addr)); err != nil {
			return err
		}
		l, err := p.LAN.Link(port)
		if err != nil {
			return err
		}
		if err := p.LAN.sys.handle.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("add %s to %s: %w", port, BridgeIf, err)
		}
		for _, step := range []func() error{
			func() error { return p.LAN.linkUp(port) },
			func() error { return h.linkUp(EndpointIf) },
			func() error { return p.LAN.SetGRO(port, true) },
			func() error { return h.SetGRO(EndpointIf, true) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		for _, a := range h.Prefixes {
			if err := h.addAddr(EndpointIf, a); err != nil {
				return err
			}
		}
	}
	if err := p.LAN.linkUp(BridgeIf); err != nil {
		return err
	}
	// A director sends DR frames back out of the interface they came in
	// on (XDP_TX); a veth delivers those to its peer only when an XDP
	// program runs there (GRO alone is not enough for XDP_TX).
	for _, d := range p.Directors {
		if err := p.passXDP(p.Port(d)); err != nil {
			return err
		}
	}
	for _, d := range p.Directors {
		for _, kv := range [][2]string{
			{"net.ipv4.ip_forward", "1"},
			{"net.ipv6.conf.all.forwarding", "1"},
			{"net.ipv4.conf.all.rp_filter", "0"},
			{"net.ipv4.conf.default.rp_filter", "0"},
			{"net.ipv4.conf." + EndpointIf + ".rp_filter", "0"},
			{"net.ipv4.conf.all.accept_local", "1"},
			{"net.ipv4.conf." + EndpointIf + ".accept_local", "1"},
		} {
			if err := d.Sysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	for _, h := range append([]*Host{p.Client}, p.Reals...) {
		if err := h.SetTxChecksum(EndpointIf, false); err != nil {
			return err
		}
	}
	for _, r := range p.Reals {
		for _, kv := range [][2]string{
			{"net.ipv4.conf.all.arp_ignore", "1"},
			{"net.ipv4.conf.all.arp_announce", "2"},
		} {
			if err := r.Sysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		for _, v := range p.VIPs {
			if err := r.addAddr("lo", netip.PrefixFrom(v, v.BitLen())); err != nil {
				return err
			}
		}
	}
	return nil
}

// passXDP attaches a program that passes every frame to port in the lan
// namespace, in driver mode; it stays until the link is deleted.
func (p *Pair) passXDP(port string) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("load XDP pass program: %w", err)
	}
	defer prog.Close()
	return p.LAN.Do(func() error {
		l, err := netlink.LinkByName(port)
		if err != nil {
			return fmt.Errorf("find %s: %w", port, err)
		}
		if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), nl.XDP_FLAGS_DRV_MODE); err != nil {
			return fmt.Errorf("attach XDP pass program to %s: %w", port, err)
		}
		return nil
	})
}

// Close stops every server started on the pair's hosts and removes its
// links and namespaces; a second call does nothing.
func (p *Pair) Close() error {
	p.topo.mu.Lock()
	if p.topo.closed {
		p.topo.mu.Unlock()
		return nil
	}
	p.topo.closed = true
	p.topo.mu.Unlock()
	hosts := p.topo.hosts()
	for _, h := range hosts {
		h.stopServers()
	}
	var errs []error
	if p.LAN.sys.handle != nil {
		for i := range p.endpoints() {
			if l, err := p.LAN.sys.handle.LinkByName(fmt.Sprintf("p%d", i)); err == nil {
				if err := p.LAN.sys.handle.LinkDel(l); err != nil {
					errs = append(errs, fmt.Errorf("delete link p%d: %w", i, err))
				}
			}
		}
	}
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := hosts[i].destroy(); err != nil {
			errs = append(errs, fmt.Errorf("remove host %s: %w", hosts[i].Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close pair: %w", err)
	}
	return nil
}
