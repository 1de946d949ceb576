//go:build linux

package loader_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

// Verdicts of an XDP program (enum xdp_action).
const (
	xdpAborted  uint32 = 0
	xdpDrop     uint32 = 1
	xdpPass     uint32 = 2
	xdpTX       uint32 = 3
	xdpRedirect uint32 = 4
)

func verdictName(v uint32) string {
	switch v {
	case xdpAborted:
		return "XDP_ABORTED"
	case xdpDrop:
		return "XDP_DROP"
	case xdpPass:
		return "XDP_PASS"
	case xdpTX:
		return "XDP_TX"
	case xdpRedirect:
		return "XDP_REDIRECT"
	}
	return fmt.Sprintf("verdict(%d)", v)
}

func forwarded(v uint32) bool { return v == xdpTX || v == xdpRedirect }

// The golden topology lives in one network namespace the test creates: the
// director's client-side interface xga (198.18.0.1/24) and real-side
// interface xgb (198.18.1.1/24), each one end of a veth pair whose peer
// stays in the namespace, with permanent neighbour entries for the client
// and the reals, so bpf_fib_lookup gives known MACs.
const (
	ifNameA = "xga"
	ifNameB = "xgb"
	// mtuB is xgb's MTU, below xga's 1500, so that a full-size frame
	// from the client does not fit toward the reals.
	mtuB = 1400
)

var (
	macDirA   = mustMAC("02:00:5e:18:00:01")
	macPeerA  = mustMAC("02:00:5e:18:00:fe")
	macDirB   = mustMAC("02:00:5e:18:01:01")
	macPeerB  = mustMAC("02:00:5e:18:01:fe")
	macClient = mustMAC("02:00:5e:18:00:02")
	macReal2  = mustMAC("02:00:5e:18:01:02")
	macReal3  = mustMAC("02:00:5e:18:01:03")

	prefixDirA = netip.MustParsePrefix("198.18.0.1/24")
	prefixDirB = netip.MustParsePrefix("198.18.1.1/24")
	addrClient = netip.MustParseAddr("198.18.0.2")
	// addrClient3 is a client without a neighbour entry.
	addrClient3 = netip.MustParseAddr("198.18.0.3")
	addrReal2   = netip.MustParseAddr("198.18.1.2")
	addrReal3   = netip.MustParseAddr("198.18.1.3")
	// addrUnresolved is on xgb's subnet but has no neighbour entry: the
	// kernel cannot resolve it (nothing answers ARP there).
	addrUnresolved = netip.MustParseAddr("198.18.1.9")

	// The IPv6 side of the same topology.
	prefix6DirA = netip.MustParsePrefix("2001:db8::1/64")
	prefix6DirB = netip.MustParsePrefix("2001:db8:1::1/64")
	addr6Client = netip.MustParseAddr("2001:db8::2")
	addr6Real2  = netip.MustParseAddr("2001:db8:1::2")
	addr6Real3  = netip.MustParseAddr("2001:db8:1::3")

	vipDR    = netip.MustParseAddr("198.18.0.100")
	vipNAT   = netip.MustParseAddr("198.18.0.101")
	vipRR    = netip.MustParseAddr("198.18.0.102")
	vipZero  = netip.MustParseAddr("198.18.0.103")
	vipUnres = netip.MustParseAddr("198.18.0.104")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Services of the golden data plane.
var (
	epDR       = loader.Endpoint{Addr: vipDR, Port: 80, Proto: loader.ProtoTCP}
	epNAT      = loader.Endpoint{Addr: vipNAT, Port: 80, Proto: loader.ProtoTCP}
	epNATUDP   = loader.Endpoint{Addr: vipNAT, Port: 53, Proto: loader.ProtoUDP}
	epZero     = loader.Endpoint{Addr: vipZero, Port: 80, Proto: loader.ProtoTCP}
	epRR       = loader.Endpoint{Addr: vipRR, Port: 80, Proto: loader.ProtoTCP}
	epRRNAT    = loader.Endpoint{Addr: vipRR, Port: 443, Proto: loader.ProtoTCP}
	epUnresDR  = loader.Endpoint{Addr: vipUnres, Port: 80, Proto: loader.ProtoTCP}
	epUnresNAT = loader.Endpoint{Addr: vipUnres, Port: 8080, Proto: loader.ProtoTCP}
)

// goldenState is the desired state every golden data plane starts from; the
// round-robin services' reals can be replaced to test changes.
func goldenState(rrReals, rrNATReals []control.Real) *control.State {
	if rrReals == nil {
		rrReals = []control.Real{{Addr: addrReal2, Port: 80, Weight: 1}, {Addr: addrReal3, Port: 80, Weight: 1}}
	}
	if rrNATReals == nil {
		rrNATReals = []control.Real{{Addr: addrReal2, Port: 8443, Weight: 1}, {Addr: addrReal3, Port: 8443, Weight: 1}}
	}
	return &control.State{Services: []*control.Service{
		{Endpoint: epDR, Sched: "rr", Method: loader.MethodDR, Reals: []control.Real{{Addr: addrReal2, Port: 80, Weight: 1}}},
		{Endpoint: epNATUDP, Sched: "rr", Method: loader.MethodNAT, Reals: []control.Real{{Addr: addrReal3, Port: 5353, Weight: 1}}},
		{Endpoint: epNAT, Sched: "rr", Method: loader.MethodNAT, Reals: []control.Real{{Addr: addrReal2, Port: 8080, Weight: 1}}},
		{Endpoint: epRR, Sched: "rr", Method: loader.MethodDR, Reals: rrReals},
		{Endpoint: epRRNAT, Sched: "rr", Method: loader.MethodNAT, Reals: rrNATReals},
		{Endpoint: epZero, Sched: "rr", Method: loader.MethodDR, Reals: []control.Real{{Addr: addrReal2, Port: 80, Weight: 0}, {Addr: addrReal3, Port: 80, Weight: 0}}},
		{Endpoint: epUnresDR, Sched: "rr", Method: loader.MethodDR, Reals: []control.Real{{Addr: addrUnresolved, Port: 80, Weight: 1}}},
		{Endpoint: epUnresNAT, Sched: "rr", Method: loader.MethodNAT, Reals: []control.Real{{Addr: addrUnresolved, Port: 80, Weight: 1}}},
	}}
}

// xdpHarness is a loaded data plane filled by control.Reconciler, and a
// goroutine locked on an OS thread inside the test's own network namespace
// that runs everything that needs the namespace (BPF_PROG_TEST_RUN with an
// ingress device, Reconciler.Apply, which resolves next hops).
type xdpHarness struct {
	dp   *loader.Dataplane
	prog *ebpf.Program
	rec  *control.Reconciler
	// reals are the data plane's reals as of the last apply: reading the
	// reals array walks all of its entries, too slow to do per packet.
	reals map[uint32]loader.Real
	ifA   int // ifindex of xga
	ifB   int // ifindex of xgb

	calls chan func()
	done  chan struct{}
	// ns is the namespace, for other threads that must run in it; valid
	// until close.
	ns netns.NsHandle
}

var pinSeq atomic.Uint32

const pinPrefix = "/sys/fs/bpf/xlbtest-golden-"

// newXDPHarness builds the namespace, loads the data plane under a pin
// directory of its own and applies st. Everything is removed at the end of
// the test.
func newXDPHarness(tb testing.TB, st *control.State) *xdpHarness {
	tb.Helper()
	testenv.RequirePrivileged(tb)
	sweepStalePins(tb)

	h := &xdpHarness{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go h.serve(ready)
	if err := <-ready; err != nil {
		tb.Fatalf("build golden namespace: %v", err)
	}
	tb.Cleanup(h.close)

	pinDir := fmt.Sprintf("%s%d-%d", pinPrefix, os.Getpid(), pinSeq.Add(1))
	dp, err := loader.Open(loader.Options{PinDir: pinDir, FlowTableSize: 1 << 16})
	if err != nil {
		_ = loader.RemovePins(pinDir)
		tb.Fatalf("open data plane: %v", err)
	}
	tb.Cleanup(func() {
		if err := dp.Close(); err != nil {
			tb.Errorf("close data plane: %v", err)
		}
		if err := loader.RemovePins(pinDir); err != nil {
			tb.Errorf("remove pins: %v", err)
		}
	})
	h.dp = dp
	h.prog = dp.XDPProgram()
	if h.rec, err = control.NewReconciler(dp, nil); err != nil {
		tb.Fatalf("new reconciler: %v", err)
	}
	// Next hops are cached, as under xlbd, which watches the FIB.
	if err := dp.InvalidateNextHops(); err != nil {
		tb.Fatal(err)
	}
	if err := h.apply(st); err != nil {
		tb.Fatalf("apply golden state: %v", err)
	}
	return h
}

// sweepStalePins removes pin directories of golden tests whose process
// died before its cleanups ran.
func sweepStalePins(tb testing.TB) {
	tb.Helper()
	dirs, _ := filepath.Glob(pinPrefix + "*")
	for _, d := range dirs {
		var pid, seq int
		if n, _ := fmt.Sscanf(strings.TrimPrefix(d, pinPrefix), "%d-%d", &pid, &seq); n != 2 || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := loader.RemovePins(d); err != nil {
			tb.Logf("remove stale pins %s: %v", d, err)
		}
	}
}

// serve runs on a thread of its own, which enters a new network namespace
// and never leaves it: the thread is not unlocked, so the runtime ends it
// with the goroutine and the namespace goes away with its last reference.
func (h *xdpHarness) serve(ready chan<- error) {
	runtime.LockOSThread()
	defer close(h.done)
	ns, err := netns.New()
	if err != nil {
		ready <- fmt.Errorf("create network namespace: %w", err)
		return
	}
	defer ns.Close()
	h.ns = ns
	if err := h.setupNet(); err != nil {
		h.teardownNet()
		ready <- err
		return
	}
	ready <- nil
	for fn := range h.calls {
		fn()
	}
	h.teardownNet()
}

func (h *xdpHarness) setupNet() error {
	for _, f := range []string{"/proc/sys/net/ipv4/conf/all/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(f, []byte("1"), 0); err != nil {
			return fmt.Errorf("enable forwarding: %w", err)
		}
	}
	pairs := []struct {
		name   string
		mac    net.HardwareAddr
		peer   string
		peerHW net.HardwareAddr
		prefix netip.Prefix
		mtu    int
		ifidx  *int
		neighs map[netip.Addr]net.HardwareAddr
	}{
		{ifNameA, macDirA, ifNameA + "p", macPeerA, prefixDirA, 1500, &h.ifA, map[netip.Addr]net.HardwareAddr{addrClient: macClient, addr6Client: macClient}},
		{ifNameB, macDirB, ifNameB + "p", macPeerB, prefixDirB, mtuB, &h.ifB, map[netip.Addr]net.HardwareAddr{addrReal2: macReal2, addrReal3: macReal3, addr6Real2: macReal2, addr6Real3: macReal3}},
	}
	for _, p := range pairs {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.name, HardwareAddr: p.mac, MTU: p.mtu}, PeerName: p.peer, PeerHardwareAddr: p.peerHW, PeerMTU: uint32(p.mtu)}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s: %w", p.name, err)
		}
		link, err := netlink.LinkByName(p.name)
		if err != nil {
			return fmt.Errorf("find link %s: %w", p.name, err)
		}
		peer, err := netlink.LinkByName(p.peer)
		if err != nil {
			return fmt.Errorf("find link %s: %w", p.peer, err)
		}
		*p.ifidx = link.Attrs().Index
		prefix6 := prefix6DirA
		if p.name == ifNameB {
			prefix6 = prefix6DirB
		}
		for _, pfx := range []netip.Prefix{p.prefix, prefix6} {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())}, Flags: unix.IFA_F_NODAD}
			if err := netlink.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("add address %s to %s: %w", pfx, p.name, err)
			}
		}
		for _, l := range []netlink.Link{link, peer} {
			if err := netlink.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
			}
		}
		for ip, mac := range p.neighs {
			fam := netlink.FAMILY_V4
			if ip.Is6() {
				fam = netlink.FAMILY_V6
			}
			n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
			if err := netlink.NeighSet(n); err != nil {
				return fmt.Errorf("add neighbour %s on %s: %w", ip, p.name, err)
			}
		}
	}
	return nil
}

