//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

// The pinned data plane of BenchmarkConnsPinned: one DR service, round
// robin over two reals, in a network namespace of the benchmark's own (a
// client-side and a real-side veth with permanent neighbours, so the
// program's next-hop lookup succeeds).
var (
	pinnedVIP   = netip.MustParseAddr("198.18.0.100")
	pinnedReals = []netip.Addr{netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")}
	pinnedDirA  = netip.MustParsePrefix("198.18.0.1/24")
	pinnedDirB  = netip.MustParsePrefix("198.18.1.1/24")
)

const pinnedPinPrefix = "/sys/fs/bpf/xlbtest-conns-"

// The verdicts of a forwarded packet (enum xdp_action).
const (
	xdpTX       = 3
	xdpRedirect = 4
)

// pinnedPlane is a data plane loaded and pinned as xlbd pins it, its
// connection table of xlbd's default size filled by the XDP program.
type pinnedPlane struct {
	pinDir string
	dp     *loader.Dataplane
	ifA    int
	calls  chan func()
	done   chan struct{}
	// sent is how many SYNs (distinct clients) have been run so far.
	sent int
}

// newPinnedPlane builds the namespace, loads and pins the data plane and
// applies the service. Everything is removed when b ends.
func newPinnedPlane(b *testing.B) *pinnedPlane {
	b.Helper()
	testenv.RequirePrivileged(b)
	p := &pinnedPlane{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go p.serve(ready)
	if err := <-ready; err != nil {
		b.Fatalf("build namespace: %v", err)
	}
	b.Cleanup(func() { close(p.calls); <-p.done })

	p.pinDir = fmt.Sprintf("%s%d", pinnedPinPrefix, os.Getpid())
	_ = loader.RemovePins(p.pinDir) // a previous run of this process id that died
	dp, err := loader.Open(loader.Options{PinDir: p.pinDir, FlowTableSize: loader.DefaultFlowTableSize})
	if err != nil {
		_ = loader.RemovePins(p.pinDir)
		b.Fatalf("open data plane: %v", err)
	}
	b.Cleanup(func() {
		if err := dp.Close(); err != nil {
			b.Errorf("close data plane: %v", err)
		}
		if err := loader.RemovePins(p.pinDir); err != nil {
			b.Errorf("remove pins: %v", err)
		}
	})
	p.dp = dp
	rec, err := control.NewReconciler(dp, nil)
	if err != nil {
		b.Fatalf("new reconciler: %v", err)
	}
	svc := &control.Service{Endpoint: loader.Endpoint{Addr: pinnedVIP, Port: 80, Proto: loader.ProtoTCP}, Sched: "rr", Method: loader.MethodDR}
	for _, r := range pinnedReals {
		svc.Reals = append(svc.Reals, control.Real{Addr: r, Port: 80, Weight: 1})
	}
	p.do(func() { err = rec.Apply(&control.State{Services: []*control.Service{svc}}) })
	if err != nil {
		b.Fatalf("apply service: %v", err)
	}
	return p
}

// serve runs on a thread that enters a new network namespace and never
// leaves it (it stays locked, so the runtime ends it with the goroutine).
func (p *pinnedPlane) serve(ready chan<- error) {
	runtime.LockOSThread()
	defer close(p.done)
	ns, err := netns.New()
	if err != nil {
		ready <- fmt.Errorf("create network namespace: %w", err)
		return
	}
	defer ns.Close()
	if err := p.setupNet(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for fn := range p.calls {
		fn()
	}
	for _, name := range []string{"xca", "xcb"} {
		if l, err := netlink.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	}
}

func (p *pinnedPlane) setupNet() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/forwarding", []byte("1"), 0); err != nil {
		return fmt.Errorf("enable forwarding: %w", err)
	}
	for i, side := range []struct {
		name   string
		prefix netip.Prefix
		neighs []netip.Addr
	}{{"xca", pinnedDirA, nil}, {"xcb", pinnedDirB, pinnedReals}} {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: side.name}, PeerName: side.name + "p"}); err != nil {
			return fmt.Errorf("add veth %s: %w", side.name, err)
		}
		link, err := netlink.LinkByName(side.name)
		if err != nil {
			return fmt.Errorf("find link %s: %w", side.name, err)
		}
		peer, err := netlink.LinkByName(side.name + "p")
		if err != nil {
			return fmt.Errorf("find link %sp: %w", side.name, err)
		}
		if i == 0 {
			p.ifA = link.Attrs().Index
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: side.prefix.Addr().AsSlice(), Mask: net.CIDRMask(side.prefix.Bits(), 32)}}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", side.prefix, err)
		}
		for _, l := range []netlink.Link{link, peer} {
			if err := netlink.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
			}
		}
		for j, ip := range side.neighs {
			mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x18, 0x01, byte(2 + j)}
			if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}); err != nil {
				return fmt.Errorf("add neighbour %s: %w", ip, err)
			}
		}
	}
	return nil
}

