package testenv

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// stepHook, when set by a test, is called after each build step; an error
// it returns fails New at that point.
var stepHook func(step string) error

// New builds a topology (see the package documentation). On error it
// removes whatever it made.
func New(opts Options) (*Topology, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, fmt.Errorf("create topology: %w", err)
	}
	t := newTopology(opts)
	start := time.Now()
	if err := t.build(); err != nil {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("create topology: %w", err)
	}
	slog.Debug("testenv: topology up", "client", t.Client.NSName, "reals", len(t.Reals),
		"dr", opts.DR, "vips", opts.VIPs, "took", time.Since(start))
	return t, nil
}

func (t *Topology) build() error {
	step := func(name string, fn func() error) error {
		if err := fn(); err != nil {
			return err
		}
		if stepHook != nil {
			if err := stepHook(name); err != nil {
				return fmt.Errorf("step %s: %w", name, err)
			}
		}
		return nil
	}
	for _, h := range t.hosts() {
		if err := step("namespace "+h.Name, func() error { return t.initHost(h) }); err != nil {
			return err
		}
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"links", t.createLinks},
		{"addresses", t.addAddresses},
		{"routes", t.addRoutes},
		{"sysctls", t.setSysctls},
		{"vips", t.addVIPs},
		{"offloads", t.setOffloads},
	}
	for _, s := range steps {
		if err := step(s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

// initHost creates h's namespace, turns DAD off there (so addresses are
// usable at once), and brings lo up.
func (t *Topology) initHost(h *Host) error {
	if err := h.create(); err != nil {
		return fmt.Errorf("create namespace %s: %w", h.NSName, err)
	}
	sysctls := [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
	}
	// IPv6 stays enabled everywhere, also in the lan namespace: Go probes
	// once per process whether IPv6 works, and a probe inside a namespace
	// without IPv6 would make every later ":port" listener IPv4-only.
	for _, kv := range sysctls {
		if err := h.Sysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return h.linkUp("lo")
}

func (h *Host) linkUp(name string) error {
	l, err := h.Link(name)
	if err != nil {
		return err
	}
	if err := h.sys.handle.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up in %s: %w", name, h.Name, err)
	}
	return nil
}

// mac is a locally administered address that shows the interface's IPv4
// address: 02:00:c6:12:01:02 for 198.18.1.2; bridge ports use 02:01:...
// with their peer's address.
func mac(kind byte, a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, kind, b[0], b[1], b[2], b[3]}
}

// addVeth creates a veth pair from h's namespace: name stays in h, peerName
// is created directly in peer's namespace.
func (h *Host) addVeth(name string, hw net.HardwareAddr, peer *Host, peerName string, peerHW net.HardwareAddr) error {
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: name, HardwareAddr: hw},
		PeerName:         peerName,
		PeerHardwareAddr: peerHW,
		PeerNamespace:    netlink.NsFd(peer.sys.ns),
	}
	if err := h.sys.handle.LinkAdd(v); err != nil {
		return fmt.Errorf("create veth %s/%s <-> %s/%s: %w", h.Name, name, peer.Name, peerName, err)
	}
	return nil
}

func (t *Topology) createLinks() error {
	d, lan := t.Director, t.LAN
	if err := d.addVeth(DirectorFrontIf, mac(0, directorPrefix.Addr()),
		t.Client, EndpointIf, mac(0, clientPrefix.Addr())); err != nil {
		return err
	}
	// No multicast snooping: IPv6 neighbour discovery is flooded to every
	// port whatever MLD state the bridge saw.
	snooping := false
	br0 := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeIf}, MulticastSnooping: &snooping}
	if err := lan.sys.handle.LinkAdd(br0); err != nil {
		return fmt.Errorf("create bridge %s: %w", BridgeIf, err)
	}
	br, err := lan.Link(BridgeIf)
	if err != nil {
		return err
	}
	// Port p0 leads to the director's eth1, pN to realN's eth0.
	ports := []iface{{d, DirectorLANIf}}
	addrs := []netip.Addr{directorLANPrefix.Addr()}
	for _, r := range t.Reals {
		ports = append(ports, iface{r, EndpointIf})
		addrs = append(addrs, r.Addr)
	}
	for i, p := range ports {
		name := fmt.Sprintf("p%d", i)
		if err := lan.addVeth(name, mac(1, addrs[i]), p.h, p.name, mac(0, addrs[i])); err != nil {
			return err
		}
		l, err := lan.Link(name)
		if err != nil {
			return err
		}
		if err := lan.sys.handle.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("add %s to %s: %w", name, BridgeIf, err)
		}
		if err := lan.linkUp(name); err != nil {
			return err
		}
	}
	if err := lan.linkUp(BridgeIf); err != nil {
		return err
	}
	for _, u := range t.endpoints() {
		if err := u.h.linkUp(u.name); err != nil {
			return err
		}
	}
	return nil
}

// iface names an interface of a host.
type iface struct {
	h    *Host
	name string
}

// endpoints are the veth ends outside the lan namespace.
func (t *Topology) endpoints() []iface {
	list := []iface{{t.Client, EndpointIf}, {t.Director, DirectorFrontIf}, {t.Director, DirectorLANIf}}
	for _, r := range t.Reals {
		list = append(list, iface{r, EndpointIf})
	}
	return list
}

