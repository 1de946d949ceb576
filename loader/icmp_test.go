//go:build linux

package loader_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/loader"
)

// quoted4 is what an ICMP error quotes of a packet src -> dst: its IPv4
// header and the first 8 bytes of its TCP header.
func quoted4(src, dst netip.AddrPort) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 63, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 0x5000, Ack: 0x6000, ACK: true, Window: 500}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload(make([]byte, 1400))); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()[:28]...)
}

// icmp4 is an ICMP "fragmentation needed" (MTU 1300) from router to dst
// quoting q, as it arrives on the interface of srcMAC/dstMAC.
func icmp4(srcMAC, dstMAC net.HardwareAddr, router, dst netip.Addr, q []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 60, Id: 0x77, Protocol: layers.IPProtocolICMPv4, SrcIP: router.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded), Seq: 1300}
	return serialize(&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, icmp, gopacket.Payload(q))
}

func quoted6(src, dst netip.AddrPort) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 0x5000, Ack: 0x6000, ACK: true, Window: 500}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload(make([]byte, 1400))); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()[:48]...)
}

// icmp6 is an ICMPv6 "packet too big" (MTU 1280) from router to dst quoting q.
func icmp6(srcMAC, dstMAC net.HardwareAddr, router, dst netip.Addr, q []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 60, NextHeader: layers.IPProtocolICMPv6, SrcIP: router.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	mtu := []byte{0, 0, 0x05, 0x00}
	return serialize(&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip, icmp, gopacket.Payload(append(mtu, q...)))
}

// packetTooBig6 is the ICMPv6 "packet too big" the director answers the
// IPv6 frame in with.
func packetTooBig6(in []byte, mtu uint32) []byte {
	pkt := gopacket.NewPacket(in, layers.LayerTypeEthernet, gopacket.Default)
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	out := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip.DstIP, DstIP: ip.SrcIP}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)}
	if err := icmp.SetNetworkLayerForChecksum(out); err != nil {
		panic(err)
	}
	body := []byte{byte(mtu >> 24), byte(mtu >> 16), byte(mtu >> 8), byte(mtu)}
	body = append(body, in[14:14+48]...)
	return serialize(&layers.Ethernet{SrcMAC: eth.DstMAC, DstMAC: eth.SrcMAC, EthernetType: layers.EthernetTypeIPv6}, out, icmp, gopacket.Payload(body))
}

