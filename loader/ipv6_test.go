//go:build linux

package loader_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// IPv6 services of the golden topology.
var (
	vip6DR  = netip.MustParseAddr("2001:db8::100")
	vip6NAT = netip.MustParseAddr("2001:db8::101")
	ep6DR   = loader.Endpoint{Addr: vip6DR, Port: 80, Proto: loader.ProtoTCP}
	ep6NAT  = loader.Endpoint{Addr: vip6NAT, Port: 80, Proto: loader.ProtoTCP}
	ep6UDP  = loader.Endpoint{Addr: vip6NAT, Port: 53, Proto: loader.ProtoUDP}
)

func v6State() *control.State {
	return &control.State{Services: []*control.Service{
		{Endpoint: ep6DR, Sched: "rr", Method: loader.MethodDR, Reals: []control.Real{{Addr: addr6Real2, Port: 80, Weight: 1}}},
		{Endpoint: ep6NAT, Sched: "rr", Method: loader.MethodNAT, Reals: []control.Real{{Addr: addr6Real2, Port: 8080, Weight: 1}}},
		{Endpoint: ep6UDP, Sched: "rr", Method: loader.MethodNAT, Reals: []control.Real{{Addr: addr6Real3, Port: 5353, Weight: 1}}},
	}}
}

// frame6 describes an IPv6 Ethernet frame that gopacket builds.
type frame6 struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.AddrPort
	proto          layers.IPProtocol // TCP or UDP
	ack            bool
	// ext are raw extension headers between the IPv6 header and the
	// upper layer, the first of type extProto.
	ext      []byte
	extProto layers.IPProtocol
	payload  []byte
}

func (f frame6) with(fn func(*frame6)) frame6 {
	fn(&f)
	return f
}

func (f frame6) bytes() []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: f.proto, SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice()}
	var l4 gopacket.SerializableLayer
	switch f.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.src.Port()), DstPort: layers.TCPPort(f.dst.Port()), Seq: 0x1000, Window: 64240}
		if f.ack {
			tcp.ACK, tcp.Ack = true, 0x2000
		} else {
			tcp.SYN = true
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			panic(err)
		}
		l4 = tcp
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.src.Port()), DstPort: layers.UDPPort(f.dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			panic(err)
		}
		l4 = udp
	}
	upper := serializeL4(l4, f.payload)
	if f.ext != nil {
		ip.NextHeader = f.extProto
	}
	return serialize(&layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip, gopacket.Payload(append(append([]byte(nil), f.ext...), upper...)))
}

func serializeL4(l gopacket.SerializableLayer, payload []byte) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l, gopacket.Payload(payload)); err != nil {
		panic(fmt.Sprintf("serialize L4: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

func fromClient6(dst netip.Addr, dport, sport uint16, proto layers.IPProtocol) frame6 {
	return frame6{srcMAC: macClient, dstMAC: macDirA, src: netip.AddrPortFrom(addr6Client, sport), dst: netip.AddrPortFrom(dst, dport), proto: proto, payload: goldenPayload}
}

func fromReal6(real netip.AddrPort, dport uint16, realMAC net.HardwareAddr, proto layers.IPProtocol) frame6 {
	return frame6{srcMAC: realMAC, dstMAC: macDirB, src: real, dst: netip.AddrPortFrom(addr6Client, dport), proto: proto, ack: true, payload: []byte("HTTP/1.0 200 OK\r\n\r\n")}
}

// Extension headers: 8 bytes each, next header TCP; PadN fills options.
func optHeader(next layers.IPProtocol) []byte { return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0} }

// neighbourSolicitation is the client's NS for target.
func neighbourSolicitation(target netip.Addr) []byte {
	snm := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: target.As16()[13], 14: target.As16()[14], 15: target.As16()[15]})
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: addr6Client.AsSlice(), DstIP: snm.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macClient}}}
	return serialize(&layers.Ethernet{SrcMAC: macClient, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, snm.As16()[13], snm.As16()[14], snm.As16()[15]}, EthernetType: layers.EthernetTypeIPv6}, ip, icmp, ns)
}