// vethEnds are all veth ends: the endpoints and the bridge ports.
func (t *Topology) vethEnds() []iface {
	list := t.endpoints()
	for i := range len(t.Reals) + 1 {
		list = append(list, iface{t.LAN, fmt.Sprintf("p%d", i)})
	}
	return list
}

// addAddr adds p to link name in h; IPv6 addresses get nodad.
func (h *Host) addAddr(name string, p netip.Prefix) error {
	l, err := h.Link(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.sys.handle.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add address %s to %s in %s: %w", p, name, h.Name, err)
	}
	return nil
}

func (t *Topology) addAddresses() error {
	type ifAddr struct {
		h    *Host
		name string
		p    netip.Prefix
	}
	list := []ifAddr{
		{t.Client, EndpointIf, clientPrefix}, {t.Client, EndpointIf, clientPrefix6},
		{t.Director, DirectorFrontIf, directorPrefix}, {t.Director, DirectorFrontIf, directorPrefix6},
		{t.Director, DirectorLANIf, directorLANPrefix}, {t.Director, DirectorLANIf, directorLANPrefx6},
	}
	for _, r := range t.Reals {
		for _, p := range r.Prefixes {
			list = append(list, ifAddr{r, EndpointIf, p})
		}
	}
	for _, a := range list {
		if err := a.h.addAddr(a.name, a.p); err != nil {
			return err
		}
	}
	return nil
}

// addDefaultRoute routes everything of gw's family from h via gw on name.
func (h *Host) addDefaultRoute(name string, gw netip.Addr) error {
	idx, err := h.Ifindex(name)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: idx, Gw: net.IP(gw.AsSlice())}
	if gw.Is4() {
		r.Family = unix.AF_INET
		r.Dst = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	} else {
		r.Family = unix.AF_INET6
		r.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if err := h.sys.handle.RouteAdd(r); err != nil {
		return fmt.Errorf("add default route via %s in %s: %w", gw, h.Name, err)
	}
	return nil
}

func (t *Topology) addRoutes() error {
	for _, gw := range []netip.Addr{directorPrefix.Addr(), directorPrefix6.Addr()} {
		if err := t.Client.addDefaultRoute(EndpointIf, gw); err != nil {
			return err
		}
	}
	for _, r := range t.Reals {
		for _, gw := range []netip.Addr{directorLANPrefix.Addr(), directorLANPrefx6.Addr()} {
			if err := r.addDefaultRoute(EndpointIf, gw); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Topology) setSysctls() error {
	d := t.Director
	set := [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv6.conf.all.forwarding", "1"},
	}
	for _, conf := range []string{"all", "default", DirectorFrontIf, DirectorLANIf} {
		set = append(set,
			[2]string{"net.ipv4.conf." + conf + ".rp_filter", "0"},
			[2]string{"net.ipv4.conf." + conf + ".accept_local", "1"})
	}
	for _, kv := range set {
		if err := d.Sysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if !t.opts.DR {
		return nil
	}
	for _, r := range t.Reals {
		for _, kv := range [][2]string{
			{"net.ipv4.conf.all.arp_ignore", "1"},
			{"net.ipv4.conf.all.arp_announce", "2"},
		} {
			if err := r.Sysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// addVIPs puts the VIPs on the director's eth0, and with DR on every
// real's lo.
func (t *Topology) addVIPs() error {
	for _, v := range t.VIPs {
		p := netip.PrefixFrom(v, v.BitLen())
		if err := t.Director.addAddr(DirectorFrontIf, p); err != nil {
			return err
		}
		if !t.opts.DR {
			continue
		}
		for _, r := range t.Reals {
			if err := r.addAddr("lo", p); err != nil {
				return err
			}
		}
	}
	return nil
}

// setOffloads enables GRO on every veth end and turns TX checksum offload
// off on the client's and the reals' eth0 (DESIGN.md veth facts 1 and 2).
func (t *Topology) setOffloads() error {
	for _, g := range t.vethEnds() {
		if err := g.h.SetGRO(g.name, true); err != nil {
			return err
		}
	}
	for _, h := range append([]*Host{t.Client}, t.Reals...) {
		if err := h.SetTxChecksum(EndpointIf, false); err != nil {
			return err
		}
	}
	return nil
}

// unlink deletes the veths from the lan and director namespaces, which
// also deletes their peers: the hosts are disconnected even if something
// outside the topology still holds one of the namespaces.
func (t *Topology) unlink() error {
	var errs []error
	del := func(h *Host, name string) {
		if h.sys.handle == nil {
			return
		}
		l, err := h.sys.handle.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if !errors.As(err, &nf) {
				errs = append(errs, fmt.Errorf("get link %s in %s: %w", name, h.Name, err))
			}
			return
		}
		if err := h.sys.handle.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete link %s in %s: %w", name, h.Name, err))
		}
	}
	del(t.Director, DirectorFrontIf)
	for i := range len(t.Reals) + 1 {
		del(t.LAN, fmt.Sprintf("p%d", i))
	}
	del(t.LAN, BridgeIf)
	return errors.Join(errs...)
}
