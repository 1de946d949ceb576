package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

const (
	genChunk      = 1 << 18
	genMaxPackets = 1 << 24
	genMaxTime    = 2 * time.Second
	// genDrain is how long the frames a slice sent take to reach the
	// counters (the LAN's and reals' softirq work after the last send).
	genDrain   = 100 * time.Millisecond
	wrkSeconds = 3
	wrkConns   = 32
)

var e2eVIP = netip.MustParseAddr("198.18.0.100")

// xdpMD has the layout of struct xdp_md.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

type e2e struct {
	topo      *testenv.Topology
	genIf     int
	clientMAC net.HardwareAddr
	dirMAC    net.HardwareAddr // director eth0
	counters  []*ebpf.Map      // one per real
	res       *E2EResults
}

// udpFrame is the generator's 60-byte frame to dst:dport.
func (e *e2e) udpFrame(dst netip.Addr, dport uint16) []byte {
	eth := &layers.Ethernet{SrcMAC: e.clientMAC, DstMAC: e.dirMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: e.topo.Client.Addr.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: 1024, DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	payload := make([]byte, 60-14-20-8)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	f := buf.Bytes()
	f[40], f[41] = 0, 0 // no UDP checksum: the generator changes the port
	return f
}

// readMachineCPU is the machine's CPU time so far, from /proc/stat; zero
// when it cannot be read.
func readMachineCPU() machineCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	m, _ := parseStatCPU(line)
	return m
}

// blaster sends one setup's frames with the generator and adds up what
// the setup's counters saw, over one timed slice or several.
type blaster struct {
	e        *e2e
	c        PPSCase
	frame    []byte
	gen      *ebpf.Program
	counters []*ebpf.Map
	cpu      time.Duration
}

func (e *e2e) newBlaster(setup string, frame []byte, flows int, counters []*ebpf.Map) (*blaster, error) {
	gen, err := generatorProg(frame, flows)
	if err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	return &blaster{e: e, c: PPSCase{Setup: setup}, frame: frame, gen: gen, counters: counters}, nil
}

func (b *blaster) close() { b.gen.Close() }

func (b *blaster) send(n uint32) error {
	return b.e.topo.Client.Do(func() error {
		// On one CPU, as a NIC queue's interrupts are: the director's XDP
		// runs in the softirq of the generator's CPU.
		return testenv.OnLastCPU(func() error {
			_, err := b.gen.Run(&ebpf.RunOptions{Data: b.frame, Repeat: n, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES,
				Context: xdpMD{DataEnd: uint32(len(b.frame)), IngressIfindex: uint32(b.e.genIf)}})
			return err
		})
	})
}