func TestIntegrationXDPICMP(t *testing.T) {
	router := netip.MustParseAddr("198.18.0.254")
	router6 := netip.MustParseAddr("2001:db8::fe")
	client := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(addrClient, p) }
	client6 := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(addr6Client, p) }
	vipNAT80 := netip.AddrPortFrom(vipNAT, 80)
	vipDR80 := netip.AddrPortFrom(vipDR, 80)
	vip6NAT80 := netip.AddrPortFrom(vip6NAT, 80)
	real2NAT := netip.AddrPortFrom(addrReal2, 8080)
	real6NAT := netip.AddrPortFrom(addr6Real2, 8080)

	big6 := fromClient6(vip6DR, 80, 51010, layers.IPProtocolTCP).with(func(f *frame6) { f.payload = make([]byte, mtuB-60+1) })
	big6NAT := fromClient6(vip6NAT, 80, 51011, layers.IPProtocolTCP).with(func(f *frame6) { f.payload = make([]byte, mtuB-60+1) })
	fits6 := fromClient6(vip6DR, 80, 51012, layers.IPProtocolTCP).with(func(f *frame6) { f.payload = make([]byte, mtuB-60) })
	// A NAT real's reply too big for the client side (xga's MTU is 1500).
	bigReply := fromReal(real2NAT, 51013, macReal2, layers.IPProtocolTCP).with(func(f *frame) { f.payload = make([]byte, 1500-40+1) })

	t.Run("IPv4", func(t *testing.T) {
		h := newXDPHarness(t, goldenState(nil, nil))
		nat := &realRef{epNAT, addrReal2, 8080}
		dr := &realRef{epDR, addrReal2, 80}
		runGolden(t, h, []goldenCase{
			{desc: "ICMP frag needed about a NAT reply: to the real, outer and quoted addresses translated",
				before: [][]byte{fromClient(vipNAT, 80, 51000, layers.IPProtocolTCP).bytes()}, ingress: ifNameA,
				in:      icmp4(macClient, macDirA, router, vipNAT, quoted4(vipNAT80, client(51000))),
				verdict: xdpRedirect, want: icmp4(macDirB, macReal2, router, addrReal2, quoted4(real2NAT, client(51000))),
				count: countWant{real: nat}},
			{desc: "ICMP frag needed about a DR reply: to the real, MACs rewritten only",
				before: [][]byte{fromClient(vipDR, 80, 51001, layers.IPProtocolTCP).bytes()}, ingress: ifNameA,
				in:      icmp4(macClient, macDirA, router, vipDR, quoted4(vipDR80, client(51001))),
				verdict: xdpRedirect, want: icmp4(macDirB, macReal2, router, vipDR, quoted4(vipDR80, client(51001))),
				count: countWant{real: dr}},
			{desc: "ICMP error quoting a VIP packet of no known flow: passed untouched", ingress: ifNameA,
				in:      icmp4(macClient, macDirA, router, vipNAT, quoted4(vipNAT80, client(51002))),
				verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
			{desc: "ICMP error to a VIP quoting a port of no service: passed untouched", ingress: ifNameA,
				in:      icmp4(macClient, macDirA, router, vipDR, quoted4(netip.AddrPortFrom(vipDR, 22), client(51004))),
				verdict: xdpPass, count: countWant{reason: loader.PassNotTCPUDP}},
			{desc: "ICMP error quoting a non-VIP packet: passed untouched by the address filter", ingress: ifNameA,
				in:      icmp4(macClient, macDirA, router, prefixDirA.Addr(), quoted4(netip.AddrPortFrom(prefixDirA.Addr(), 22), client(51003))),
				verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
			{desc: "NAT reply too big for the client side, DF: ICMP frag needed back to the real, quoting its packet",
				before: [][]byte{fromClient(vipNAT, 80, 51013, layers.IPProtocolTCP).bytes()}, ingress: ifNameB, in: bigReply.bytes(),
				verdict: xdpRedirect, want: fragNeeded(bigReply.bytes(), 1500), count: countWant{reason: loader.TxTooBig}},
		})
	})
	t.Run("IPv6", func(t *testing.T) {
		h := newXDPHarness(t, v6State())
		nat := &realRef{ep6NAT, addr6Real2, 8080}
		runGolden(t, h, []goldenCase{
			{desc: "ICMPv6 packet too big about a NAT reply: to the real, translated, checksum with the new pseudo-header",
				before: [][]byte{fromClient6(vip6NAT, 80, 51004, layers.IPProtocolTCP).bytes()}, ingress: ifNameA,
				in:      icmp6(macClient, macDirA, router6, vip6NAT, quoted6(vip6NAT80, client6(51004))),
				verdict: xdpRedirect, want: icmp6(macDirB, macReal2, router6, addr6Real2, quoted6(real6NAT, client6(51004))),
				count: countWant{real: nat}},
			{desc: "IPv6 DR packet too big for the real's link: ICMPv6 packet too big back to the client", ingress: ifNameA, in: big6.bytes(),
				verdict: xdpRedirect, want: packetTooBig6(big6.bytes(), mtuB), count: countWant{reason: loader.TxTooBig}},
			{desc: "IPv6 NAT packet too big: ICMPv6 quoting the packet as the client sent it", ingress: ifNameA, in: big6NAT.bytes(),
				verdict: xdpRedirect, want: packetTooBig6(big6NAT.bytes(), mtuB), count: countWant{reason: loader.TxTooBig}},
			{desc: "IPv6 frame of exactly the MTU: forwarded", ingress: ifNameA, in: fits6.bytes(),
				verdict: xdpRedirect, want: fits6.with(func(f *frame6) { f.dstMAC, f.srcMAC = macReal2, macDirB }).bytes(),
				count: countWant{real: &realRef{ep6DR, addr6Real2, 80}, newConn: true}},
		})
	})
}

// runGolden runs golden cases on h: the packets before, then the packet,
// its verdict, every output byte and the one counter it must move.
func runGolden(t *testing.T, h *xdpHarness, cases []goldenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			other := ifNameB
			if tc.ingress == ifNameB {
				other = ifNameA
			}
			for i, b := range tc.before {
				if v, _, err := h.run(b, h.ifindex(other)); err != nil || !forwarded(v) {
					t.Fatalf("packet %d before: verdict %s, error %v; want it forwarded", i, verdictName(v), err)
				}
			}
			before := h.mustCounts(t)
			v, out, err := h.run(append([]byte(nil), tc.in...), h.ifindex(tc.ingress))
			if err != nil {
				t.Fatalf("run program: %v", err)
			}
			if v != tc.verdict {
				t.Errorf("verdict %s, want %s", verdictName(v), verdictName(tc.verdict))
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			// gopacket computed the expected checksums from scratch: equal
			// bytes mean the incremental updates were right.
			if d := diffFrames(out, want); d != "" {
				t.Errorf("output frame differs from the expected one:\n%s", d)
			}
			h.checkCounted(t, before, h.mustCounts(t), tc.count, len(tc.in))
		})
	}
}