func TestIntegrationXDPGoldenIPv6(t *testing.T) {
	h := newXDPHarness(t, v6State())
	syn := fromClient6(vip6DR, 80, 50000, layers.IPProtocolTCP)
	synNAT := fromClient6(vip6NAT, 80, 50001, layers.IPProtocolTCP)
	replyNAT := fromReal6(netip.AddrPortFrom(addr6Real2, 8080), 50001, macReal2, layers.IPProtocolTCP)
	udp := fromClient6(vip6NAT, 53, 50002, layers.IPProtocolUDP)
	replyUDP := fromReal6(netip.AddrPortFrom(addr6Real3, 5353), 50002, macReal3, layers.IPProtocolUDP)
	hop := fromClient6(vip6DR, 80, 50003, layers.IPProtocolTCP).with(func(f *frame6) {
		f.ext, f.extProto = optHeader(layers.IPProtocolTCP), layers.IPProtocolIPv6HopByHop
	})
	hopDst := fromClient6(vip6NAT, 80, 50004, layers.IPProtocolTCP).with(func(f *frame6) {
		f.ext = append(optHeader(layers.IPProtocolIPv6Destination), optHeader(layers.IPProtocolTCP)...)
		f.extProto = layers.IPProtocolIPv6HopByHop
	})
	routing := fromClient6(vip6DR, 80, 50005, layers.IPProtocolTCP).with(func(f *frame6) {
		f.ext, f.extProto = []byte{byte(layers.IPProtocolTCP), 0, 4, 0, 0, 0, 0, 0}, layers.IPProtocolIPv6Routing
	})
	frag := fromClient6(vip6DR, 80, 50006, layers.IPProtocolTCP).with(func(f *frame6) {
		f.ext, f.extProto = []byte{byte(layers.IPProtocolTCP), 0, 0, 1, 0, 0, 0, 7}, layers.IPProtocolIPv6Fragment
	})
	fiveExt := fromClient6(vip6DR, 80, 50007, layers.IPProtocolTCP).with(func(f *frame6) {
		f.extProto = layers.IPProtocolIPv6HopByHop
		for range 4 {
			f.ext = append(f.ext, optHeader(layers.IPProtocolIPv6Destination)...)
		}
		f.ext = append(f.ext, optHeader(layers.IPProtocolTCP)...)
	})
	dr := &realRef{ep6DR, addr6Real2, 80}
	nat := &realRef{ep6NAT, addr6Real2, 8080}
	natUDP := &realRef{ep6UDP, addr6Real3, 5353}
	drTo6 := func(f *frame6) { f.dstMAC, f.srcMAC = macReal2, macDirB }
	natTo6 := func(real netip.AddrPort, mac net.HardwareAddr) func(*frame6) {
		return func(f *frame6) { f.dstMAC, f.srcMAC, f.dst = mac, macDirB, real }
	}
	replyFrom6 := func(vip netip.AddrPort) func(*frame6) {
		return func(f *frame6) { f.dstMAC, f.srcMAC, f.src = macClient, macDirA, vip }
	}

	runGolden(t, h, []goldenCase{
		{desc: "IPv6 DR: MACs rewritten", ingress: ifNameA, in: syn.bytes(),
			verdict: xdpRedirect, want: syn.with(drTo6).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "IPv6 NAT TCP: destination rewritten to the real", ingress: ifNameA, in: synNAT.bytes(),
			verdict: xdpRedirect, want: synNAT.with(natTo6(netip.AddrPortFrom(addr6Real2, 8080), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "IPv6 NAT TCP reply: source VIP:port restored", before: [][]byte{synNAT.bytes()}, ingress: ifNameB, in: replyNAT.bytes(),
			verdict: xdpRedirect, want: replyNAT.with(replyFrom6(netip.AddrPortFrom(vip6NAT, 80))).bytes(), count: countWant{real: nat, reply: true}},
		{desc: "IPv6 NAT UDP", ingress: ifNameA, in: udp.bytes(),
			verdict: xdpRedirect, want: udp.with(natTo6(netip.AddrPortFrom(addr6Real3, 5353), macReal3)).bytes(), count: countWant{real: natUDP, newConn: true}},
		{desc: "IPv6 NAT UDP reply", before: [][]byte{udp.bytes()}, ingress: ifNameB, in: replyUDP.bytes(),
			verdict: xdpRedirect, want: replyUDP.with(replyFrom6(netip.AddrPortFrom(vip6NAT, 53))).bytes(), count: countWant{real: natUDP, reply: true}},
		{desc: "IPv6 hop-by-hop header walked: DR forwarded with it", ingress: ifNameA, in: hop.bytes(),
			verdict: xdpRedirect, want: hop.with(drTo6).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "IPv6 hop-by-hop and destination options walked: NAT rewritten behind them", ingress: ifNameA, in: hopDst.bytes(),
			verdict: xdpRedirect, want: hopDst.with(natTo6(netip.AddrPortFrom(addr6Real2, 8080), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "IPv6 routing header: passed untouched, counted", ingress: ifNameA, in: routing.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassIPv6Ext}},
		{desc: "IPv6 five option headers: more than walked, passed and counted", ingress: ifNameA, in: fiveExt.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassIPv6Ext}},
		{desc: "IPv6 fragment: passed untouched", ingress: ifNameA, in: frag.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassFragment}},
		{desc: "ICMPv6 neighbour solicitation for the VIP (to its solicited-node address, no VIP): passed untouched", ingress: ifNameA, in: neighbourSolicitation(vip6DR),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "IPv6 payload length beyond the frame: malformed", ingress: ifNameA, in: syn.bytes()[:len(syn.bytes())-1],
			verdict: xdpPass, count: countWant{reason: loader.PassMalformed}},
	})
}