func (b *blaster) count() (uint64, error) {
	var sum uint64
	for _, m := range b.counters {
		v, err := readCounter(m)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// slice warms up (every flow seen, neighbours resolved, caches hot), then
// sends for at most d and maxPackets, and adds what was delivered.
func (b *blaster) slice(d time.Duration, maxPackets uint64) error {
	for range 4 {
		if err := b.send(genChunk / 4); err != nil {
			return err
		}
	}
	time.Sleep(genDrain)
	before, err := b.count()
	if err != nil {
		return err
	}
	cpu0 := readMachineCPU().busy
	start := time.Now()
	var sent uint64
	for sent < maxPackets && time.Since(start) < d {
		if err := b.send(genChunk); err != nil {
			return err
		}
		sent += genChunk
	}
	el := time.Since(start)
	b.cpu += readMachineCPU().busy - cpu0
	time.Sleep(genDrain)
	after, err := b.count()
	if err != nil {
		return err
	}
	b.c.Sent += sent
	b.c.Delivered += after - before
	b.c.Seconds += el.Seconds()
	return nil
}

// result is the setup's rate over its slices, or err's failure.
func (b *blaster) result(err error) PPSCase {
	c := b.c
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.PPS = float64(c.Delivered) / c.Seconds
	if c.Delivered > 0 {
		c.CPUNsPerPacket = float64(b.cpu.Nanoseconds()) / float64(c.Delivered)
	}
	if c.Delivered == 0 {
		c.Error = "nothing delivered"
	}
	if c.Delivered < c.Sent/2 {
		b.e.diagnose(c.Setup)
	}
	logf("e2e: %-16s sent %d delivered %d in %.2fs: %.0f pps", c.Setup, c.Sent, c.Delivered, c.Seconds, c.PPS)
	return c
}

// blast runs the generator with frame for one slice of genMaxTime and
// genMaxPackets and counts what the counters saw.
func (e *e2e) blast(setup string, frame []byte, counters []*ebpf.Map) PPSCase {
	b, err := e.newBlaster(setup, frame, e.res.Flows, counters)
	if err != nil {
		return PPSCase{Setup: setup, Error: err.Error()}
	}
	defer b.close()
	return b.result(b.slice(genMaxTime, genMaxPackets))
}

func (e *e2e) realIP(i int) netip.Addr { return e.topo.Reals[i].Addr }

// attach puts prog on the host's interface (native XDP) until the returned
// function detaches it.
func attach(h *testenv.Host, ifname string, prog *ebpf.Program) (func(), error) {
	idx, err := h.Ifindex(ifname)
	if err != nil {
		return nil, err
	}
	var l link.Link
	err = h.Do(func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach XDP to %s %s: %w", h.Name, ifname, err)
	}
	return func() { l.Close() }, nil
}

// lanSwitch puts switchProg on every port of the LAN's bridge, each with
// the MAC of the host at the other end, until the returned function takes
// it off. The director's eth1 sends with TX checksum offload off meanwhile
// (DESIGN.md veth fact 2): HAProxy's connections to the reals start there,
// and their partial checksums would not survive the switch's redirect.
func lanSwitch(topo *testenv.Topology) (stop func(), err error) {
	macs, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xlb_bench_macs", Type: ebpf.Hash, KeySize: 8, ValueSize: 4, MaxEntries: testenv.MaxReals + 1})
	if err != nil {
		return nil, fmt.Errorf("create switch map: %w", err)
	}
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		macs.Close()
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	prog, err := switchProg(macs)
	if err != nil {
		return nil, fmt.Errorf("load switch: %w", err)
	}
	undo = append(undo, func() { prog.Close() })
	if err := topo.Director.SetTxChecksum(testenv.DirectorLANIf, false); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = topo.Director.SetTxChecksum(testenv.DirectorLANIf, true) })
	// Port p0 leads to the director's eth1, pN to realN's eth0.
	ends := []iface{{topo.Director, testenv.DirectorLANIf}}
	for _, r := range topo.Reals {
		ends = append(ends, iface{r, testenv.EndpointIf})
	}
	for i, end := range ends {
		l, err := end.h.Link(end.name)
		if err != nil {
			return nil, err
		}
		port := fmt.Sprintf("p%d", i)
		idx, err := topo.LAN.Ifindex(port)
		if err != nil {
			return nil, err
		}
		var key [8]byte
		copy(key[:], l.Attrs().HardwareAddr)
		if err := macs.Put(key, uint32(idx)); err != nil {
			return nil, fmt.Errorf("fill switch map: %w", err)
		}
		detach, err := attach(topo.LAN, port, prog)
		if err != nil {
			return nil, err
		}
		undo = append(undo, detach)
	}
	return stop, nil
}

// iface names an interface of a host.
type iface struct {
	h    *testenv.Host
	name string
}

