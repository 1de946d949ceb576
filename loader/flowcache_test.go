//go:build linux

package loader_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/loader"
)

// cached reports whether CPU cpu's flow cache holds the flow client -> vip.
func (h *xdpHarness) cached(t *testing.T, cpu int, client, vip netip.AddrPort, proto loader.Protocol) bool {
	t.Helper()
	_, _, ok, err := h.dp.FlowCached(cpu, client, vip, proto)
	if err != nil {
		t.Fatalf("read the flow cache: %v", err)
	}
	return ok
}

// TestXDPFlowCache: an established flow's packets without SYN, FIN or RST
// are served from the CPU's flow cache, which the connection table fills
// once the flow is ESTABLISHED (TCP) or has a second packet (UDP), and
// with a NAT real's replies; a FIN makes the CPU forget the flow.
func TestXDPFlowCache(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	h.onCPU(t, 0)
	syn := fromClient(vipDR, 80, 42000, layers.IPProtocolTCP)
	ackF := syn.with(ack)
	fin := syn.with(func(f *frame) { f.fin = true })
	client, vip := syn.src, syn.dst

	for _, step := range []struct {
		desc   string
		in     frame
		cached bool
	}{
		{"SYN: SYN_RECV is not cached", syn, false},
		{"ACK: ESTABLISHED, cached", ackF, true},
		{"ACK from the cache", ackF, true},
		{"FIN: forgotten", fin, false},
		{"ACK after the FIN: through the table, not cached again", ackF, false},
	} {
		v, mac := h.sentTo(t, step.in.bytes(), h.ifA)
		if v != xdpRedirect || mac.String() != macReal2.String() {
			t.Errorf("%s: verdict %s, to %s; want redirect to %s", step.desc, verdictName(v), mac, macReal2)
		}
		if got := h.cached(t, 0, client, vip, loader.ProtoTCP); got != step.cached {
			t.Errorf("%s: cached %v, want %v", step.desc, got, step.cached)
		}
	}

	// A NAT real's replies: cached as their reply entry, and served from
	// there with the VIP restored.
	natSyn := fromClient(vipNAT, 80, 42002, layers.IPProtocolTCP)
	for _, in := range []frame{natSyn, natSyn.with(ack)} {
		if v, _ := h.sentTo(t, in.bytes(), h.ifA); v != xdpRedirect {
			t.Fatalf("NAT handshake: verdict %s, want redirect", verdictName(v))
		}
	}
	reply := fromReal(netip.AddrPortFrom(addrReal2, 8080), 42002, macReal2, layers.IPProtocolTCP)
	for i := range 2 {
		v, out, err := h.run(reply.bytes(), h.ifB)
		if err != nil {
			t.Fatal(err)
		}
		if src, _ := netip.AddrFromSlice(out[26:30]); v != xdpRedirect || net.HardwareAddr(out[:6]).String() != macClient.String() || src != vipNAT {
			t.Errorf("NAT reply %d: verdict %s, to %s from %s; want redirect to %s from %s", i+1, verdictName(v), net.HardwareAddr(out[:6]), src, macClient, vipNAT)
		}
		if !h.cached(t, 0, reply.src, reply.dst, loader.ProtoTCP) {
			t.Errorf("NAT reply %d: not cached", i+1)
		}
	}

	udp := fromClient(vipNAT, 53, 42001, layers.IPProtocolUDP)
	for i, want := range []bool{false, true} {
		if v, _ := h.sentTo(t, udp.bytes(), h.ifA); !forwarded(v) {
			t.Fatalf("UDP packet %d: verdict %s, want forwarded", i+1, verdictName(v))
		}
		if got := h.cached(t, 0, udp.src, udp.dst, loader.ProtoUDP); got != want {
			t.Errorf("UDP packet %d: cached %v, want %v", i+1, got, want)
		}
	}
}

