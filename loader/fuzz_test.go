//go:build linux

package loader_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/loader"
)

// fuzzMaxFrame keeps frames within what BPF_PROG_TEST_RUN takes without
// multi-buffer XDP (a page minus headroom and tailroom).
const fuzzMaxFrame = 1514

// FuzzXDP runs random and mutated frames through the XDP program with the
// golden services configured. Whatever the frame, the program must not
// abort, must count it exactly once, must hand a frame it passes without
// forwarding back unchanged, and may change in a forwarded frame only the
// MACs, the IPv4 addresses, the ports and the checksums, which must still
// verify when they did on the way in.
//
// The seed corpus (the golden, truncated and malformed frames and some
// random bytes) runs in every `go test` with root; without root the test
// skips like the other privileged tests.
func FuzzXDP(f *testing.F) {
	for _, tc := range goldenCases() {
		f.Add(tc.in, tc.ingress == ifNameB)
	}
	syn := fromClient(vipDR, 80, 45000, layers.IPProtocolTCP)
	full := syn.bytes()
	for _, n := range []int{0, 13, 14, 20, 33, 34, 53, 54} {
		f.Add(full[:n], false)
	}
	f.Add(syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.IHL = 4 } }).bytes(), false)
	f.Add(syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.Length = 19 } }).bytes(), false)
	rnd := rand.New(rand.NewPCG(0x786c62, 1))
	for range 8 {
		b := make([]byte, 14+rnd.IntN(200))
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		f.Add(b, rnd.IntN(2) == 1)
	}

	for _, in := range fuzzSeeds6() {
		f.Add(in, false)
	}
	st := goldenState(nil, nil)
	st.Services = append(st.Services, v6State().Services...)
	h := newXDPHarness(f, st)
	f.Fuzz(func(t *testing.T, in []byte, onB bool) {
		if len(in) > fuzzMaxFrame {
			in = in[:fuzzMaxFrame]
		}
		ifindex := h.ifA
		if onB {
			ifindex = h.ifB
		}
		before := h.mustCounts(t)
		v, out, err := h.run(in, ifindex)
		if len(in) < 14 {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("%d-byte frame: error %v, want EINVAL from the kernel", len(in), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("run program: %v", err)
		}
		after := h.mustCounts(t)

		if v == xdpAborted || v > xdpRedirect {
			t.Fatalf("verdict %s on\n%s", verdictName(v), describe(in))
		}
		if after.reasons[loader.TxTooBig].Packets != before.reasons[loader.TxTooBig].Packets {
			noteOutcome(v, before, after)
			checkTooBig(t, v, in, out)
			return
		}
		if len(out) != len(in) {
			t.Fatalf("output is %d bytes, input %d", len(out), len(in))
		}

		var packets, bytesCounted uint64
		for _, r := range loader.Reasons() {
			packets += after.reasons[r].Packets - before.reasons[r].Packets
			bytesCounted += after.reasons[r].Bytes - before.reasons[r].Bytes
		}
		for id, a := range after.reals {
			b := before.reals[id]
			packets += a.PacketsIn - b.PacketsIn + a.PacketsOut - b.PacketsOut
			bytesCounted += a.BytesIn - b.BytesIn + a.BytesOut - b.BytesOut
		}
		if packets != 1 || bytesCounted != uint64(len(in)) {
			t.Errorf("counters moved by %d packets and %d bytes, want 1 packet of %d bytes (verdict %s)", packets, bytesCounted, len(in), verdictName(v))
		}

		// A NAT packet whose next hop is unresolved (or too large for
		// the egress MTU) is passed already rewritten, for the kernel
		// to forward.
		rewrittenPass := after.reasons[loader.PassNoNeigh].Packets != before.reasons[loader.PassNoNeigh].Packets ||
			after.reasons[loader.PassFragNeeded].Packets != before.reasons[loader.PassFragNeeded].Packets
		noteOutcome(v, before, after)
		if v == xdpPass && !rewrittenPass && !bytes.Equal(out, in) {
			t.Fatalf("passed without forwarding, but changed:\n%s", diffFrames(out, in))
		}
		if forwarded(v) || rewrittenPass {
			switch {
			case ipv6Of(in) != nil:
				checkRewrite6(t, in, out)
			case len(ipv4Of(in)) >= 20 && ipv4Of(in)[9] == 1:
				checkICMPForward(t, in, out)
			default:
				checkRewrite(t, in, out)
			}
		}
	})
}