// teardownNet deletes the links the harness made (their peers go with them).
func (h *xdpHarness) teardownNet() {
	for _, name := range []string{ifNameA, ifNameB} {
		if l, err := netlink.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	}
}

func (h *xdpHarness) close() {
	close(h.calls)
	<-h.done
}

// do runs fn on the namespace's thread. fn must not call t.Fatal.
func (h *xdpHarness) do(fn func()) {
	finished := make(chan struct{})
	h.calls <- func() {
		defer close(finished)
		fn()
	}
	<-finished
}

// onCPU keeps the harness's thread, which runs the program, on cpu: the
// flow cache is per CPU.
func (h *xdpHarness) onCPU(t testing.TB, cpu int) {
	t.Helper()
	var err error
	h.do(func() {
		var set unix.CPUSet
		set.Set(cpu)
		err = unix.SchedSetaffinity(0, &set)
	})
	if err != nil {
		t.Fatalf("run on CPU %d: %v", cpu, err)
	}
}

// lastCPU is the highest CPU the calling thread may run on.
func lastCPU(b testing.TB) int {
	b.Helper()
	cpu, err := testenv.LastCPU()
	if err != nil {
		b.Fatal(err)
	}
	return cpu
}

func (h *xdpHarness) apply(st *control.State) error {
	var err error
	h.do(func() { err = h.rec.Apply(st) })
	if err != nil {
		return err
	}
	if h.reals, err = h.dp.Reals(); err != nil {
		return fmt.Errorf("read reals: %w", err)
	}
	return nil
}

// xdpMD has the layout of struct xdp_md, the XDP program's context.
type xdpMD struct {
	Data           uint32
	DataEnd        uint32
	DataMeta       uint32
	IngressIfindex uint32
	RxQueueIndex   uint32
	EgressIfindex  uint32
}

