package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// NewInstance opens the VRRP socket on cfg.Interface (joining 224.0.0.18 or
// ff02::12 unless unicast peers are set) and returns an Instance ready to
// Run. It needs CAP_NET_RAW and CAP_NET_ADMIN.
func NewInstance(cfg Config) (*Instance, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", cfg.Interface, err)
	}
	v6 := len(cfg.VIPs) > 0 && cfg.VIPs[0].Prefix.Addr().Is6()
	if len(cfg.VIPs) == 0 && cfg.SrcAddr.IsValid() {
		v6 = cfg.SrcAddr.Is6()
	}
	src := cfg.SrcAddr
	if !src.IsValid() {
		if src, err = primaryAddr(ifi, v6); err != nil {
			return nil, err
		}
	}
	group := cfg.Group
	if !group.IsValid() {
		group = GroupV4
		if v6 {
			group = GroupV6
		}
	}
	var c conn
	if v6 {
		c, err = listen6(ifi, len(cfg.UnicastPeers) == 0, group)
	} else {
		c, err = listen4(ifi, len(cfg.UnicastPeers) == 0, group)
	}
	if err != nil {
		return nil, err
	}
	in, err := newInstance(cfg, c, &linkAddrs{ifi: ifi}, src)
	if err != nil {
		c.Close()
		return nil, err
	}
	return in, nil
}

// primaryAddr is the interface's first IPv4 address, or its IPv6
// link-local address.
func primaryAddr(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	as, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range as {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !v6 && ip.Is4() || v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("find source address on %s: %w", ifi.Name, ErrConfig)
}

func bindToDevice(c syscall.Conn, name string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, name)
	}); err != nil {
		return err
	}
	return serr
}

type conn4 struct {
	c   *net.IPConn
	p   *ipv4.PacketConn
	ifi *net.Interface
	buf []byte
}

func listen4(ifi *net.Interface, multicast bool, group netip.Addr) (*conn4, error) {
	pc, err := net.ListenPacket(fmt.Sprintf("ip4:%d", IPProto), "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("open VRRP socket: %w", err)
	}
	c := pc.(*net.IPConn)
	p := ipv4.NewPacketConn(c)
	err = errors.Join(
		bindToDevice(c, ifi.Name),
		p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
		p.SetTTL(TTL),
		p.SetMulticastTTL(TTL),
		p.SetMulticastLoopback(false),
		p.SetMulticastInterface(ifi),
	)
	if err == nil && multicast {
		err = p.JoinGroup(ifi, &net.IPAddr{IP: group.AsSlice()})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifi.Name, err)
	}
	return &conn4{c: c, p: p, ifi: ifi, buf: make([]byte, 65536)}, nil
}

func (c *conn4) ReadPacket() (packet, error) {
	for {
		n, cm, src, err := c.p.ReadFrom(c.buf)
		if err != nil {
			return packet{}, err
		}
		if cm == nil || cm.IfIndex != c.ifi.Index {
			continue
		}
		ipa, ok := src.(*net.IPAddr)
		if !ok {
			continue
		}
		s, _ := netip.AddrFromSlice(ipa.IP)
		d, _ := netip.AddrFromSlice(cm.Dst)
		return packet{data: append([]byte(nil), c.buf[:n]...), src: s.Unmap(), dst: d.Unmap(), ttl: cm.TTL}, nil
	}
}

func (c *conn4) WritePacket(b []byte, src, dst netip.Addr) error {
	cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (c *conn4) Close() error { return c.c.Close() }

type conn6 struct {
	c   *net.IPConn
	p   *ipv6.PacketConn
	ifi *net.Interface
	buf []byte
}

func listen6(ifi *net.Interface, multicast bool, group netip.Addr) (*conn6, error) {
	pc, err := net.ListenPacket(fmt.Sprintf("ip6:%d", IPProto), "::")
	if err != nil {
		return nil, fmt.Errorf("open VRRP socket: %w", err)
	}
	c := pc.(*net.IPConn)
	p := ipv6.NewPacketConn(c)
	err = errors.Join(
		bindToDevice(c, ifi.Name),
		p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		p.SetHopLimit(TTL),
		p.SetMulticastHopLimit(TTL),
		p.SetMulticastLoopback(false),
		p.SetMulticastInterface(ifi),
	)
	if err == nil && multicast {
		err = p.JoinGroup(ifi, &net.IPAddr{IP: group.AsSlice()})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifi.Name, err)
	}
	return &conn6{c: c, p: p, ifi: ifi, buf: make([]byte, 65536)}, nil
}