// TestXDPFlowCacheReplySets: the replies of two NAT flows whose reply
// entries share a set of two slots are each served from their own slot,
// with their own VIP port restored: a slot's reply part (flow_cache_reply)
// is the one at its index, not its set's other. On the first CPU and the
// last, whose reply parts are at the end of the map the loader sized.
func TestXDPFlowCacheReplySets(t *testing.T) {
	tcpReal, udpReal := netip.AddrPortFrom(addrReal2, 8080), netip.AddrPortFrom(addrReal3, 5353)
	tcpForward := func(port uint16) uint32 {
		return loader.FlowCacheSlot(netip.AddrPortFrom(addrClient, port), netip.AddrPortFrom(vipNAT, 80), loader.ProtoTCP) &^ 1
	}
	set := func(real netip.AddrPort, port uint16, proto loader.Protocol) uint32 {
		return loader.FlowCacheSlot(real, netip.AddrPortFrom(addrClient, port), proto) &^ 1
	}
	// The TCP flow's forward entry is cached too: it must not take a slot
	// of the replies' set.
	tcpPortOfSet := map[uint32]uint16{}
	for port := uint16(20000); port < 30000; port++ {
		if s := set(tcpReal, port, loader.ProtoTCP); s != tcpForward(port) {
			tcpPortOfSet[s] = port
		}
	}
	var tcpPort, udpPort uint16
	for port := uint16(30000); port < 40000 && tcpPort == 0; port++ {
		if p, ok := tcpPortOfSet[set(udpReal, port, loader.ProtoUDP)]; ok {
			tcpPort, udpPort = p, port
		}
	}
	if tcpPort == 0 {
		t.Fatal("found no TCP and UDP replies of one flow cache set")
	}
	replies := []struct {
		in    frame
		proto loader.Protocol
		vip   netip.AddrPort
	}{
		{fromReal(tcpReal, tcpPort, macReal2, layers.IPProtocolTCP), loader.ProtoTCP, netip.AddrPortFrom(vipNAT, 80)},
		{fromReal(udpReal, udpPort, macReal3, layers.IPProtocolUDP), loader.ProtoUDP, netip.AddrPortFrom(vipNAT, 53)},
	}
	cpus := []int{0}
	if last := lastCPU(t); last != 0 {
		cpus = append(cpus, last)
	}
	for _, cpu := range cpus {
		t.Run(fmt.Sprintf("CPU %d", cpu), func(t *testing.T) {
			h := newXDPHarness(t, goldenState(nil, nil))
			h.onCPU(t, cpu)
			tcpSyn := fromClient(vipNAT, 80, tcpPort, layers.IPProtocolTCP)
			for _, in := range []frame{tcpSyn, tcpSyn.with(ack), fromClient(vipNAT, 53, udpPort, layers.IPProtocolUDP)} {
				if v, _ := h.sentTo(t, in.bytes(), h.ifA); v != xdpRedirect {
					t.Fatalf("client packet from port %d: verdict %s, want redirect", in.src.Port(), verdictName(v))
				}
			}
			// The first round fills both slots from the table, the second,
			// a pause later, is served from them.
			const pause = 50 * time.Millisecond
			for round := range 2 {
				if round > 0 {
					time.Sleep(pause)
				}
				for _, r := range replies {
					v, out, err := h.run(r.in.bytes(), h.ifB)
					if err != nil {
						t.Fatal(err)
					}
					if want := r.in.with(natReplyFrom(r.vip)).bytes(); v != xdpRedirect || !bytes.Equal(out, want) {
						t.Errorf("round %d, reply from %v: verdict %s, frame\n%x\nwant redirect of\n%x", round+1, r.in.src, verdictName(v), out, want)
					}
					if !h.cached(t, cpu, r.in.src, r.in.dst, r.proto) {
						t.Errorf("round %d, reply from %v: not cached", round+1, r.in.src)
					}
				}
			}
			// Served from the cache, the second round left the reply entries idle.
			jiffy := time.Second/time.Duration(h.dp.HZ()) + time.Millisecond
			idle := map[netip.AddrPort]time.Duration{}
			if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
				if f.Reply {
					idle[f.Src] = f.Idle
				}
				return false
			}); err != nil {
				t.Fatal(err)
			}
			for _, r := range replies {
				if got, ok := idle[r.in.src]; !ok || got < pause-2*jiffy {
					t.Errorf("reply entry of %v: idle %v (found %v) after a reply %v after the last, want it served from the cache, not the table", r.in.src, got, ok, pause)
				}
			}
		})
	}
}