// run passes one frame through the program as if it arrived on ifindex.
func (h *xdpHarness) run(in []byte, ifindex int) (verdict uint32, out []byte, err error) {
	h.do(func() { verdict, out, err = h.runHere(in, ifindex) })
	return verdict, out, err
}

// runHere is run on the calling thread, which must be in the namespace.
func (h *xdpHarness) runHere(in []byte, ifindex int) (uint32, []byte, error) {
	opts := ebpf.RunOptions{
		Data:    in,
		DataOut: make([]byte, len(in)+256),
		Context: xdpMD{DataEnd: uint32(len(in)), IngressIfindex: uint32(ifindex)},
		Repeat:  1,
	}
	verdict, err := h.prog.Run(&opts)
	if err != nil {
		return verdict, nil, err
	}
	return verdict, opts.DataOut, nil
}

// counts are the data plane's counters at one moment.
type counts struct {
	reasons map[loader.Reason]loader.Counters
	reals   map[uint32]loader.RealCounters
}

func (h *xdpHarness) counts() (counts, error) {
	c := counts{reals: make(map[uint32]loader.RealCounters)}
	var err error
	if c.reasons, err = h.dp.ReasonStats(); err != nil {
		return c, err
	}
	for id := range h.reals {
		if c.reals[id], err = h.dp.RealStats(id); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (h *xdpHarness) mustCounts(t testing.TB) counts {
	t.Helper()
	c, err := h.counts()
	if err != nil {
		t.Fatalf("read counters: %v", err)
	}
	return c
}

// countWant says which one counter a packet must have moved.
type countWant struct {
	reason  loader.Reason // when real is not set
	real    *realRef      // forwarded to (or, reply, from) this real
	reply   bool          // counted as a NAT reply (packets_out)
	newConn bool          // a new connection was scheduled
}

func (w countWant) String() string {
	if w.real == nil {
		return fmt.Sprintf("reason %q", w.reason)
	}
	dir := "in"
	if w.reply {
		dir = "out"
	}
	return fmt.Sprintf("real %s (%s, new connection %v)", w.real, dir, w.newConn)
}

// realRef names a real of a service.
type realRef struct {
	svc  loader.Endpoint
	addr netip.Addr
	port uint16
}

func (r *realRef) String() string {
	return fmt.Sprintf("%s of %s", netip.AddrPortFrom(r.addr, r.port), r.svc)
}

// realID finds the id the reconciler gave a real.
func (h *xdpHarness) realID(r *realRef) (uint32, error) {
	svcs, err := h.dp.Services()
	if err != nil {
		return 0, err
	}
	svc, ok := svcs[r.svc]
	if !ok {
		return 0, fmt.Errorf("service %s not in the data plane", r.svc)
	}
	// A removed real of an earlier service may carry a reused service id.
	for id, rl := range h.reals {
		if rl.ServiceID == svc.ID && rl.Addr == r.addr && rl.Port == r.port && !rl.Removed {
			return id, nil
		}
	}
	return 0, fmt.Errorf("real %s not in the data plane", r)
}

// checkCounted asserts that exactly the counter w names moved between
// before and after, by one packet of n bytes.
func (h *xdpHarness) checkCounted(t testing.TB, before, after counts, w countWant, n int) {
	t.Helper()
	for _, r := range loader.Reasons() {
		d := loader.Counters{Packets: after.reasons[r].Packets - before.reasons[r].Packets, Bytes: after.reasons[r].Bytes - before.reasons[r].Bytes}
		want := loader.Counters{}
		if w.real == nil && r == w.reason {
			want = loader.Counters{Packets: 1, Bytes: uint64(n)}
		}
		if d != want {
			t.Errorf("counter %q moved by %+v, want %+v (expected %s)", r, d, want, w)
		}
	}
	wantID := ^uint32(0)
	if w.real != nil {
		id, err := h.realID(w.real)
		if err != nil {
			t.Fatalf("find real: %v", err)
		}
		wantID = id
	}
	for id, a := range after.reals {
		b := before.reals[id]
		d := loader.RealCounters{Conns: a.Conns - b.Conns, PacketsIn: a.PacketsIn - b.PacketsIn, BytesIn: a.BytesIn - b.BytesIn, PacketsOut: a.PacketsOut - b.PacketsOut, BytesOut: a.BytesOut - b.BytesOut}
		want := loader.RealCounters{}
		if id == wantID {
			if w.reply {
				want.PacketsOut, want.BytesOut = 1, uint64(n)
			} else {
				want.PacketsIn, want.BytesIn = 1, uint64(n)
			}
			if w.newConn {
				want.Conns = 1
			}
		}
		if d != want {
			t.Errorf("counters of real %d moved by %+v, want %+v (expected %s)", id, d, want, w)
		}
	}
}

// frame describes an Ethernet frame that gopacket builds.
type frame struct {
	srcMAC, dstMAC net.HardwareAddr
	tags           []layers.EthernetType // TPID of each VLAN tag, outermost first
	src, dst       netip.AddrPort
	proto          layers.IPProtocol // TCP, UDP or ICMPv4
	tos            uint8
	ttl            uint8
	id             uint16
	flags          layers.IPv4Flag
	fragOffset     uint16
	options        []layers.IPv4Option
	ack            bool // TCP: ACK instead of SYN
	fin, rst       bool // TCP: FIN+ACK or RST instead of SYN
	payload        []byte
	udpNoCsum      bool // UDP: checksum 0 (none)
	// ipMutate changes the IPv4 header after lengths and checksums were
	// computed, to make malformed frames.
	ipMutate func(*layers.IPv4)
}

// with returns a copy of f changed by fn.
func (f frame) with(fn func(*frame)) frame {
	fn(&f)
	return f
}

// bytes serializes f with lengths and checksums computed by gopacket.
func (f frame) bytes() []byte {
	types := append(append([]layers.EthernetType(nil), f.tags...), layers.EthernetTypeIPv4)
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: types[0]}}
	for i := range f.tags {
		ls = append(ls, &layers.Dot1Q{Priority: uint8(i), VLANIdentifier: uint16(10 + i), Type: types[i+1]})
	}
	ttl := f.ttl
	if ttl == 0 {
		ttl = 64
	}
	ip := &layers.IPv4{
		Version: 4, TOS: f.tos, Id: f.id, Flags: f.flags, FragOffset: f.fragOffset, TTL: ttl,
		Protocol: f.proto, SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice(), Options: f.options,
	}
	ls = append(ls, ip)
	var udp *layers.UDP
	switch f.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.src.Port()), DstPort: layers.TCPPort(f.dst.Port()), Seq: 0x1000, Window: 64240}
		switch {
		case f.rst:
			tcp.RST = true
		case f.fin:
			tcp.FIN, tcp.ACK, tcp.Ack = true, true, 0x2000
		case f.ack:
			tcp.ACK, tcp.Ack = true, 0x2000
		default:
			tcp.SYN = true
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			panic(err)
		}
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp = &layers.UDP{SrcPort: layers.UDPPort(f.src.Port()), DstPort: layers.UDPPort(f.dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			panic(err)
		}
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1})
	}
	ls = append(ls, gopacket.Payload(f.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("serialize frame: %v", err))
	}
	if f.udpNoCsum || f.ipMutate != nil {
		if f.udpNoCsum && udp != nil {
			udp.Checksum = 0
		}
		if f.ipMutate != nil {
			f.ipMutate(ip)
		}
		// Again with the fields as they are now: nothing recomputed.
		buf = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, ls...); err != nil {
			panic(fmt.Sprintf("serialize frame: %v", err))
		}
	}
	return append([]byte(nil), buf.Bytes()...)
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("serialize frame: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

// arpRequest is a client's ARP request for ip.
func arpRequest(ip netip.Addr) []byte {
	return serialize(
		&layers.Ethernet{SrcMAC: macClient, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macClient, SourceProtAddress: addrClient.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: ip.AsSlice(),
		},
	)
}

// tcp6 is an IPv6 TCP SYN.
func tcp6(src, dst netip.AddrPort) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), SYN: true, Window: 64240}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return serialize(&layers.Ethernet{SrcMAC: macClient, DstMAC: macDirA, EthernetType: layers.EthernetTypeIPv6}, ip, tcp, gopacket.Payload("xlb v6"))
}