// do runs fn on the namespace's thread.
func (p *pinnedPlane) do(fn func()) {
	finished := make(chan struct{})
	p.calls <- func() { defer close(finished); fn() }
	<-finished
}

// synFrame is a client's TCP SYN to VIP:80 arriving on xca.
func synFrame() []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x02, 0x00, 0x5e, 0x18, 0x00, 0x02}, DstMAC: net.HardwareAddr{0x02, 0x00, 0x5e, 0x18, 0x00, 0x01}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: net.IPv4(198, 19, 0, 0).To4(), DstIP: pinnedVIP.AsSlice()}
	tcp := &layers.TCP{SrcPort: 1024, DstPort: 80, SYN: true, Seq: 1, Window: 64240}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		panic(fmt.Sprintf("serialize SYN: %v", err))
	}
	return buf.Bytes()
}

// fill runs SYNs from new clients through the XDP program, as a burst of
// new connections would arrive, until the connection table holds n
// entries or n-p.sent more SYNs were sent. Client i is 198.19.0.0/16 +
// i/50000, port 1024 + i%50000 (the RFC 2544 range). The program does not
// verify checksums, so only the varied bytes change.
func (p *pinnedPlane) fill(b *testing.B, n int) {
	b.Helper()
	frame := synFrame()
	const offSrcIP, offSrcPort = 14 + 12, 14 + 20
	var err error
	notForwarded := 0
	p.do(func() {
		for ; p.sent < n; p.sent++ {
			i := p.sent
			frame[offSrcIP], frame[offSrcIP+1] = 198, 19
			frame[offSrcIP+2], frame[offSrcIP+3] = byte(i/50000>>8), byte(i/50000)
			frame[offSrcPort], frame[offSrcPort+1] = byte((1024+i%50000)>>8), byte(1024+i%50000)
			var v uint32
			if v, err = p.dp.RunXDP(frame, p.ifA); err != nil {
				return
			}
			if v != xdpTX && v != xdpRedirect {
				notForwarded++
			}
		}
	})
	if err != nil {
		b.Fatalf("fill connection table: %v", err)
	}
	if notForwarded > 0 {
		b.Fatalf("fill connection table: %d of %d SYNs not forwarded", notForwarded, n)
	}
}

// tally counts the table's forward entries, and those on each real.
func (p *pinnedPlane) tally(b *testing.B) (total int, perReal map[netip.Addr]int) {
	b.Helper()
	reals, err := p.dp.Reals()
	if err != nil {
		b.Fatalf("read reals: %v", err)
	}
	perReal = make(map[netip.Addr]int)
	_, _, err = p.dp.ScanFlows(func(f *loader.Flow) bool {
		if !f.Reply {
			total++
			perReal[reals[f.RealID].Addr]++
		}
		return false
	})
	if err != nil {
		b.Fatalf("count flows: %v", err)
	}
	return total, perReal
}