// TestXDPFlowCacheSets: a CPU's cache keeps two flows of one set of two
// slots (flows whose hash picks the same slot); a third one is not cached
// while both slots serve, and takes one once its TTL has passed.
func TestXDPFlowCacheSets(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	h.onCPU(t, 0)
	// Three clients (address, port) whose flows hash to one slot, not
	// only one set. The hash spreads one address's ports evenly over the
	// slots, so a third flow of a slot takes a second address.
	bySlot := map[uint32][]netip.AddrPort{}
	var clients []netip.AddrPort
	for addr, i := addrClient, 0; len(clients) < 3 && i < 4; addr, i = addr.Next(), i+1 {
		for port := uint16(20000); len(clients) < 3 && port < 60000; port++ {
			c := netip.AddrPortFrom(addr, port)
			slot := loader.FlowCacheSlot(c, netip.AddrPortFrom(vipNAT, 53), loader.ProtoUDP)
			bySlot[slot] = append(bySlot[slot], c)
			clients = bySlot[slot]
		}
	}
	if len(clients) < 3 {
		t.Fatal("found no three clients of one flow cache slot")
	}
	jiffy := time.Second/time.Duration(h.dp.HZ()) + time.Millisecond
	flows := make([]frame, 3)
	for i, c := range clients {
		flows[i] = fromClient(vipNAT, 53, c.Port(), layers.IPProtocolUDP)
		flows[i].src = c
	}
	fill := func(f frame) {
		for range 2 { // the second packet comes from the table and fills a slot
			if v, _ := h.sentTo(t, f.bytes(), h.ifA); !forwarded(v) {
				t.Fatalf("UDP from %v: verdict %s, want forwarded", f.src, verdictName(v))
			}
		}
	}
	check := func(when string, want ...bool) {
		t.Helper()
		for i, f := range flows {
			_, slot, ok, err := h.dp.FlowCached(0, f.src, f.dst, loader.ProtoUDP)
			if err != nil {
				t.Fatal(err)
			}
			if ok != want[i] {
				t.Errorf("%s: flow from %v cached %v, want %v", when, f.src, ok, want[i])
			}
			if set := loader.FlowCacheSlot(f.src, f.dst, loader.ProtoUDP) &^ 1; ok && slot&^1 != set {
				t.Errorf("%s: flow from %v in slot %d, want set %d (FlowCacheSlot is not fcache_set)", when, f.src, slot, set)
			}
		}
	}
	fill(flows[0])
	check("first flow", true, false, false)
	time.Sleep(jiffy)
	fill(flows[1])
	check("second flow of the slot", true, true, false)
	time.Sleep(jiffy)
	fill(flows[2])
	check("third flow of the slot", true, true, false)
	// Past the TTL the third flow takes the first slot; the second flow's
	// next packet refills its own (FlowCached does not tell a slot past
	// its TTL; the idle times below do).
	time.Sleep(loader.FlowCacheTTL + jiffy)
	fill(flows[2])
	check("third flow of the slot after the TTL", false, true, true)
	fill(flows[1])
	check("second flow again", false, true, true)

	// Either slot serves: the next packets leave the table's entries idle.
	const pause = 50 * time.Millisecond
	time.Sleep(pause)
	for _, f := range flows[1:] {
		if v, _ := h.sentTo(t, f.bytes(), h.ifA); !forwarded(v) {
			t.Fatalf("UDP from %v: verdict %s, want forwarded", f.src, verdictName(v))
		}
	}
	idle := map[netip.AddrPort]time.Duration{}
	if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
		idle[f.Src] = f.Idle
		return false
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range flows[1:] {
		if got := idle[f.src]; got < pause-2*jiffy {
			t.Errorf("flow from %v: idle %v after a packet %v after its last, want it served from the cache, not the table", f.src, got, pause)
		}
	}
}

// TestXDPFlowCacheFlushedBySweep: a flow the sweeper deletes is served from
// no CPU's cache; its next packet goes to the connection table, which
// records it again.
func TestXDPFlowCacheFlushedBySweep(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	h.onCPU(t, 0)
	syn := fromClient(vipDR, 80, 42010, layers.IPProtocolTCP)
	client, vip := syn.src, syn.dst
	for _, in := range []frame{syn, syn.with(ack)} {
		if v, _ := h.sentTo(t, in.bytes(), h.ifA); v != xdpRedirect {
			t.Fatalf("handshake: verdict %s, want redirect", verdictName(v))
		}
	}
	if !h.cached(t, 0, client, vip, loader.ProtoTCP) {
		t.Fatal("established flow not cached")
	}
	if _, deleted, err := h.dp.ScanFlows(func(f *loader.Flow) bool { return f.Src == client && f.Dst == vip }); err != nil || deleted != 1 {
		t.Fatalf("delete the flow: %d deleted, %v", deleted, err)
	}
	if h.cached(t, 0, client, vip, loader.ProtoTCP) {
		t.Error("a deleted flow is still cached")
	}
	if v, mac := h.sentTo(t, syn.with(ack).bytes(), h.ifA); v != xdpRedirect || mac.String() != macReal2.String() {
		t.Errorf("ACK after the delete: verdict %s, to %s; want redirect to %s", verdictName(v), mac, macReal2)
	}
	if st, ok := h.flowState(t, client, vip); !ok || st != loader.StateEstablished {
		t.Errorf("after the delete the ACK left the table with %v (found %v), want the flow ESTABLISHED again", st, ok)
	}
}