// checkTooBig asserts that the answer to a frame too big for its next hop
// is an IPv4 ICMP "fragmentation needed" sent back (redirected to the
// ingress device) to the frame's
// source, quoting its IP header and 8 bytes, with valid checksums.
func checkTooBig(t *testing.T, v uint32, in, out []byte) {
	t.Helper()
	if v != xdpRedirect {
		t.Fatalf("too big: verdict %s, want XDP_REDIRECT", verdictName(v))
	}
	if ip6 := ipv6Of(in); ip6 != nil {
		o6 := ipv6Of(out)
		if len(ip6) < 48 || len(o6) < 96 || o6[6] != 58 || o6[40] != 2 {
			t.Fatalf("too big: answer to an IPv6 frame is not an ICMPv6 packet too big:\n%s", describe(out))
		}
		if !bytes.Equal(o6[8:24], ip6[24:40]) || !bytes.Equal(o6[24:40], ip6[8:24]) || !bytes.Equal(o6[48:96], ip6[:48]) {
			t.Errorf("too big: answer's addresses or quote do not match the frame:\n%s", describe(out))
		}
		if s := onesSum(o6[40:96], pseudo6(o6, 56, 58)); s != 0xffff {
			t.Errorf("too big: answer's ICMPv6 checksum does not verify")
		}
		return
	}
	ipIn, ipOut := ipv4Of(in), ipv4Of(out)
	if len(ipIn) < 28 || len(ipOut) < 56 {
		t.Fatalf("too big: answer of %d bytes to a frame of %d:\n%s", len(out), len(in), describe(out))
	}
	if !bytes.Equal(out[:6], in[6:12]) || !bytes.Equal(out[6:12], in[:6]) {
		t.Errorf("too big: answer's MACs %x, want the frame's swapped", out[:12])
	}
	if ipOut[9] != 1 || ipOut[20] != 3 || ipOut[21] != 4 {
		t.Errorf("too big: answer is protocol %d type %d code %d, want ICMP 3/4", ipOut[9], ipOut[20], ipOut[21])
	}
	if !bytes.Equal(ipOut[12:16], ipIn[16:20]) || !bytes.Equal(ipOut[16:20], ipIn[12:16]) {
		t.Errorf("too big: answer goes %v -> %v, want the frame's addresses swapped", ipOut[12:16], ipOut[16:20])
	}
	if !bytes.Equal(ipOut[28:56], ipIn[:28]) {
		t.Errorf("too big: answer quotes %x, want %x", ipOut[28:56], ipIn[:28])
	}
	if s := onesSum(ipOut[:20], 0); s != 0xffff {
		t.Errorf("too big: answer's IPv4 checksum does not verify")
	}
	if s := onesSum(ipOut[20:56], 0); s != 0xffff {
		t.Errorf("too big: answer's ICMP checksum does not verify")
	}
}

// checkRewrite asserts that a forwarded frame differs from the input only
// where forwarding may change it, and that checksums valid on the way in
// are valid on the way out.
func checkRewrite(t *testing.T, in, out []byte) {
	t.Helper()
	ip := ipv4Of(in)
	if len(ip) < 20 {
		t.Fatalf("forwarded a frame without an IPv4 header:\n%s", describe(in))
	}
	ipOff := len(in) - len(ip)
	ihl := int(ip[0]&0x0f) * 4
	l4 := ipOff + ihl
	if ihl < 20 || l4+8 > len(in) {
		t.Fatalf("forwarded a frame with IHL %d of %d bytes:\n%s", ihl, len(in), describe(in))
	}
	may := make([]bool, len(in))
	mark := func(from, to int) {
		for i := from; i < to && i < len(may); i++ {
			may[i] = true
		}
	}
	mark(0, 12)              // MACs
	mark(ipOff+10, ipOff+20) // IPv4 checksum and addresses
	mark(l4, l4+4)           // ports
	switch ip[9] {
	case 6:
		mark(l4+16, l4+18)
	case 17:
		mark(l4+6, l4+8)
	default:
		t.Fatalf("forwarded IP protocol %d:\n%s", ip[9], describe(in))
	}
	for i := range in {
		if in[i] != out[i] && !may[i] {
			t.Fatalf("forwarding changed byte %d (%#02x -> %#02x), which it must not touch:\n%s", i, in[i], out[i], diffFrames(out, in))
		}
	}
	udpNone := ip[9] == 17 && binary.BigEndian.Uint16(in[l4+6:]) == 0
	if verifyChecksums(in, udpNone) == nil {
		if err := verifyChecksums(out, udpNone); err != nil {
			t.Fatalf("checksums valid on the way in, not out: %v\n%s", err, diffFrames(out, in))
		}
	}
}