var goldenPayload = []byte("GET / HTTP/1.0\r\n\r\n")

// fromClient is a client's packet arriving on xga.
func fromClient(dst netip.Addr, dport, sport uint16, proto layers.IPProtocol) frame {
	return frame{
		srcMAC: macClient, dstMAC: macDirA,
		src: netip.AddrPortFrom(addrClient, sport), dst: netip.AddrPortFrom(dst, dport),
		proto: proto, id: sport, flags: layers.IPv4DontFragment, payload: goldenPayload,
	}
}

// fromReal is a NAT real's reply arriving on xgb.
func fromReal(real netip.AddrPort, dport uint16, realMAC net.HardwareAddr, proto layers.IPProtocol) frame {
	return frame{
		srcMAC: realMAC, dstMAC: macDirB,
		src: real, dst: netip.AddrPortFrom(addrClient, dport),
		proto: proto, id: 0x4242, flags: layers.IPv4DontFragment, ack: true, payload: []byte("HTTP/1.0 200 OK\r\n\r\n"),
	}
}

// Expected rewrites.
func drTo(realMAC net.HardwareAddr) func(*frame) {
	return func(f *frame) { f.dstMAC, f.srcMAC = realMAC, macDirB }
}

func natTo(real netip.AddrPort, realMAC net.HardwareAddr) func(*frame) {
	return func(f *frame) {
		f.dstMAC, f.srcMAC = realMAC, macDirB
		f.dst = real
	}
}

func natReplyFrom(vip netip.AddrPort) func(*frame) {
	return func(f *frame) {
		f.dstMAC, f.srcMAC = macClient, macDirA
		f.src = vip
	}
}

func noDF(f *frame) { f.flags = 0 }

// fragNeeded is the ICMP "fragmentation needed" (next-hop MTU mtu) the
// director answers the IPv4 frame in with: back where it came from, from
// the address it was sent to, quoting its IP header and 8 bytes.
func fragNeeded(in []byte, mtu uint16) []byte {
	pkt := gopacket.NewPacket(in, layers.LayerTypeEthernet, gopacket.Default)
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	quote := append([]byte(nil), in[14:14+len(ip.Contents)+8]...)
	out := &layers.IPv4{Version: 4, TOS: 0xc0, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ip.DstIP, DstIP: ip.SrcIP}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded), Seq: mtu}
	return serialize(&layers.Ethernet{SrcMAC: eth.DstMAC, DstMAC: eth.SrcMAC, EthernetType: layers.EthernetTypeIPv4}, out, icmp, gopacket.Payload(quote))
}

// routerAlert is a 4-byte IPv4 option (RFC 2113).
var routerAlert = layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}

func optionsOf(n int) []layers.IPv4Option {
	opts := make([]layers.IPv4Option, n)
	for i := range opts {
		opts[i] = routerAlert
	}
	return opts
}

// goldenCase is one packet through the program with everything it must do.
type goldenCase struct {
	desc    string
	before  [][]byte // run first on the other interface (xgb if ingress is xga, and back), must be forwarded
	ingress string   // ifNameA or ifNameB
	in      []byte
	verdict uint32
	want    []byte // nil: the output is the input, unchanged
	count   countWant
	// udpNoCsum: the output's UDP checksum must be 0 (none).
	udpNoCsum bool
}

