package loader_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// macMoved is the MAC a neighbour moves to in the next-hop cache tests.
var macMoved = mustMAC("02:00:5e:18:0f:0f")

// setNeighbour points addr on the interface ifindex at mac, as a MAC
// change in the network would (nothing tells the data plane).
func (h *xdpHarness) setNeighbour(t *testing.T, ifindex int, addr netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	var err error
	h.do(func() {
		err = netlink.NeighSet(&netlink.Neigh{LinkIndex: ifindex, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: addr.AsSlice(), HardwareAddr: mac})
	})
	if err != nil {
		t.Fatalf("set neighbour %s: %v", addr, err)
	}
}

// sentTo runs in on ifindex and returns the verdict and the destination MAC.
func (h *xdpHarness) sentTo(t *testing.T, in []byte, ifindex int) (uint32, net.HardwareAddr) {
	t.Helper()
	v, out, err := h.run(in, ifindex)
	if err != nil {
		t.Fatalf("run program: %v", err)
	}
	return v, net.HardwareAddr(out[:6])
}

// TestXDPNextHopCacheToReal: the next hop toward a real is looked up once
// and reused; InvalidateNextHops (xlbd on a FIB change), another ingress
// device and NEXTHOP_MAX_AGE each make the program look again.
func TestXDPNextHopCacheToReal(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	syn := fromClient(vipDR, 80, 41000, layers.IPProtocolTCP)
	ack := syn.with(func(f *frame) { f.ack = true }).bytes()
	step := func(desc string, in []byte, ifindex int, wantVerdict uint32, wantMAC net.HardwareAddr) {
		t.Helper()
		v, mac := h.sentTo(t, in, ifindex)
		if v != wantVerdict || mac.String() != wantMAC.String() {
			t.Errorf("%s: verdict %s, to %s; want %s, to %s", desc, verdictName(v), mac, verdictName(wantVerdict), wantMAC)
		}
	}

	step("first packet", syn.bytes(), h.ifA, xdpRedirect, macReal2)
	h.setNeighbour(t, h.ifB, addrReal2, macMoved)
	step("the real's MAC moved, nothing told the data plane: the cached next hop", ack, h.ifA, xdpRedirect, macReal2)
	if err := h.dp.InvalidateNextHops(); err != nil {
		t.Fatal(err)
	}
	step("after InvalidateNextHops", ack, h.ifA, xdpRedirect, macMoved)

	h.setNeighbour(t, h.ifB, addrReal2, macReal2)
	step("from another ingress device: looked up for it", ack, h.ifB, xdpTX, macReal2)
	h.setNeighbour(t, h.ifB, addrReal2, macMoved)
	step("again from that device: cached", ack, h.ifB, xdpTX, macReal2)
	time.Sleep(1100 * time.Millisecond) // NEXTHOP_MAX_AGE is about 1 s
	step("past the cache's age limit", ack, h.ifB, xdpTX, macMoved)
}

// TestXDPNextHopCacheNATReply: a NAT reply entry caches the way to its
// client; the route's MTU still bounds what is sent on by the cached hop.
func TestXDPNextHopCacheNATReply(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	real2NAT := netip.AddrPortFrom(addrReal2, 8080)
	if v, _ := h.sentTo(t, fromClient(vipNAT, 80, 41100, layers.IPProtocolTCP).bytes(), h.ifA); !forwarded(v) {
		t.Fatalf("the client's SYN: verdict %s, want it forwarded", verdictName(v))
	}
	reply := fromReal(real2NAT, 41100, macReal2, layers.IPProtocolTCP)
	step := func(desc string, wantMAC net.HardwareAddr) {
		t.Helper()
		v, mac := h.sentTo(t, reply.bytes(), h.ifB)
		if v != xdpRedirect || mac.String() != wantMAC.String() {
			t.Errorf("%s: verdict %s, to %s; want %s, to %s", desc, verdictName(v), mac, verdictName(xdpRedirect), wantMAC)
		}
	}

	step("first reply", macClient)
	h.setNeighbour(t, h.ifA, addrClient, macMoved)
	step("the client's MAC moved, nothing told the data plane: the cached next hop", macClient)
	if err := h.dp.InvalidateNextHops(); err != nil {
		t.Fatal(err)
	}
	step("after InvalidateNextHops", macMoved)

	// xga's MTU is 1500: one byte more, with DF, is answered with ICMP
	// fragmentation needed carrying that MTU, as without the cache.
	big := reply.with(func(f *frame) { f.payload = make([]byte, 1500-40+1) }).bytes()
	v, out, err := h.run(append([]byte(nil), big...), h.ifB)
	if err != nil {
		t.Fatal(err)
	}
	if want := fragNeeded(big, 1500); v != xdpRedirect || diffFrames(out, want) != "" {
		t.Errorf("a reply over the cached route's MTU: verdict %s, output differs from ICMP frag needed (MTU 1500):\n%s", verdictName(v), diffFrames(out, want))
	}
}