// fuzzOutcomes counts the program's outcomes seen, by verdict and reason.
var fuzzOutcomes [8][16]int

// noteOutcome gives every outcome of the BPF program, which Go's coverage
// cannot see into, a basic block of its own, so the fuzzer keeps inputs
// that reach a new verdict or reason as interesting.
func noteOutcome(v uint32, before, after counts) {
	r := loader.Reason(15) // forwarded: counted per real
	for _, x := range loader.Reasons() {
		if after.reasons[x].Packets != before.reasons[x].Packets {
			r = x
		}
	}
	switch r {
	case loader.PassNotIP:
		fuzzOutcomes[v&7][r]++
	case loader.PassMalformed:
		fuzzOutcomes[v&7][r]++
	case loader.PassFragment:
		fuzzOutcomes[v&7][r]++
	case loader.PassNotTCPUDP:
		fuzzOutcomes[v&7][r]++
	case loader.PassNoService:
		fuzzOutcomes[v&7][r]++
	case loader.PassNoNeigh:
		fuzzOutcomes[v&7][r]++
	case loader.PassFragNeeded:
		fuzzOutcomes[v&7][r]++
	case loader.DropNoReal:
		fuzzOutcomes[v&7][r]++
	case loader.DropBadReal:
		fuzzOutcomes[v&7][r]++
	case loader.DropNoRoute:
		fuzzOutcomes[v&7][r]++
	case loader.DropFwdDisabled:
		fuzzOutcomes[v&7][r]++
	case loader.DropNoNeigh:
		fuzzOutcomes[v&7][r]++
	case loader.PassIPv6Ext:
		fuzzOutcomes[v&7][r]++
	case loader.TxTooBig:
		fuzzOutcomes[v&7][r]++
	default:
		switch v {
		case xdpTX:
			fuzzOutcomes[v&7][15]++
		case xdpRedirect:
			fuzzOutcomes[v&7][15]++
		}
	}
}

// fuzzSeeds6 are IPv6 and ICMP frames for the fuzzer to start from.
func fuzzSeeds6() [][]byte {
	syn := fromClient6(vip6DR, 80, 52000, layers.IPProtocolTCP)
	return [][]byte{
		syn.bytes(),
		fromClient6(vip6NAT, 80, 52001, layers.IPProtocolTCP).bytes(),
		fromClient6(vip6NAT, 53, 52002, layers.IPProtocolUDP).bytes(),
		syn.with(func(f *frame6) { f.ext, f.extProto = optHeader(layers.IPProtocolTCP), layers.IPProtocolIPv6HopByHop }).bytes(),
		syn.with(func(f *frame6) { f.payload = make([]byte, mtuB) }).bytes(),
		neighbourSolicitation(vip6DR),
		icmp6(macClient, macDirA, netip.MustParseAddr("2001:db8::fe"), vip6NAT, quoted6(netip.AddrPortFrom(vip6NAT, 80), netip.AddrPortFrom(addr6Client, 52001))),
		icmp4(macClient, macDirA, netip.MustParseAddr("198.18.0.254"), vipNAT, quoted4(netip.AddrPortFrom(vipNAT, 80), netip.AddrPortFrom(addrClient, 40100))),
	}
}

// ipv6Of finds the IPv6 header of an Ethernet frame (after up to three
// VLAN tags), or nil.
func ipv6Of(frame []byte) []byte {
	off := 12
	for i := 0; i < 4; i++ {
		if len(frame) < off+2 {
			return nil
		}
		switch binary.BigEndian.Uint16(frame[off:]) {
		case 0x8100, 0x88a8:
			off += 4
			continue
		case 0x86dd:
			if len(frame) < off+2+40 {
				return nil
			}
			return frame[off+2:]
		}
		return nil
	}
	return nil
}