func goldenCases() []goldenCase {
	synDR := fromClient(vipDR, 80, 40001, layers.IPProtocolTCP)
	synDRb := fromClient(vipDR, 80, 40002, layers.IPProtocolTCP).with(func(f *frame) { f.srcMAC, f.dstMAC = macPeerB, macDirB })
	synNAT := fromClient(vipNAT, 80, 40100, layers.IPProtocolTCP)
	udpNAT := fromClient(vipNAT, 53, 40200, layers.IPProtocolUDP)
	udpNAT0 := fromClient(vipNAT, 53, 40201, layers.IPProtocolUDP).with(func(f *frame) { f.udpNoCsum = true })
	replyNAT := fromReal(netip.AddrPortFrom(addrReal2, 8080), 40100, macReal2, layers.IPProtocolTCP)
	replyUDP := fromReal(netip.AddrPortFrom(addrReal3, 5353), 40200, macReal3, layers.IPProtocolUDP)
	replyUDP0 := fromReal(netip.AddrPortFrom(addrReal3, 5353), 40201, macReal3, layers.IPProtocolUDP).with(func(f *frame) { f.udpNoCsum = true })

	synNAT3 := fromClient(vipNAT, 80, 40110, layers.IPProtocolTCP).with(func(f *frame) { f.src = netip.AddrPortFrom(addrClient3, 40110) })
	replyNAT3 := fromReal(netip.AddrPortFrom(addrReal2, 8080), 40110, macReal2, layers.IPProtocolTCP).with(func(f *frame) { f.dst = netip.AddrPortFrom(addrClient3, 40110) })
	// A client beyond every route of the director (it has no default route).
	far := netip.AddrPortFrom(netip.MustParseAddr("198.19.0.5"), 40111)
	synNATFar := fromClient(vipNAT, 80, far.Port(), layers.IPProtocolTCP).with(func(f *frame) { f.src = far })
	replyNATFar := fromReal(netip.AddrPortFrom(addrReal2, 8080), far.Port(), macReal2, layers.IPProtocolTCP).with(func(f *frame) { f.dst = far })
	// IPv4 total length: 20 + 20 TCP + payload.
	bigDR := fromClient(vipDR, 80, 40120, layers.IPProtocolTCP).with(func(f *frame) { f.payload = make([]byte, mtuB-40+1) })
	bigNAT := fromClient(vipNAT, 80, 40121, layers.IPProtocolTCP).with(func(f *frame) { f.payload = make([]byte, mtuB-40+1) })
	mtuDR := fromClient(vipDR, 80, 40122, layers.IPProtocolTCP).with(func(f *frame) { f.payload = make([]byte, mtuB-40) })

	dr := &realRef{epDR, addrReal2, 80}
	nat := &realRef{epNAT, addrReal2, 8080}
	natUDP := &realRef{epNATUDP, addrReal3, 5353}
	vlan1 := fromClient(vipDR, 80, 40300, layers.IPProtocolTCP).with(func(f *frame) { f.tags = []layers.EthernetType{layers.EthernetTypeDot1Q} })
	vlan2 := fromClient(vipDR, 80, 40301, layers.IPProtocolTCP).with(func(f *frame) {
		f.tags = []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}
	})
	vlan2q := fromClient(vipDR, 80, 40302, layers.IPProtocolTCP).with(func(f *frame) {
		f.tags = []layers.EthernetType{layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q}
	})
	vlan3 := fromClient(vipDR, 80, 40303, layers.IPProtocolTCP).with(func(f *frame) {
		f.tags = []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q}
	})
	opt2 := fromClient(vipDR, 80, 40400, layers.IPProtocolTCP).with(func(f *frame) {
		f.options = []layers.IPv4Option{routerAlert, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	})
	opt10 := fromClient(vipDR, 80, 40401, layers.IPProtocolTCP).with(func(f *frame) { f.options = optionsOf(10) })
	optNAT := fromClient(vipNAT, 80, 40402, layers.IPProtocolTCP).with(func(f *frame) { f.options = optionsOf(3) })
	optVLANNAT := fromClient(vipNAT, 53, 40403, layers.IPProtocolUDP).with(func(f *frame) {
		f.options = optionsOf(1)
		f.tags = []layers.EthernetType{layers.EthernetTypeDot1Q}
	})
	fragMF := fromClient(vipDR, 80, 40500, layers.IPProtocolTCP).with(func(f *frame) { f.flags = layers.IPv4MoreFragments })
	fragOff := fromClient(vipDR, 80, 40501, layers.IPProtocolTCP).with(func(f *frame) { f.flags, f.fragOffset = 0, 185 })
	fragBoth := fromClient(vipNAT, 53, 40502, layers.IPProtocolUDP).with(func(f *frame) { f.flags, f.fragOffset = layers.IPv4MoreFragments, 1 })

	return []goldenCase{
		{desc: "DR real on the ingress device: MACs rewritten, XDP_TX", ingress: ifNameB, in: synDRb.bytes(),
			verdict: xdpTX, want: synDRb.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "DR real on another device: MACs rewritten, XDP_REDIRECT", ingress: ifNameA, in: synDR.bytes(),
			verdict: xdpRedirect, want: synDR.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "DR established flow: same real, not a new connection", before: [][]byte{synDR.bytes()}, ingress: ifNameA, in: synDR.with(func(f *frame) { f.ack = true }).bytes(),
			verdict: xdpRedirect, want: synDR.with(func(f *frame) { f.ack = true }).with(drTo(macReal2)).bytes(), count: countWant{real: dr}},
		{desc: "NAT TCP: destination rewritten to the real", ingress: ifNameA, in: synNAT.bytes(),
			verdict: xdpRedirect, want: synNAT.with(natTo(netip.AddrPortFrom(addrReal2, 8080), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "NAT TCP reply: source VIP:port restored", before: [][]byte{synNAT.bytes()}, ingress: ifNameB, in: replyNAT.bytes(),
			verdict: xdpRedirect, want: replyNAT.with(natReplyFrom(netip.AddrPortFrom(vipNAT, 80))).bytes(), count: countWant{real: nat, reply: true}},
		{desc: "NAT UDP: destination rewritten to the real", ingress: ifNameA, in: udpNAT.bytes(),
			verdict: xdpRedirect, want: udpNAT.with(natTo(netip.AddrPortFrom(addrReal3, 5353), macReal3)).bytes(), count: countWant{real: natUDP, newConn: true}},
		{desc: "NAT UDP reply: source VIP:port restored", before: [][]byte{udpNAT.bytes()}, ingress: ifNameB, in: replyUDP.bytes(),
			verdict: xdpRedirect, want: replyUDP.with(natReplyFrom(netip.AddrPortFrom(vipNAT, 53))).bytes(), count: countWant{real: natUDP, reply: true}},
		{desc: "NAT UDP without checksum: rewritten, checksum stays 0", ingress: ifNameA, in: udpNAT0.bytes(),
			verdict: xdpRedirect, want: udpNAT0.with(natTo(netip.AddrPortFrom(addrReal3, 5353), macReal3)).bytes(), count: countWant{real: natUDP, newConn: true}, udpNoCsum: true},
		{desc: "NAT UDP reply without checksum: checksum stays 0", before: [][]byte{udpNAT0.bytes()}, ingress: ifNameB, in: replyUDP0.bytes(),
			verdict: xdpRedirect, want: replyUDP0.with(natReplyFrom(netip.AddrPortFrom(vipNAT, 53))).bytes(), count: countWant{real: natUDP, reply: true}, udpNoCsum: true},
		{desc: "NAT real's packet outside any flow: passed untouched", ingress: ifNameB, in: replyNAT.with(func(f *frame) { f.dst = netip.AddrPortFrom(addrClient, 9) }).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "NAT reply to a client whose MAC is unresolved: rewritten and passed to the kernel", before: [][]byte{synNAT3.bytes()}, ingress: ifNameB, in: replyNAT3.bytes(),
			verdict: xdpPass, want: replyNAT3.with(func(f *frame) { f.src = netip.AddrPortFrom(vipNAT, 80) }).bytes(), count: countWant{reason: loader.PassNoNeigh}},
		{desc: "DR frame larger than the egress MTU, DF: ICMP fragmentation needed back to the client", ingress: ifNameA, in: bigDR.bytes(),
			verdict: xdpRedirect, want: fragNeeded(bigDR.bytes(), mtuB), count: countWant{reason: loader.TxTooBig}},
		{desc: "NAT frame larger than the egress MTU, DF: ICMP quoting the packet as the client sent it", ingress: ifNameA, in: bigNAT.bytes(),
			verdict: xdpRedirect, want: fragNeeded(bigNAT.bytes(), mtuB), count: countWant{reason: loader.TxTooBig}},
		{desc: "DR frame larger than the egress MTU, no DF: passed untouched", ingress: ifNameA, in: bigDR.with(noDF).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassFragNeeded}},
		{desc: "NAT frame larger than the egress MTU, no DF: rewritten and passed to the kernel to fragment", ingress: ifNameA, in: bigNAT.with(noDF).bytes(),
			verdict: xdpPass, want: bigNAT.with(noDF).with(func(f *frame) { f.dst = netip.AddrPortFrom(addrReal2, 8080) }).bytes(), count: countWant{reason: loader.PassFragNeeded}},
		{desc: "frame of exactly the egress MTU: forwarded", ingress: ifNameA, in: mtuDR.bytes(),
			verdict: xdpRedirect, want: mtuDR.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "NAT reply to a client without a route: dropped", before: [][]byte{synNATFar.bytes()}, ingress: ifNameB, in: replyNATFar.bytes(),
			verdict: xdpDrop, want: replyNATFar.with(func(f *frame) { f.src = netip.AddrPortFrom(vipNAT, 80) }).bytes(), count: countWant{reason: loader.DropNoRoute}},
		{desc: "all reals weight 0: dropped", ingress: ifNameA, in: fromClient(vipZero, 80, 40600, layers.IPProtocolTCP).bytes(),
			verdict: xdpDrop, count: countWant{reason: loader.DropNoReal}},
		{desc: "DR real's MAC unresolved: dropped", ingress: ifNameA, in: fromClient(vipUnres, 80, 40601, layers.IPProtocolTCP).bytes(),
			verdict: xdpDrop, count: countWant{reason: loader.DropNoNeigh}},
		{desc: "NAT next hop unresolved: rewritten and passed to the kernel", ingress: ifNameA, in: fromClient(vipUnres, 8080, 40602, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, want: fromClient(vipUnres, 8080, 40602, layers.IPProtocolTCP).with(func(f *frame) { f.dst = netip.AddrPortFrom(addrUnresolved, 80) }).bytes(),
			count: countWant{reason: loader.PassNoNeigh}},

		{desc: "other destination: passed untouched", ingress: ifNameA, in: fromClient(netip.MustParseAddr("198.18.0.200"), 80, 40700, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "other destination, TCP header cut short: passed by the address filter before any header is checked", ingress: ifNameA,
			in:      fromClient(netip.MustParseAddr("198.18.0.200"), 80, 40705, layers.IPProtocolTCP).bytes()[:14+20+10],
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "VIP, TCP header cut short: malformed", ingress: ifNameA,
			in:      fromClient(vipDR, 80, 40706, layers.IPProtocolTCP).bytes()[:14+20+10],
			verdict: xdpPass, count: countWant{reason: loader.PassMalformed}},
		{desc: "director's own address: passed untouched", ingress: ifNameA, in: fromClient(prefixDirA.Addr(), 22, 40701, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "VIP, other port: passed untouched", ingress: ifNameA, in: fromClient(vipDR, 81, 40702, layers.IPProtocolTCP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "VIP, UDP to a TCP service: passed untouched", ingress: ifNameA, in: fromClient(vipDR, 80, 40703, layers.IPProtocolUDP).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},
		{desc: "VIP, ICMP: passed untouched", ingress: ifNameA, in: fromClient(vipDR, 0, 0, layers.IPProtocolICMPv4).bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassNotTCPUDP}},
		{desc: "ARP for the VIP: passed untouched", ingress: ifNameA, in: arpRequest(vipDR),
			verdict: xdpPass, count: countWant{reason: loader.PassNotIP}},
		{desc: "IPv6 TCP to no service: passed untouched", ingress: ifNameA, in: tcp6(netip.MustParseAddrPort("[2001:db8::2]:40704"), netip.MustParseAddrPort("[2001:db8::100]:80")),
			verdict: xdpPass, count: countWant{reason: loader.PassNoService}},

		{desc: "one 802.1Q tag: forwarded tagged, XDP_TX", ingress: ifNameA, in: vlan1.bytes(),
			verdict: xdpTX, want: vlan1.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "802.1ad + 802.1Q tags: forwarded tagged, XDP_TX", ingress: ifNameA, in: vlan2.bytes(),
			verdict: xdpTX, want: vlan2.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "two 802.1Q tags: forwarded tagged, XDP_TX", ingress: ifNameA, in: vlan2q.bytes(),
			verdict: xdpTX, want: vlan2q.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "three tags: passed untouched as malformed", ingress: ifNameA, in: vlan3.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassMalformed}},
		{desc: "NAT UDP with a tag and an option: rewritten, XDP_TX", ingress: ifNameA, in: optVLANNAT.bytes(),
			verdict: xdpTX, want: optVLANNAT.with(natTo(netip.AddrPortFrom(addrReal3, 5353), macReal3)).bytes(), count: countWant{real: natUDP, newConn: true}},

		{desc: "IPv4 options (IHL 7) to DR", ingress: ifNameA, in: opt2.bytes(),
			verdict: xdpRedirect, want: opt2.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "IPv4 options (IHL 15) to DR", ingress: ifNameA, in: opt10.bytes(),
			verdict: xdpRedirect, want: opt10.with(drTo(macReal2)).bytes(), count: countWant{real: dr, newConn: true}},
		{desc: "IPv4 options (IHL 8) to NAT", ingress: ifNameA, in: optNAT.bytes(),
			verdict: xdpRedirect, want: optNAT.with(natTo(netip.AddrPortFrom(addrReal2, 8080), macReal2)).bytes(), count: countWant{real: nat, newConn: true}},
		{desc: "fragment with MF: passed untouched", ingress: ifNameA, in: fragMF.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassFragment}},
		{desc: "fragment with offset: passed untouched", ingress: ifNameA, in: fragOff.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassFragment}},
		{desc: "NAT UDP fragment with MF and offset: passed untouched", ingress: ifNameA, in: fragBoth.bytes(),
			verdict: xdpPass, count: countWant{reason: loader.PassFragment}},
	}
}

func (h *xdpHarness) ifindex(name string) int {
	if name == ifNameB {
		return h.ifB
	}
	return h.ifA
}

func TestIntegrationXDPGolden(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	for _, tc := range goldenCases() {
		t.Run(tc.desc, func(t *testing.T) {
			other := ifNameB
			if tc.ingress == ifNameB {
				other = ifNameA
			}
			for i, b := range tc.before {
				v, _, err := h.run(b, h.ifindex(other))
				if err != nil || !forwarded(v) {
					t.Fatalf("packet %d before: verdict %s, error %v; want it forwarded", i, verdictName(v), err)
				}
			}
			before := h.mustCounts(t)
			in := append([]byte(nil), tc.in...)
			v, out, err := h.run(in, h.ifindex(tc.ingress))
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
			if d := diffFrames(out, want); d != "" {
				t.Errorf("output frame differs from the expected one:\n%s", d)
			}
			if tc.want != nil {
				if err := verifyChecksums(out, tc.udpNoCsum); err != nil {
					t.Errorf("output checksums: %v", err)
				}
			}
			h.checkCounted(t, before, h.mustCounts(t), tc.count, len(tc.in))
		})
	}
}

// ipv4Of finds the IPv4 header of an Ethernet frame (after up to three
// VLAN tags), or nil.
func ipv4Of(frame []byte) []byte {
	off := 12
	for i := 0; i < 4; i++ {
		if len(frame) < off+2 {
			return nil
		}
		switch binary.BigEndian.Uint16(frame[off:]) {
		case 0x8100, 0x88a8:
			off += 4
			continue
		case 0x0800:
			return frame[off+2:]
		}
		return nil
	}
	return nil
}

// onesSum is the 16-bit one's complement sum of b, folded, starting at sum.
func onesSum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = (sum & 0xffff) + sum>>16
	}
	return uint16(sum)
}