// heapPeak samples the bytes of heap objects (live and not yet collected)
// until stop, and returns the largest sample.
func heapPeak(stop <-chan struct{}) uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	t := time.NewTicker(200 * time.Microsecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		peak = max(peak, s[0].Value.Uint64())
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// lineCounter counts output lines and keeps the last one.
type lineCounter struct {
	lines int
	last  []byte
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte{'\n'})
	if i := bytes.LastIndexByte(p[:len(p)-1], '\n'); i >= 0 {
		w.last = append(w.last[:0], p[i+1:]...)
	} else {
		w.last = append(w.last, p...)
	}
	return len(p), nil
}

// BenchmarkConnsPinned runs `xlb conns --count` and a filtered `xlb conns`
// listing (--real, half the table) on a real pinned connection table of
// 100,000 and then 1,000,000 entries, created by the XDP program itself:
// one TCP SYN per client through BPF_PROG_TEST_RUN, as a burst of new
// connections would (the table has xlbd's default size, 1,048,576). Each
// op is a whole command, from opening the pinned maps to the last line.
// Besides ns/op and -benchmem's B/op (everything allocated, which grows
// with the lines printed), it reports entries/s and peak-heap-B: the
// largest heap (live and uncollected objects) seen during the ops above
// the heap before them, sampled every 200 µs. That figure staying the same
// at 100k and 1M entries is what shows the command's memory is bounded.
// Needs root; run:
//
//	go test ./cmd/xlb -run '^$' -bench ConnsPinned -benchtime 5x
func BenchmarkConnsPinned(b *testing.B) {
	p := newPinnedPlane(b)
	for _, n := range []int{100_000, 1_000_000} {
		b.Run("entries="+strconv.Itoa(n), func(b *testing.B) {
			start := time.Now()
			p.fill(b, n)
			total, perReal := p.tally(b)
			b.Logf("filled to %d entries in %v (%d SYNs sent)", total, time.Since(start).Round(time.Millisecond), p.sent)
			cases := []struct {
				name string
				args []string
				// check says what is wrong with the output, if anything.
				check func(w *lineCounter) error
			}{
				{"count", []string{"--count"}, func(w *lineCounter) error {
					if got := strings.TrimSpace(string(w.last)); got != strconv.Itoa(total) {
						return fmt.Errorf("xlb conns --count printed %q, want %d", got, total)
					}
					return nil
				}},
				{"filtered", []string{"--real", pinnedReals[0].String() + ":80"}, func(w *lineCounter) error {
					if w.lines-2 != perReal[pinnedReals[0]] {
						return fmt.Errorf("xlb conns --real %s: %d lines, want 2 headers and %d", pinnedReals[0], w.lines, perReal[pinnedReals[0]])
					}
					return nil
				}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					args := append([]string{"--bpffs", p.pinDir, "conns"}, c.args...)
					var stderr bytes.Buffer
					e := &env{stderr: &stderr, open: openPinned, sleep: time.Sleep, now: time.Now}
					runtime.GC()
					before := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
					metrics.Read(before)
					stop, peak := make(chan struct{}), make(chan uint64, 1)
					var wg sync.WaitGroup
					wg.Go(func() { peak <- heapPeak(stop) })
					b.ReportAllocs()
					b.ResetTimer()
					var err error
					for b.Loop() {
						w := &lineCounter{}
						e.stdout = w
						if code := run(e, args); code != 0 {
							err = fmt.Errorf("xlb %s: status %d: %s", strings.Join(args, " "), code, stderr.String())
							break
						}
						if err = c.check(w); err != nil {
							break
						}
					}
					b.StopTimer()
					close(stop)
					wg.Wait()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
					b.ReportMetric(float64(total), "entries")
					growth := int64(<-peak) - int64(before[0].Value.Uint64())
					b.ReportMetric(float64(max(growth, 0)), "peak-heap-B")
				})
			}
		})
	}
}