// pseudo6 is the one's complement sum of an IPv6 pseudo-header for an
// upper-layer packet of n bytes and protocol next.
func pseudo6(ip6 []byte, n int, next byte) uint32 {
	var sum uint32
	for i := 8; i < 40; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip6[i:]))
	}
	return sum + uint32(n) + uint32(next)
}

// checkRewrite6 asserts for a forwarded IPv6 frame what checkRewrite does
// for IPv4: only MACs, addresses, ports and the L4 checksum changed, and
// a TCP/UDP checksum valid on the way in is valid on the way out.
func checkRewrite6(t *testing.T, in, out []byte) {
	t.Helper()
	ip, op := ipv6Of(in), ipv6Of(out)
	if op == nil || len(out) != len(in) {
		t.Fatalf("forwarded IPv6 frame became:\n%s", describe(out))
	}
	off := len(in) - len(ip)
	// Walk the option headers the program walks.
	next, l4 := ip[6], 40
	for next == 0 || next == 60 {
		if len(ip) < l4+8 {
			t.Fatalf("forwarded an IPv6 frame with a truncated option header:\n%s", describe(in))
		}
		next, l4 = ip[l4], l4+(int(ip[l4+1])+1)*8
	}
	if (next != 6 && next != 17 && next != 58) || len(ip) < l4+8 {
		t.Fatalf("forwarded IPv6 next header %d:\n%s", next, describe(in))
	}
	if next == 58 {
		// An ICMPv6 error to a real: addresses and checksums may change.
		n := int(binary.BigEndian.Uint16(op[4:]))
		if s := onesSum(op[40:40+n], pseudo6(op, n, 58)); s != 0xffff && onesSum(ip[40:40+n], pseudo6(ip, n, 58)) == 0xffff {
			t.Fatalf("forwarded ICMPv6: checksum valid on the way in, not out:\n%s", diffFrames(out, in))
		}
		return
	}
	may := make([]bool, len(in))
	mark := func(from, to int) {
		for i := from; i < to && i < len(may); i++ {
			may[i] = true
		}
	}
	mark(0, 12)
	mark(off+8, off+40)
	mark(off+l4, off+l4+4)
	if next == 6 {
		mark(off+l4+16, off+l4+18)
	} else {
		mark(off+l4+6, off+l4+8)
	}
	for i := range in {
		if in[i] != out[i] && !may[i] {
			t.Fatalf("forwarding changed byte %d (%#02x -> %#02x), which it must not touch:\n%s", i, in[i], out[i], diffFrames(out, in))
		}
	}
	n := int(binary.BigEndian.Uint16(ip[4:])) - l4 + 40
	if n < 8 || 40+(l4-40)+n > len(ip) {
		return
	}
	if onesSum(ip[l4:l4+n], pseudo6(ip, n, next)) == 0xffff && onesSum(op[l4:l4+n], pseudo6(op, n, next)) != 0xffff {
		t.Fatalf("checksum valid on the way in, not out:\n%s", diffFrames(out, in))
	}
}

// checkICMPForward asserts that an ICMP error forwarded to a real keeps
// valid IPv4 and ICMP checksums.
func checkICMPForward(t *testing.T, in, out []byte) {
	t.Helper()
	ip, op := ipv4Of(in), ipv4Of(out)
	if len(op) < 20 || len(out) != len(in) {
		t.Fatalf("forwarded ICMP frame became:\n%s", describe(out))
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total > len(ip) || total < ihl {
		return
	}
	if onesSum(ip[:ihl], 0) == 0xffff && onesSum(op[:ihl], 0) != 0xffff {
		t.Fatalf("forwarded ICMP: IPv4 checksum valid on the way in, not out:\n%s", diffFrames(out, in))
	}
	if onesSum(ip[ihl:total], 0) == 0xffff && onesSum(op[ihl:total], 0) != 0xffff {
		t.Fatalf("forwarded ICMP: ICMP checksum valid on the way in, not out:\n%s", diffFrames(out, in))
	}
}