func (c *conn6) ReadPacket() (packet, error) {
	for {
		n, cm, src, err := c.p.ReadFrom(c.buf)
		if err != nil {
			return packet{}, err
		}
		if cm == nil || cm.IfIndex != c.ifi.Index {
			continue
		}
		ipa, ok := src.(*net.IPAddr)
		if !ok {
			continue
		}
		s, _ := netip.AddrFromSlice(ipa.IP)
		d, _ := netip.AddrFromSlice(cm.Dst)
		return packet{data: append([]byte(nil), c.buf[:n]...), src: s, dst: d, ttl: cm.HopLimit}, nil
	}
}

func (c *conn6) WritePacket(b []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index, HopLimit: TTL}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: c.ifi.Name})
	return err
}

func (c *conn6) Close() error { return c.c.Close() }

// linkAddrs manages virtual addresses with netlink and announces them with
// gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6).
type linkAddrs struct {
	ifi *net.Interface
}

func (l *linkAddrs) link(v VIP) (netlink.Link, error) {
	name := v.Dev
	if name == "" {
		name = l.ifi.Name
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find interface %q: %w", name, err)
	}
	return link, nil
}

func nlAddr(v VIP) *netlink.Addr {
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())},
		Label: v.Label,
		Scope: int(scopes[v.Scope]),
	}
	if v.Broadcast.IsValid() {
		a.Broadcast = v.Broadcast.AsSlice()
	}
	if v.Prefix.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (l *linkAddrs) AddVIPs(vs []VIP) error {
	var errs []error
	for _, v := range vs {
		link, err := l.link(v)
		if err == nil {
			err = netlink.AddrAdd(link, nlAddr(v))
			if errors.Is(err, unix.EEXIST) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("add %v: %w", v.Prefix, err))
		}
	}
	return errors.Join(errs...)
}

func (l *linkAddrs) DelVIPs(vs []VIP) error {
	var errs []error
	for _, v := range vs {
		link, err := l.link(v)
		if err == nil {
			err = netlink.AddrDel(link, nlAddr(v))
			if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %v: %w", v.Prefix, err))
		}
	}
	return errors.Join(errs...)
}

func (l *linkAddrs) Announce(vs []VIP) error {
	var errs []error
	for _, v := range vs {
		ifi := l.ifi
		if v.Dev != "" && v.Dev != ifi.Name {
			var err error
			if ifi, err = net.InterfaceByName(v.Dev); err != nil {
				errs = append(errs, fmt.Errorf("find interface %q: %w", v.Dev, err))
				continue
			}
		}
		var err error
		if v.Prefix.Addr().Is4() {
			err = sendGARP(ifi, v.Prefix.Addr())
		} else {
			err = sendUnsolicitedNA(ifi, v.Prefix.Addr())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %v on %s: %w", v.Prefix.Addr(), ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func sendGARP(ifi *net.Interface, ip netip.Addr) error {
	if len(ifi.HardwareAddr) != 6 {
		return nil // no Ethernet address (e.g. a tunnel): nothing to announce
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("open packet socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, GARPFrame(ifi.HardwareAddr, ip), 0, sa); err != nil {
		return fmt.Errorf("send gratuitous ARP: %w", err)
	}
	return nil
}

func sendUnsolicitedNA(ifi *net.Interface, ip netip.Addr) error {
	pc, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return fmt.Errorf("open ICMPv6 socket: %w", err)
	}
	defer pc.Close()
	p := ipv6.NewPacketConn(pc)
	if err := p.SetMulticastHopLimit(TTL); err != nil {
		return fmt.Errorf("set hop limit: %w", err)
	}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: ifi.Name}
	cm := &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: TTL}
	if _, err := p.WriteTo(UnsolicitedNA(ifi.HardwareAddr, ip), cm, dst); err != nil {
		return fmt.Errorf("send neighbour advertisement: %w", err)
	}
	return nil
}