// benchE2E builds the topology and measures every setup in turn.
func benchE2E(ctx context.Context, flows int) (*E2EResults, error) {
	res := &E2EResults{FrameBytes: 64, Flows: flows, MaxSeconds: genMaxTime.Seconds(), MaxPackets: genMaxPackets, Rounds: ppsRounds,
		WrkSeconds: wrkSeconds, WrkConnections: wrkConns, ConnRounds: connRounds}
	topo, err := testenv.New(testenv.Options{Reals: 3, DR: true, VIPs: []netip.Addr{e2eVIP}})
	if err != nil {
		return res, fmt.Errorf("build topology: %w", err)
	}
	defer topo.Close()
	e := &e2e{topo: topo, res: res}
	if e.genIf, err = topo.Client.Ifindex("eth0"); err != nil {
		return res, err
	}
	l, err := topo.Client.Link("eth0")
	if err != nil {
		return res, err
	}
	e.clientMAC = l.Attrs().HardwareAddr
	dl, err := topo.Director.Link("eth0")
	if err != nil {
		return res, err
	}
	e.dirMAC = dl.Attrs().HardwareAddr
	// Client: enough ports and TIME_WAIT reuse for wrk's connections.
	for k, v := range map[string]string{"net.ipv4.ip_local_port_range": "1024 65000", "net.ipv4.tcp_tw_reuse": "1"} {
		if err := topo.Client.Sysctl(k, v); err != nil {
			return res, err
		}
	}
	// Counters on the reals.
	for _, r := range topo.Reals {
		prog, m, err := counterProg()
		if err != nil {
			return res, err
		}
		defer prog.Close()
		defer m.Close()
		detach, err := attach(r, "eth0", prog)
		if err != nil {
			return res, err
		}
		defer detach()
		e.counters = append(e.counters, m)
		// One server port per TCP setup, so that no setup's connection
		// meets a TIME_WAIT socket of another's at the real.
		for _, port := range []uint16{80, 8080, 8081, 8082, 8083} {
			stop, err := r.ServeHTTP(port)
			if err != nil {
				return res, err
			}
			defer stop()
		}
	}
	// The director learns the reals' MACs (ARP, triggered by one UDP
	// datagram to each, which the real's counter drops).
	for _, r := range topo.Reals {
		c, err := topo.Director.DialContext(ctx, "udp", netip.AddrPortFrom(r.Addr, benchPort).String())
		if err != nil {
			return res, fmt.Errorf("reach %s: %w", r.Name, err)
		}
		_, err = c.Write([]byte("arp"))
		c.Close()
		if err != nil {
			return res, fmt.Errorf("reach %s: %w", r.Name, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopSwitch, err := lanSwitch(topo)
	if err != nil {
		return res, err
	}
	defer stopSwitch()

	e.ppsSetups(ctx)
	e.connSetups(ctx)
	return res, nil
}

// ppsRounds is how many times every forwarding setup is measured, in
// turn (each round runs them all), so that a burst of other work on a
// shared machine does not fall on one setup only; the median is reported.
const ppsRounds = 5

func (e *e2e) ppsSetups(ctx context.Context) {
	var rounds [][]PPSCase
	for range ppsRounds {
		rounds = append(rounds, e.ppsRound(ctx))
	}
	e.res.PPS = medianCases(rounds)
}

// ppsRound measures every forwarding setup once.
func (e *e2e) ppsRound(ctx context.Context) []PPSCase {
	var out []PPSCase
	topo := e.topo
	fail := func(setup string, err error) { out = append(out, PPSCase{Setup: setup, Error: err.Error()}) }

	// The generator alone: the director's eth0 counts and drops.
	if prog, m, err := counterProg(); err != nil {
		fail("generator", err)
	} else {
		if detach, err := attach(topo.Director, "eth0", prog); err != nil {
			fail("generator", err)
		} else {
			out = append(out, e.blast("generator", e.udpFrame(e2eVIP, benchPort), []*ebpf.Map{m}))
			detach()
		}
		prog.Close()
		m.Close()
	}

	// The floor and xlb, DR and NAT, in turns.
	if err := e.withXLB(func(dp *loader.Dataplane) { out = append(out, e.floorAndXLB(dp)...) }); err != nil {
		fail("xdp-floor", err)
		fail("xlb", err)
	}

	// Plain kernel forwarding to real 1.
	out = append(out, e.blast("kernel-forward", e.udpFrame(e.realIP(0), benchPort), e.counters))

	// nftables DNAT, kube-proxy style.
	if err := e.withNFT(ctx, func() {
		out = append(out, e.blast("nftables-dnat", e.udpFrame(e2eVIP, benchPort+2), e.counters))
	}); err != nil {
		fail("nftables-dnat", err)
	}
	return out
}

// turnOrders are the orders in which floorAndXLB's four setups take their
// turns within a round: each is at each place once, and within the orders
// each follows each other one once (a balanced Latin square), as the
// setup before a turn leaves the CPU's caches to it.
var turnOrders = [][4]int{{0, 1, 3, 2}, {1, 2, 0, 3}, {2, 3, 1, 0}, {3, 0, 2, 1}}

// floorAndXLB measures the floor, xlb DR and NAT, and xlb DR with
// fewFlows in turns, each turn a slice of genMaxTime, in every order of
// turnOrders: other guests' load on this shared machine comes and goes
// within seconds, and taking turns spreads it over the four alike, so that
// their ratios compare like with like. xlb is attached (withXLB) and
// leaves eth0 to the floor for the floor's turns.
func (e *e2e) floorAndXLB(dp *loader.Dataplane) []PPSCase {
	floor, err := e.floorProg()
	if err != nil {
		return []PPSCase{{Setup: "xdp-floor", Error: err.Error()}}
	}
	defer floor.Close()
	onFloor := func(measure func() error) error {
		if err := e.topo.Director.Do(func() error { return dp.Detach("eth0") }); err != nil {
			return fmt.Errorf("take xlb off eth0: %w", err)
		}
		detach, err := attach(e.topo.Director, "eth0", floor)
		if err == nil {
			err = measure()
			detach()
		}
		if aerr := e.topo.Director.Do(func() error { _, err := dp.Attach("eth0", loader.ModeNative); return err }); aerr != nil {
			err = errors.Join(err, fmt.Errorf("put xlb back on eth0: %w", aerr))
		}
		return err
	}
	turns := []struct {
		setup string
		frame []byte
		flows int
		on    func(measure func() error) error
	}{
		{"xdp-floor", e.udpFrame(e2eVIP, benchPort), e.res.Flows, onFloor},
		{"xlb-dr", e.udpFrame(e2eVIP, benchPort), e.res.Flows, nil},
		{"xlb-nat", e.udpFrame(e2eVIP, benchPort+1), e.res.Flows, nil},
		{fewFlowsSetup, e.udpFrame(e2eVIP, benchPort), fewFlows, nil},
	}
	failed := func(err error) []PPSCase {
		out := make([]PPSCase, len(turns))
		for i, t := range turns {
			out[i] = PPSCase{Setup: t.setup, Error: err.Error()}
		}
		return out
	}
	if len(turns) != len(turnOrders[0]) {
		return failed(fmt.Errorf("%d setups take turns in orders of %d", len(turns), len(turnOrders[0])))
	}
	blasters := make([]*blaster, len(turns))
	errs := make([]error, len(turns))
	for i, t := range turns {
		if blasters[i], errs[i] = e.newBlaster(t.setup, t.frame, t.flows, e.counters); errs[i] != nil {
			return failed(fmt.Errorf("%s: %w", t.setup, errs[i]))
		}
		defer blasters[i].close()
	}
	turnTime, turnPackets := genMaxTime/time.Duration(len(turnOrders)), genMaxPackets/uint64(len(turnOrders))
	for _, order := range turnOrders {
		for _, i := range order {
			if errs[i] != nil {
				continue
			}
			measure := func() error { return blasters[i].slice(turnTime, turnPackets) }
			if turns[i].on != nil {
				errs[i] = turns[i].on(measure)
			} else {
				errs[i] = measure()
			}
		}
	}
	out := make([]PPSCase, len(turns))
	for i, b := range blasters {
		out[i] = b.result(errs[i])
	}
	return out
}

// floorProg loads the floor: it rewrites both MACs and redirects to the
// director's eth1, toward the reals in turn.
func (e *e2e) floorProg() (*ebpf.Program, error) {
	var dsts []net.HardwareAddr
	for _, r := range e.topo.Reals {
		rl, err := r.Link("eth0")
		if err != nil {
			return nil, err
		}
		dsts = append(dsts, rl.Attrs().HardwareAddr)
	}
	dl1, err := e.topo.Director.Link("eth1")
	if err != nil {
		return nil, err
	}
	prog, err := floorProg(dsts, dl1.Attrs().HardwareAddr, dl1.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("load floor: %w", err)
	}
	return prog, nil
}

// xlbState: UDP benchPort DR and benchPort+1 NAT to the reals' benchPort;
// TCP 80 DR to the reals' 80 and 81 NAT to their 8081; round robin.
func (e *e2e) xlbState() *control.State {
	st := &control.State{}
	for _, s := range []struct {
		port, realPort uint16
		proto          loader.Protocol
		method         loader.Method
	}{
		{80, 80, loader.ProtoTCP, loader.MethodDR},
		{81, 8081, loader.ProtoTCP, loader.MethodNAT},
		{benchPort, benchPort, loader.ProtoUDP, loader.MethodDR},
		{benchPort + 1, benchPort, loader.ProtoUDP, loader.MethodNAT},
	} {
		svc := &control.Service{Endpoint: loader.Endpoint{Addr: e2eVIP, Port: s.port, Proto: s.proto}, Sched: "rr", Method: s.method}
		for _, r := range e.topo.Reals {
			svc.Reals = append(svc.Reals, control.Real{Addr: r.Addr, Port: s.realPort, Weight: 1})
		}
		st.Services = append(st.Services, svc)
	}
	return st
}

// withXLB runs fn with xlb's data plane on the director's eth0 and eth1,
// filled through control.Reconciler.
func (e *e2e) withXLB(fn func(dp *loader.Dataplane)) (err error) {
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbbench-e2e-%d", os.Getpid())
	dp, err := loader.Open(loader.Options{PinDir: pinDir})
	if err != nil {
		_ = loader.RemovePins(pinDir)
		return fmt.Errorf("open data plane: %w", err)
	}
	defer func() {
		dp.Close()
		if rerr := loader.RemovePins(pinDir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	rec, err := control.NewReconciler(dp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	// Next hops are cached as under xlbd, which watches the FIB.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_ = e.topo.Director.Do(func() error {
			control.NewFIBWatcher(dp, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(watchCtx)
			return nil
		})
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	err = e.topo.Director.Do(func() error {
		if err := rec.Apply(e.xlbState()); err != nil {
			return err
		}
		for _, ifname := range []string{"eth0", "eth1"} {
			if _, err := dp.Attach(ifname, loader.ModeNative); err != nil {
				return err
			}
		}
		return nil
	})
	defer e.topo.Director.Do(func() error {
		for _, ifname := range []string{"eth0", "eth1"} {
			dp.Detach(ifname)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start xlb: %w", err)
	}
	fn(dp)
	return nil
}

// withNFT runs fn with a kube-proxy style nftables DNAT on the director:
// numgen picks one of the reals per new connection (conntrack keeps it).
// UDP benchPort+2 and TCP 82 go to the reals' benchPort and 8082.
func (e *e2e) withNFT(ctx context.Context, fn func()) error {
	var b strings.Builder
	b.WriteString("table ip xlbbench {\n")
	for i, r := range e.topo.Reals {
		fmt.Fprintf(&b, "  chain u%d {\n    meta l4proto udp dnat to %s:%d\n  }\n  chain t%d {\n    meta l4proto tcp dnat to %s:8082\n  }\n", i, r.Addr, benchPort, i, r.Addr)
	}
	vmap := func(p string) string {
		var parts []string
		for i := range e.topo.Reals {
			parts = append(parts, fmt.Sprintf("%d : jump %s%d", i, p, i))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(&b, "  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n")
	fmt.Fprintf(&b, "    ip daddr %s udp dport %d numgen inc mod %d vmap { %s }\n", e2eVIP, benchPort+2, len(e.topo.Reals), vmap("u"))
	fmt.Fprintf(&b, "    ip daddr %s tcp dport 82 numgen inc mod %d vmap { %s }\n  }\n}\n", e2eVIP, len(e.topo.Reals), vmap("t"))
	f, err := os.CreateTemp("", "xlbbench-*.nft")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(b.String()); err != nil {
		return err
	}
	f.Close()
	if err := e.run(ctx, e.topo.Director, "nft", "-f", f.Name()); err != nil {
		return err
	}
	defer e.run(ctx, e.topo.Director, "nft", "delete", "table", "ip", "xlbbench")
	fn()
	return nil
}

func (e *e2e) run(ctx context.Context, h *testenv.Host, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := h.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

var (
	reqRate  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqCount = regexp.MustCompile(`([0-9]+) requests in`)
	reqErrs  = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses:.*)`)
)

// wrk runs wrk from the client against url, a new connection per request,
// bounded by wrkSeconds (and a hard limit of four times that). balancer,
// when not nil, is the balancer's own CPU time so far.
func (e *e2e) wrk(ctx context.Context, setup, url string, balancer func() (time.Duration, error)) ConnCase {
	c := ConnCase{Setup: setup}
	ctx, cancel := context.WithTimeout(ctx, 4*wrkSeconds*time.Second+10*time.Second)
	defer cancel()
	var bal0 time.Duration
	if balancer != nil {
		var err error
		if bal0, err = balancer(); err != nil {
			c.Errors = fmt.Sprintf("balancer CPU time: %v", err)
			return c
		}
	}
	cpu0, servers0 := readMachineCPU(), ownCPU()
	cmd := e.topo.Client.CommandContext(ctx, "wrk", "-t", "2", "-c", strconv.Itoa(wrkConns), "-d", fmt.Sprintf("%ds", wrkSeconds),
		"--timeout", "2s", "-H", "Connection: close", url)
	out, err := cmd.CombinedOutput()
	cpu, servers := readMachineCPU().minus(cpu0), ownCPU()-servers0
	var bal time.Duration
	if balancer != nil && err == nil {
		bal1, berr := balancer()
		if berr != nil {
			c.Errors = fmt.Sprintf("balancer CPU time: %v", berr)
			return c
		}
		bal = bal1 - bal0
	}
	if err != nil {
		c.Errors = fmt.Sprintf("wrk: %v: %s", err, out)
		return c
	}
	m := reqRate.FindSubmatch(out)
	if m == nil {
		c.Errors = fmt.Sprintf("wrk printed no rate: %s", out)
		return c
	}
	c.PerSec, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := reqCount.FindSubmatch(out); m != nil {
		c.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if c.Requests > 0 {
		perConn := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(c.Requests) }
		c.CPUUsPerConn = perConn(cpu.busy)
		c.SoftirqUsPerConn = perConn(cpu.softirq)
		c.ClientUsPerConn = perConn(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime())
		c.ServersUsPerConn = perConn(servers)
		c.BalancerUsPerConn = perConn(bal)
	}
	if errs := reqErrs.FindAll(out, -1); len(errs) > 0 {
		c.Errors = string(regexp.MustCompile(`\s+`).ReplaceAll([]byte(strings.TrimSpace(string(bytesJoin(errs)))), []byte(" ")))
	}
	logf("e2e: %-16s %.0f conn/s (%d requests, CPU µs/conn: machine %.1f, softirq %.1f, wrk %.1f, servers %.1f, balancer %.2f) %s",
		setup, c.PerSec, c.Requests, c.CPUUsPerConn, c.SoftirqUsPerConn, c.ClientUsPerConn, c.ServersUsPerConn, c.BalancerUsPerConn, c.Errors)
	return c
}

func bytesJoin(bs [][]byte) []byte {
	var out []byte
	for i, b := range bs {
		if i > 0 {
			out = append(out, "; "...)
		}
		out = append(out, b...)
	}
	return out
}

// connRounds is ppsRounds for the TCP setups: wrk's rates vary more
// between runs than the ratios the targets ask for.
const connRounds = 3

func (e *e2e) connSetups(ctx context.Context) {
	var rounds [][]ConnCase
	for range connRounds {
		rounds = append(rounds, e.connRound(ctx))
	}
	e.res.Conns = medianConnCases(rounds)
}

// connRound measures every TCP setup once.
func (e *e2e) connRound(ctx context.Context) []ConnCase {
	var out []ConnCase
	fail := func(setup string, err error) { out = append(out, ConnCase{Setup: setup, Errors: err.Error()}) }
	out = append(out, e.wrk(ctx, "direct", fmt.Sprintf("http://%s:8080/", e.realIP(0)), nil))
	if err := e.withXLB(func(*loader.Dataplane) {
		runTime, stop, err := e.xdpRunTime()
		if err != nil {
			fail("xlb", err)
			return
		}
		defer stop()
		out = append(out, e.wrk(ctx, "xlb-dr", fmt.Sprintf("http://%s:80/", e2eVIP), runTime))
		out = append(out, e.wrk(ctx, "xlb-nat", fmt.Sprintf("http://%s:81/", e2eVIP), runTime))
	}); err != nil {
		fail("xlb", err)
	}
	if err := e.withNFT(ctx, func() {
		out = append(out, e.wrk(ctx, "nftables-dnat", fmt.Sprintf("http://%s:82/", e2eVIP), nil))
	}); err != nil {
		fail("nftables-dnat", err)
	}
	if err := e.withHAProxy(ctx, func(pid int) {
		out = append(out, e.wrk(ctx, "haproxy", fmt.Sprintf("http://%s:83/", e2eVIP), func() (time.Duration, error) { return processCPU(pid) }))
	}); err != nil {
		fail("haproxy", err)
	}
	return out
}

// xdpRunTime turns on the kernel's BPF run-time statistics until stop and
// gives the time the program on the director's eth0 (xlb's, on eth1 as
// well) has run so far. The statistics cost each run two clock reads.
func (e *e2e) xdpRunTime() (runTime func() (time.Duration, error), stop func(), err error) {
	l, err := e.topo.Director.Link("eth0")
	if err != nil {
		return nil, nil, err
	}
	if l.Attrs().Xdp == nil || l.Attrs().Xdp.ProgId == 0 {
		return nil, nil, errors.New("no XDP program on the director's eth0")
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(l.Attrs().Xdp.ProgId))
	if err != nil {
		return nil, nil, fmt.Errorf("open the director's XDP program: %w", err)
	}
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	runTime = func() (time.Duration, error) {
		st, err := prog.Stats()
		if err != nil {
			return 0, err
		}
		return st.Runtime, nil
	}
	return runTime, func() { stats.Close(); prog.Close() }, nil
}

// processCPU is the CPU time (user and system, every thread) that process
// pid has used so far, from /proc/pid/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := statCPUTicks(string(data))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return clockTicks(ticks), nil
}

// ownCPU is this process's CPU time so far: during a wrk run, the reals'
// Go HTTP servers (ServeHTTP), which run in it.
func ownCPU() time.Duration {
	d, _ := processCPU(os.Getpid())
	return d
}

// withHAProxy runs fn with HAProxy (mode tcp, roundrobin over the reals'
// port 8083, its default threads: one per CPU) listening on the VIP's port
// 83 in the director's namespace; fn gets its PID. It stops the process it
// started, by that PID.
func (e *e2e) withHAProxy(ctx context.Context, fn func(pid int)) error {
	dir, err := os.MkdirTemp("", "xlbbench-haproxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n")
	fmt.Fprintf(&b, "frontend f\n  bind %s:83\n  default_backend b\nbackend b\n  balance roundrobin\n", e2eVIP)
	for i, r := range e.topo.Reals {
		fmt.Fprintf(&b, "  server r%d %s:8083\n", i, r.Addr)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		return err
	}
	cmd := e.topo.Director.Command("haproxy", "-db", "-f", cfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start haproxy: %w", err)
	}
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	// Wait (at most 5 s) until it accepts.
	ready := false
	for range 50 {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		c, err := e.topo.Client.DialContext(cctx, "tcp", netip.AddrPortFrom(e2eVIP, 83).String())
		cancel()
		if err == nil {
			c.Close()
			ready = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ready {
		return fmt.Errorf("haproxy did not accept in 5 s: %s", out.String())
	}
	fn(cmd.Process.Pid)
	return nil
}

// diagnose logs where the director lost packets: its kernel's counters
// and its links' statistics.
func (e *e2e) diagnose(setup string) {
	for _, argv := range [][]string{{"nstat", "-a"}, {"ip", "-s", "-s", "link"}} {
		out, err := e.topo.Director.Command(argv[0], argv[1:]...).CombinedOutput()
		logf("e2e: %s: less than half delivered; director %s (%v):\n%s", setup, strings.Join(argv, " "), err, out)
	}
}
