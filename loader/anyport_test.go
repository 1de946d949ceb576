//go:build linux

package loader_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// TestIntegrationXDPAllPorts checks port-0 ("all ports") persistent
// services, NAT and DR: a client's connections to any port of the VIP go to
// its one real, NAT keeps the port and restores the VIP on replies, and
// without such services nothing looks for them.
func TestIntegrationXDPAllPorts(t *testing.T) {
	vipAny := netip.MustParseAddr("198.18.0.105")
	vipAnyDR := netip.MustParseAddr("198.18.0.106")
	epAny := loader.Endpoint{Addr: vipAny, Port: 0, Proto: loader.ProtoTCP}
	epAnyDR := loader.Endpoint{Addr: vipAnyDR, Port: 0, Proto: loader.ProtoTCP}
	reals := []control.Real{{Addr: addrReal2, Weight: 1}, {Addr: addrReal3, Weight: 1}}
	withAny := goldenState(nil, nil)
	withAny.Services = append(withAny.Services,
		&control.Service{Endpoint: epAny, Sched: "rr", Method: loader.MethodNAT, Reals: reals, Persistence: time.Minute, PersistenceBits: 32},
		&control.Service{Endpoint: epAnyDR, Sched: "rr", Method: loader.MethodDR, Reals: reals, Persistence: time.Minute, PersistenceBits: 32})
	h := newXDPHarness(t, withAny)

	syn80 := fromClient(vipAny, 80, 53000, layers.IPProtocolTCP)
	syn443 := fromClient(vipAny, 443, 53001, layers.IPProtocolTCP)
	reply443 := fromReal(netip.AddrPortFrom(addrReal2, 443), 53001, macReal2, layers.IPProtocolTCP)
	synDR22 := fromClient(vipAnyDR, 22, 53002, layers.IPProtocolTCP)
	synDR80 := fromClient(vipAnyDR, 80, 53003, layers.IPProtocolTCP)
	nat := &realRef{epAny, addrReal2, 0}
	dr := &realRef{epAnyDR, addrReal2, 0}
	runGolden(t, h, []goldenCase{
		{desc: "all-ports NAT: port 80 to the first real, port kept", ingress: ifNameA, in: syn80.bytes(),
			verdict: xdpRedirect, want: syn80.with(natTo(netip.AddrPortFrom(addrReal2, 80), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "all-ports NAT: port 443 of the same client to the same real (persistence)", ingress: ifNameA, in: syn443.bytes(),
			verdict: xdpRedirect, want: syn443.with(natTo(netip.AddrPortFrom(addrReal2, 443), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "all-ports NAT: the real's reply from port 443 gets VIP:443 back", ingress: ifNameB, in: reply443.bytes(),
			verdict: xdpRedirect, want: reply443.with(natReplyFrom(netip.AddrPortFrom(vipAny, 443))).bytes(), count: countWant{real: nat, reply: true}},
		{desc: "all-ports DR: port 22", ingress: ifNameA, in: synDR22.bytes(),
			verdict: xdpRedirect, want: synDR22.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "all-ports DR: port 80 of the same client to the same real", ingress: ifNameA, in: synDR80.bytes(),
			verdict: xdpRedirect, want: synDR80.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "a port of another address: passed untouched", ingress: ifNameA, in: fromClient(netip.MustParseAddr("198.18.0.107"), 80, 53004, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
	})

	// Without all-ports services the program stops looking for them.
	if err := h.apply(goldenState(nil, nil)); err != nil {
		t.Fatal(err)
	}
	runGolden(t, h, []goldenCase{
		{desc: "all-ports service removed: a new connection to it passes", ingress: ifNameA, in: fromClient(vipAny, 8080, 53005, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
	})
}