// verifyChecksums checks, independently of gopacket, that the IPv4 header
// checksum and the TCP/UDP checksum of frame verify (sum to 0xffff). A UDP
// checksum of 0 is accepted only when udpNone is set, and then required.
func verifyChecksums(frame []byte, udpNone bool) error {
	ip := ipv4Of(frame)
	if len(ip) < 20 {
		return errors.New("no IPv4 header")
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || total > len(ip) {
		return fmt.Errorf("IHL %d, total length %d with %d bytes", ihl, total, len(ip))
	}
	if s := onesSum(ip[:ihl], 0); s != 0xffff {
		return fmt.Errorf("IPv4 header checksum %#04x does not verify (sum %#04x)", binary.BigEndian.Uint16(ip[10:]), s)
	}
	l4 := ip[ihl:total]
	var pseudo uint32
	pseudo += uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:]))
	pseudo += uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:]))
	pseudo += uint32(ip[9]) + uint32(len(l4))
	switch ip[9] {
	case 6:
		if s := onesSum(l4, pseudo); s != 0xffff {
			return fmt.Errorf("TCP checksum %#04x does not verify (sum %#04x)", binary.BigEndian.Uint16(l4[16:]), s)
		}
	case 17:
		c := binary.BigEndian.Uint16(l4[6:])
		if udpNone || c == 0 {
			if udpNone != (c == 0) {
				return fmt.Errorf("UDP checksum %#04x, want 0 (none): %v", c, udpNone)
			}
			return nil
		}
		if s := onesSum(l4, pseudo); s != 0xffff {
			return fmt.Errorf("UDP checksum %#04x does not verify (sum %#04x)", c, s)
		}
	}
	return nil
}