// TestXDPFlowCacheReopen: a SYN reopening an ended flow is scheduled
// afresh; a CPU that cached the old flow must follow the new real, not the
// old one: the CPU the flow's entry names as caching it, or every CPU when
// more than one cached it. Every other flow stays cached on every CPU:
// clients reusing their ports must not empty the caches.
func TestXDPFlowCacheReopen(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	h := newXDPHarness(t, goldenState(nil, nil))
	one := fromClient(vipRR, 80, 42020, layers.IPProtocolTCP)
	many := fromClient(vipRR, 80, 42021, layers.IPProtocolTCP)
	// A flow of one's set, cached first, so that one takes the set's second slot.
	var first frame
	for port := uint16(20000); port < 60000 && first.dst == (netip.AddrPort{}); port++ {
		f := fromClient(vipRR, 80, port, layers.IPProtocolTCP)
		if port != one.src.Port() && loader.FlowCacheSlot(f.src, f.dst, loader.ProtoTCP)&^1 == loader.FlowCacheSlot(one.src, one.dst, loader.ProtoTCP)&^1 {
			first = f
		}
	}
	if first.dst == (netip.AddrPort{}) {
		t.Fatal("found no flow of the first flow's set")
	}
	send := func(desc string, in frame) net.HardwareAddr {
		t.Helper()
		v, mac := h.sentTo(t, in.bytes(), h.ifA)
		if v != xdpRedirect {
			t.Fatalf("%s: verdict %s, want redirect", desc, verdictName(v))
		}
		return mac
	}
	establish := func(cpu int, desc string, f frame) net.HardwareAddr {
		t.Helper()
		real := send(fmt.Sprintf("CPU %d: %s's SYN", cpu, desc), f)
		send(fmt.Sprintf("CPU %d: %s's ACK", cpu, desc), f.with(ack))
		return real
	}
	reopen := func(cpu int, desc string, f frame, old net.HardwareAddr) net.HardwareAddr {
		t.Helper()
		send(fmt.Sprintf("CPU %d: %s's RST", cpu, desc), f.with(func(f *frame) { f.rst = true }))
		real := send(fmt.Sprintf("CPU %d: SYN reopening %s", cpu, desc), f)
		if real.String() == old.String() {
			t.Fatalf("round robin over two reals sent the reopened %s to the same real %s: nothing to tell apart", desc, old)
		}
		return real
	}
	expect := func(when string, cpu int, f frame, desc string, want bool) {
		t.Helper()
		if got := h.cached(t, cpu, f.src, f.dst, loader.ProtoTCP); got != want {
			t.Errorf("%s: %s cached on CPU %d: %v, want %v", when, desc, cpu, got, want)
		}
	}

	// recorded checks what the flow's entry records as caching it.
	recorded := func(f frame, desc string, wantCPUs []int, wantMany bool) {
		t.Helper()
		cpus, many, err := h.dp.FlowCachedOn(f.src, f.dst, loader.ProtoTCP)
		if err != nil {
			t.Fatalf("read %s's entry: %v", desc, err)
		}
		if fmt.Sprint(cpus) != fmt.Sprint(wantCPUs) || many != wantMany {
			t.Errorf("%s's entry records CPUs %v (several: %v) as caching it, want %v (several: %v)", desc, cpus, many, wantCPUs, wantMany)
		}
	}

	h.onCPU(t, 0)
	establish(0, "the set's first flow", first)
	send("CPU 0: the flow of two CPUs' SYN", many)
	recorded(many, "a flow in SYN_RECV", nil, false)
	send("CPU 0: the flow of two CPUs' ACK", many.with(ack))
	oldMany := send("CPU 0: the flow of two CPUs' second ACK", many.with(ack))
	recorded(many, "a flow cached on CPU 0", []int{0}, false)
	oldOne := establish(0, "a flow of one CPU", one)
	if _, slot, _, _ := h.dp.FlowCached(0, one.src, one.dst, loader.ProtoTCP); slot&1 != 1 {
		t.Fatalf("the flow of one CPU is in slot %d, want its set's second", slot)
	}
	h.onCPU(t, 1)
	send("CPU 1: ACK of the flow of two CPUs", many.with(ack))
	expect("before", 1, many, "the flow of two CPUs", true)
	recorded(many, "a flow cached on CPUs 0 and 1", nil, true)
	recorded(one, "a flow cached on CPU 0", []int{0}, false)

	// Cached on CPU 0 only, reopened on CPU 1.
	newOne := reopen(1, "the flow of one CPU", one, oldOne)
	expect("after the reopen on CPU 1", 0, one, "its flow", false)
	for cpu := range 2 {
		expect("after the reopen on CPU 1", cpu, many, "another flow", true)
	}
	expect("after the reopen on CPU 1", 0, first, "another flow of its set", true)
	h.onCPU(t, 0)
	if got := send("CPU 0: ACK of the reopened flow", one.with(ack)); got.String() != newOne.String() {
		t.Errorf("CPU 0 sent the reopened flow's ACK to %s (the old real); want %s", got, newOne)
	}

	// Cached on both CPUs, reopened on CPU 0.
	newMany := reopen(0, "the flow of two CPUs", many, oldMany)
	for cpu := range 2 {
		expect("after the reopen on CPU 0", cpu, many, "its flow", false)
	}
	expect("after the reopen on CPU 0", 0, one, "another flow", true)
	expect("after the reopen on CPU 0", 0, first, "another flow", true)
	h.onCPU(t, 1)
	if got := send("CPU 1: ACK of the reopened flow", many.with(ack)); got.String() != newMany.String() {
		t.Errorf("CPU 1 sent the reopened flow's ACK to %s (the old real); want %s", got, newMany)
	}
}

