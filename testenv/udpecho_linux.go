package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// ServeUDPEcho runs a UDP server on port on every address of h that sends
// each datagram back to its sender. The reply leaves from the address the
// datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), so a DR real answers a
// datagram for a VIP on its lo from the VIP, as a client expects. It uses
// one IPv4 and one IPv6-only socket.
func (h *Host) ServeUDPEcho(port uint16) (stop func(), err error) {
	if port == 0 {
		return nil, errors.New("serve UDP echo: port 0")
	}
	var conns []*net.UDPConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for _, fam := range []struct {
		network string
		level   int
		opt     int
	}{
		{"udp4", unix.IPPROTO_IP, unix.IP_PKTINFO},
		{"udp6", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO},
	} {
		pc, err := h.ListenPacket(fam.network, fmt.Sprintf(":%d", port))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("serve UDP echo: %w", err)
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		if err := setsockoptInt(c, fam.level, fam.opt, 1); err != nil {
			closeAll()
			return nil, fmt.Errorf("serve UDP echo: enable packet info on %s: %w", fam.network, err)
		}
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			udpEcho(c)
		}()
	}
	return h.addServer(func() {
		closeAll()
		wg.Wait()
	})
}

func setsockoptInt(c *net.UDPConn, level, opt, value int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), level, opt, value)
	}); err != nil {
		return err
	}
	return serr
}

// udpEcho answers datagrams on c until c is closed.
func udpEcho(c *net.UDPConn) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error reported on the socket
		}
		var reply []byte
		if dst, ok := pktinfoDst(oob[:oobn]); ok {
			reply = pktinfoFrom(dst)
		}
		c.WriteMsgUDPAddrPort(buf[:n], reply, from)
	}
}

// pktinfoDst returns the destination address of a received datagram from
// its IP_PKTINFO or IPV6_PKTINFO control message.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, addr (the header's destination).
			return netip.AddrFrom4([4]byte(m.Data[8:12])), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(m.Data[0:16])), true
		}
	}
	return netip.Addr{}, false
}

// pktinfoFrom is the control message that makes a reply leave from src.
func pktinfoFrom(src netip.Addr) []byte {
	if src.Is4() {
		return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: src.As4()})
	}
	return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16()})
}