// diffFrames says how got differs from want, or "" when they are equal.
func diffFrames(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	first := 0
	for first < len(got) && first < len(want) && got[first] == want[first] {
		first++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "length %d, want %d; first difference at byte %d\n", len(got), len(want), first)
	fmt.Fprintf(&b, "got:\n%s%s\nwant:\n%s%s", hex.Dump(got), describe(got), hex.Dump(want), describe(want))
	return b.String()
}

func describe(frame []byte) string {
	return gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).String()
}

// realOf tells which real a forwarded frame goes to, by its destination
// MAC; for NAT the destination address and port must name the same real.
func realOf(out []byte, nat bool, port uint16) (netip.Addr, error) {
	var addr netip.Addr
	switch {
	case len(out) < 6:
		return addr, fmt.Errorf("frame of %d bytes", len(out))
	case bytes.Equal(out[:6], macReal2):
		addr = addrReal2
	case bytes.Equal(out[:6], macReal3):
		addr = addrReal3
	default:
		return addr, fmt.Errorf("destination MAC %s is no real's", net.HardwareAddr(out[:6]))
	}
	if !nat {
		return addr, nil
	}
	ip := ipv4Of(out)
	if len(ip) < 24 {
		return addr, errors.New("no IPv4 header")
	}
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(ip[int(ip[0]&0xf)*4+2:]))
	if want := netip.AddrPortFrom(addr, port); dst != want {
		return addr, fmt.Errorf("NAT destination %s, but the MAC is %s's", dst, want)
	}
	return addr, nil
}

func TestIntegrationXDPRoundRobin(t *testing.T) {
	testenv.RequirePrivileged(t)
	r2 := func(port uint16, w int) control.Real { return control.Real{Addr: addrReal2, Port: port, Weight: w} }
	r3 := func(port uint16, w int) control.Real { return control.Real{Addr: addrReal3, Port: port, Weight: w} }
	for _, tc := range []struct {
		desc  string
		ep    loader.Endpoint
		port  uint16 // the reals' port
		nat   bool
		state func(reals ...control.Real) *control.State
	}{
		{"DR", epRR, 80, false, func(rs ...control.Real) *control.State { return goldenState(rs, nil) }},
		{"NAT", epRRNAT, 8443, true, func(rs ...control.Real) *control.State { return goldenState(nil, rs) }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newXDPHarness(t, tc.state(r2(tc.port, 1), r3(tc.port, 1)))
			syn := func(sport uint16) frame { return fromClient(tc.ep.Addr, tc.ep.Port, sport, layers.IPProtocolTCP) }
			// send runs one packet of flow sport and returns the real it went to.
			send := func(sport uint16, ack bool) netip.Addr {
				t.Helper()
				in := syn(sport).with(func(f *frame) { f.ack = ack }).bytes()
				v, out, err := h.run(in, h.ifA)
				if err != nil {
					t.Fatalf("run program: %v", err)
				}
				if v != xdpRedirect {
					t.Fatalf("flow %d: verdict %s, want XDP_REDIRECT", sport, verdictName(v))
				}
				real, err := realOf(out, tc.nat, tc.port)
				if err != nil {
					t.Fatalf("flow %d: %v", sport, err)
				}
				return real
			}

			const flows = 8
			first := make(map[uint16]netip.Addr, flows)
			perReal := make(map[netip.Addr]int)
			var prev netip.Addr
			for i := range uint16(flows) {
				sport := 41000 + i
				real := send(sport, false)
				if i > 0 && real == prev {
					t.Errorf("new flow %d went to %s like the flow before it: round robin alternates", i, real)
				}
				prev = real
				first[sport] = real
				perReal[real]++
			}
			if perReal[addrReal2] != flows/2 || perReal[addrReal3] != flows/2 {
				t.Errorf("new flows per real %v, want %d each", perReal, flows/2)
			}
			for _, a := range []netip.Addr{addrReal2, addrReal3} {
				id, err := h.realID(&realRef{tc.ep, a, tc.port})
				if err != nil {
					t.Fatal(err)
				}
				c, err := h.dp.RealStats(id)
				if err != nil {
					t.Fatal(err)
				}
				if c.Conns != flows/2 || c.PacketsIn != flows/2 {
					t.Errorf("real %s counters %+v, want %d connections and packets", a, c, flows/2)
				}
			}

			changes := []struct {
				desc    string
				reals   []control.Real
				newTo   []netip.Addr // where new flows go, in turn
				newBase uint16
			}{
				{"real 198.18.1.2 quiescent (weight 0)", []control.Real{r2(tc.port, 0), r3(tc.port, 1)}, []netip.Addr{addrReal3}, 42000},
				{"real 198.18.1.2 removed", []control.Real{r3(tc.port, 1)}, []netip.Addr{addrReal3}, 42100},
				{"real 198.18.1.2 back, listed first", []control.Real{r2(tc.port, 1), r3(tc.port, 1)}, []netip.Addr{addrReal2, addrReal3}, 42200},
			}
			for _, ch := range changes {
				if err := h.apply(tc.state(ch.reals...)); err != nil {
					t.Fatalf("apply %s: %v", ch.desc, err)
				}
				for sport, want := range first {
					if got := send(sport, true); got != want {
						t.Errorf("after %s: established flow %d moved from %s to %s", ch.desc, sport, want, got)
					}
				}
				got := make(map[netip.Addr]int)
				for i := range uint16(4) {
					got[send(ch.newBase+i, false)]++
				}
				want := make(map[netip.Addr]int)
				for i := range 4 {
					want[ch.newTo[i%len(ch.newTo)]]++
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("after %s: 4 new flows went to %v, want %v", ch.desc, got, want)
				}
			}
		})
	}
}

// l4Start is where the program expects the TCP/UDP header of f to start.
func l4Start(f frame) int {
	n := 14 + 4*len(f.tags) + 20
	for _, o := range f.options {
		if o.OptionType <= 1 {
			n++
		} else {
			n += int(o.OptionLength)
		}
	}
	return 14 + 4*len(f.tags) + (n-14-4*len(f.tags)+3)/4*4
}