// TestXDPFlowCacheKeptBySweepOfIdleFlows: a flow idle for longer than
// loader.FlowCacheTTL is in no CPU's cache, so deleting it (as the sweeper
// does) does not empty the caches: another flow's slot keeps serving.
func TestXDPFlowCacheKeptBySweepOfIdleFlows(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	h.onCPU(t, 0)
	kept := fromClient(vipDR, 80, 42040, layers.IPProtocolTCP)
	swept := fromClient(vipDR, 80, 42042, layers.IPProtocolTCP)
	send := func(desc string, in frame) {
		t.Helper()
		if v, _ := h.sentTo(t, in.bytes(), h.ifA); v != xdpRedirect {
			t.Fatalf("%s: verdict %s, want redirect", desc, verdictName(v))
		}
	}
	send("SYN of the flow to sweep", swept)
	send("ACK of the flow to sweep", swept.with(ack))
	time.Sleep(loader.FlowCacheTTL + 200*time.Millisecond)
	send("SYN of the kept flow", kept)
	send("ACK of the kept flow", kept.with(ack))
	if !h.cached(t, 0, kept.src, kept.dst, loader.ProtoTCP) {
		t.Fatal("established flow not cached")
	}
	if _, deleted, err := h.dp.ScanFlows(func(f *loader.Flow) bool { return f.Src == swept.src && f.Dst == swept.dst }); err != nil || deleted != 1 {
		t.Fatalf("delete the idle flow: %d deleted, %v", deleted, err)
	}
	if !h.cached(t, 0, kept.src, kept.dst, loader.ProtoTCP) {
		t.Error("deleting a flow idle for longer than the TTL emptied the flow cache")
	}
}

// TestXDPFlowCacheRefreshesIdle: a cached flow still goes to the connection
// table once its slot is loader.FlowCacheTTL old, which keeps its idle time
// (what the sweeper expires it by) within that TTL of its last packet.
func TestXDPFlowCacheRefreshesIdle(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	h.onCPU(t, 0)
	syn := fromClient(vipDR, 80, 42030, layers.IPProtocolTCP)
	for _, in := range []frame{syn, syn.with(ack)} {
		if v, _ := h.sentTo(t, in.bytes(), h.ifA); v != xdpRedirect {
			t.Fatalf("handshake: verdict %s, want redirect", verdictName(v))
		}
	}
	time.Sleep(loader.FlowCacheTTL + 200*time.Millisecond)
	if v, _ := h.sentTo(t, syn.with(ack).bytes(), h.ifA); v != xdpRedirect {
		t.Fatalf("ACK: verdict %s, want redirect", verdictName(v))
	}
	var idle time.Duration
	found := false
	if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Src == syn.src && f.Dst == syn.dst {
			idle, found = f.Idle, true
		}
		return false
	}); err != nil || !found {
		t.Fatalf("find the flow: found %v, %v", found, err)
	}
	if idle >= 300*time.Millisecond {
		t.Errorf("idle %v after an ACK %v after the last table lookup; want it refreshed (under 300 ms)", idle, loader.FlowCacheTTL+200*time.Millisecond)
	}
}