func TestIntegrationXDPTruncated(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	for _, tc := range []struct {
		desc string
		f    frame
		fwd  func(*frame)
	}{
		{"DR TCP", fromClient(vipDR, 80, 43000, layers.IPProtocolTCP), drTo(macReal2)},
		{"NAT TCP with options", fromClient(vipNAT, 80, 43001, layers.IPProtocolTCP).with(func(f *frame) { f.options = optionsOf(2) }),
			natTo(netip.AddrPortFrom(addrReal2, 8080), macReal2)},
		{"NAT UDP with two tags", fromClient(vipNAT, 53, 43002, layers.IPProtocolUDP).with(func(f *frame) {
			f.tags = []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}
		}), natTo(netip.AddrPortFrom(addrReal3, 5353), macReal3)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			full := tc.f.bytes()
			fwd := tc.f.with(tc.fwd).bytes()
			hdrEnd := l4Start(tc.f) + 20
			if tc.f.proto == layers.IPProtocolUDP {
				hdrEnd = l4Start(tc.f) + 8
			}
			realPort := uint16(80)
			if fwdFrame := tc.f.with(tc.fwd); fwdFrame.dst != tc.f.dst {
				realPort = fwdFrame.dst.Port()
			}
			var seen [2]int // prefixes passed as malformed, forwarded
			for n := 0; n <= len(full); n++ {
				in := full[:n:n]
				before := h.mustCounts(t)
				v, out, err := h.run(in, h.ifA)
				if n < 14 {
					// The kernel refuses to run XDP on less than an Ethernet header.
					if !errors.Is(err, unix.EINVAL) {
						t.Errorf("%d bytes: error %v, want EINVAL from the kernel", n, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%d bytes: run program: %v", n, err)
				}
				after := h.mustCounts(t)
				switch {
				case v == xdpAborted:
					t.Errorf("%d bytes: XDP_ABORTED", n)
				case v == xdpPass:
					if n == len(full) {
						t.Errorf("%d bytes (the whole frame): passed, want it forwarded", n)
					}
					if !bytes.Equal(out, in) {
						t.Errorf("%d bytes: passed but changed:\n%s", n, diffFrames(out, in))
					}
					h.checkCounted(t, before, after, countWant{reason: loader.PassMalformed}, n)
					seen[0]++
				case forwarded(v):
					// A frame shorter than its IPv4 total length is cut
					// off: the kernel would drop it, xlb passes it.
					if n < len(full) {
						t.Errorf("%d bytes of a %d-byte frame: %s, want it passed as malformed", n, len(full), verdictName(v))
					}
					if d := diffFrames(out, fwd[:n]); d != "" {
						t.Errorf("%d bytes: forwarded frame differs:\n%s", n, d)
					}
					svc := tc.f.dst
					ep := loader.Endpoint{Addr: svc.Addr(), Port: svc.Port(), Proto: loader.ProtoTCP}
					if tc.f.proto == layers.IPProtocolUDP {
						ep.Proto = loader.ProtoUDP
					}
					dst := addrReal2
					if bytes.Equal(fwd[:6], macReal3) {
						dst = addrReal3
					}
					h.checkCounted(t, before, after, countWant{real: &realRef{ep, dst, realPort}, newConn: seen[1] == 0}, n)
					seen[1]++
				default:
					t.Errorf("%d bytes: verdict %s, want XDP_PASS or forwarded", n, verdictName(v))
				}
			}
			t.Logf("%d-byte frame, headers end at %d: %d prefixes passed as malformed, %d forwarded", len(full), hdrEnd, seen[0], seen[1])
			if seen[0] != len(full)-14 || seen[1] != 1 {
				t.Errorf("%d prefixes passed as malformed and %d forwarded, want %d and 1 (only the whole frame)", seen[0], seen[1], len(full)-14)
			}
		})
	}
}

func TestIntegrationXDPMalformed(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	syn := fromClient(vipDR, 80, 44000, layers.IPProtocolTCP)
	var cases []struct {
		desc string
		in   []byte
	}
	add := func(desc string, f frame) {
		cases = append(cases, struct {
			desc string
			in   []byte
		}{desc, f.bytes()})
	}
	for ihl := uint8(0); ihl < 5; ihl++ {
		add(fmt.Sprintf("IHL %d", ihl), syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.IHL = ihl } }))
	}
	add("IHL 15 beyond the frame", syn.with(func(f *frame) {
		f.payload = nil
		f.ipMutate = func(ip *layers.IPv4) { ip.IHL = 15 }
	}))
	add("IHL 15, 40 option bytes beyond the frame", syn.with(func(f *frame) {
		f.payload = nil
		f.options = optionsOf(2)
		f.ipMutate = func(ip *layers.IPv4) { ip.IHL = 15 }
	}))
	for _, l := range []uint16{0, 19} {
		add(fmt.Sprintf("total length %d", l), syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.Length = l } }))
	}
	add("total length 24 below the 28-byte header", syn.with(func(f *frame) {
		f.options = optionsOf(2)
		f.ipMutate = func(ip *layers.IPv4) { ip.Length = 24 }
	}))
	add("version 6 in an IPv4 EtherType", syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.Version = 6 } }))
	add("version 0", syn.with(func(f *frame) { f.ipMutate = func(ip *layers.IPv4) { ip.Version = 0 } }))

	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			before := h.mustCounts(t)
			v, out, err := h.run(tc.in, h.ifA)
			if err != nil {
				t.Fatalf("run program: %v", err)
			}
			if v != xdpPass {
				t.Errorf("verdict %s, want XDP_PASS", verdictName(v))
			}
			if d := diffFrames(out, tc.in); d != "" {
				t.Errorf("output changed:\n%s", d)
			}
			h.checkCounted(t, before, h.mustCounts(t), countWant{reason: loader.PassMalformed}, len(tc.in))
		})
	}
}

func TestIntegrationXDPForwardingDisabled(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	var err error
	h.do(func() { err = os.WriteFile("/proc/sys/net/ipv4/conf/"+ifNameA+"/forwarding", []byte("0"), 0) })
	if err != nil {
		t.Fatalf("disable forwarding on %s: %v", ifNameA, err)
	}
	nat := fromClient(vipNAT, 80, 46001, layers.IPProtocolTCP)
	for _, tc := range []struct {
		desc string
		in   []byte
		want []byte // nil: unchanged
	}{
		{"DR", fromClient(vipDR, 80, 46000, layers.IPProtocolTCP).bytes(), nil},
		// NAT rewrites before the FIB lookup says no.
		{"NAT", nat.bytes(), nat.with(func(f *frame) { f.dst = netip.AddrPortFrom(addrReal2, 8080) }).bytes()},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := h.mustCounts(t)
			v, out, err := h.run(tc.in, h.ifA)
			if err != nil {
				t.Fatalf("run program: %v", err)
			}
			if v != xdpDrop {
				t.Errorf("verdict %s, want XDP_DROP", verdictName(v))
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if d := diffFrames(out, want); d != "" {
				t.Errorf("output frame differs from the expected one:\n%s", d)
			}
			h.checkCounted(t, before, h.mustCounts(t), countWant{reason: loader.DropFwdDisabled}, len(tc.in))
		})
	}
}
