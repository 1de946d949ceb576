//go:build linux

package loader_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

// macSwapFloor is the floor every case is measured against: an XDP program
// that swaps the Ethernet addresses and transmits, the least a forwarder
// can do.
func macSwapFloor(b *testing.B) *ebpf.Program {
	b.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "MIT",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 0, asm.Word),
			asm.LoadMem(asm.R6, asm.R2, 4, asm.Half),
			asm.LoadMem(asm.R7, asm.R2, 6, asm.Word),
			asm.LoadMem(asm.R8, asm.R2, 10, asm.Half),
			asm.StoreMem(asm.R2, 0, asm.R7, asm.Word),
			asm.StoreMem(asm.R2, 4, asm.R8, asm.Half),
			asm.StoreMem(asm.R2, 6, asm.R5, asm.Word),
			asm.StoreMem(asm.R2, 10, asm.R6, asm.Half),
			asm.Mov.Imm(asm.R0, int32(xdpTX)),
			asm.Return(),
			asm.Mov.Imm(asm.R0, int32(xdpPass)).WithSymbol("pass"),
			asm.Return(),
		},
	})
	if err != nil {
		b.Fatalf("load floor program: %v", err)
	}
	b.Cleanup(func() { prog.Close() })
	return prog
}

// tableOnly is the reference for a new flow's cost: a program that does
// only the connection-table work xlb does for a TCP SYN (an insert that
// must not replace, with no lookup before it), in an LRU hash table of
// the same size, key and value as xlb's own, keyed by the packet's
// addresses and ports. The difference between xlb's new flow and this is
// xlb's own work; this is what the kernel's table charges.
func tableOnly(b *testing.B, like *ebpf.Map) *ebpf.Program {
	b.Helper()
	table, err := ebpf.NewMap(&ebpf.MapSpec{
		Type:       ebpf.LRUHash,
		KeySize:    like.KeySize(),
		ValueSize:  like.ValueSize(),
		MaxEntries: like.MaxEntries(),
	})
	if err != nil {
		b.Fatalf("create reference table: %v", err)
	}
	b.Cleanup(func() { table.Close() })
	keyOff, valueOff := -int16(like.KeySize()), -int16(like.KeySize()+like.ValueSize())
	// Key and value zeroed on the stack (both sizes are multiples of 8).
	insns := referenceStart(valueOff)
	insns = append(insns, referenceKey(keyOff)...)
	insns = append(insns,
		asm.LoadMapPtr(asm.R1, table.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(valueOff)),
		asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)),
		asm.FnMapUpdateElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "known"),
	)
	return loadReference(b, insns)
}

// bucketWayBits sizes bucketOnly's table: 2^20 ways of 64 bytes, two to a
// bucket, as many as xlb's connection table has entries.
const (
	bucketWayBits    = 20
	bucketTableBytes = 64 << bucketWayBits
)

// bucketOnly is a reference for the least memory work a new flow costs in
// a table of any design that holds xlb's flow keys and state: at least 56
// bytes a flow, so 1M flows take 56 MiB or more, beyond the last-level
// cache of most machines. It reads the one 128-byte bucket a hash of the
// 5-tuple picks, finds the key absent and writes it there. That is less
// than a correct table does (no lock between CPUs, no choice of the way
// to evict), so it bounds from below what any table, the kernel's or one
// of xlb's own, costs a new flow.
func bucketOnly(b *testing.B) *ebpf.Program {
	b.Helper()
	const way = 64
	table, err := ebpf.NewMap(&ebpf.MapSpec{
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  2 * way,
		MaxEntries: 1 << (bucketWayBits - 1),
		// Values then start on a page, so a bucket is two aligned lines.
		Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		b.Fatalf("create reference buckets: %v", err)
	}
	b.Cleanup(func() { table.Close() })
	const keyOff, idxOff = -40, -48
	const golden = -1640531535 // 0x9E3779B1
	insns := referenceStart(keyOff)
	insns = append(insns, referenceKey(keyOff)...)
	insns = append(insns,
		asm.StoreImm(asm.RFP, keyOff+37, 2, asm.Byte), // the family
		// The bucket: a multiplicative hash of the three words.
		asm.Mul.Imm32(asm.R5, golden),
		asm.Xor.Reg32(asm.R5, asm.R6),
		asm.Xor.Reg32(asm.R5, asm.R7),
		asm.Mul.Imm32(asm.R5, golden),
		asm.RSh.Imm32(asm.R5, 32-(bucketWayBits-1)),
		asm.StoreMem(asm.RFP, idxOff, asm.R5, asm.Word),
		asm.LoadMapPtr(asm.R1, table.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, idxOff),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R6, asm.R0),
	)
	// Is the key in either way? Five 64-bit words each.
	for w := int16(0); w < 2; w++ {
		insns = append(insns, asm.Mov.Imm(asm.R7, 0))
		for off := int16(0); off < 40; off += 8 {
			insns = append(insns,
				asm.LoadMem(asm.R3, asm.R6, w*way+off, asm.DWord),
				asm.LoadMem(asm.R4, asm.RFP, keyOff+off, asm.DWord),
				asm.Xor.Reg(asm.R3, asm.R4),
				asm.Or.Reg(asm.R7, asm.R3),
			)
		}
		insns = append(insns, asm.JEq.Imm(asm.R7, 0, "known"))
	}
	// Write it to the first way if that is empty (no family), else the second.
	insns = append(insns,
		asm.LoadMem(asm.R3, asm.R6, 37, asm.Byte), // the first way's key's family
		asm.JEq.Imm(asm.R3, 0, "write"),
		asm.Add.Imm(asm.R6, way),
	)
	for off := int16(0); off < 40; off += 8 {
		insn := asm.LoadMem(asm.R3, asm.RFP, keyOff+off, asm.DWord)
		if off == 0 {
			insn = insn.WithSymbol("write")
		}
		insns = append(insns, insn, asm.StoreMem(asm.R6, off, asm.R3, asm.DWord))
	}
	insns = append(insns,
		// The state, 16 bytes: a 64-bit time, a real, a flow state.
		asm.StoreImm(asm.R6, 40, 1, asm.Word),
		asm.StoreImm(asm.R6, 44, 0, asm.Word),
		asm.StoreImm(asm.R6, 48, 1, asm.Word),
		asm.StoreImm(asm.R6, 52, 1, asm.Word),
	)
	return loadReference(b, insns)
}

// referenceStart begins a reference program: r2 the packet, which must
// hold its IPv4 ports (else it passes), and the stack from zeroFrom up
// zeroed (r0 left 0).
func referenceStart(zeroFrom int16) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, offSrcPort+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.Mov.Imm(asm.R0, 0),
	}
	for off := zeroFrom; off < 0; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, off, asm.R0, asm.DWord))
	}
	return insns
}

// referenceKey writes the packet's (r2's) flow key at keyOff on the stack,
// at xlb's flow_key offsets: source, destination and ports (family and
// protocol left as they are), keeping them in r5, r6 and r7.
func referenceKey(keyOff int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R5, asm.R2, offSrcIP, asm.Word),
		asm.StoreMem(asm.RFP, keyOff, asm.R5, asm.Word),
		asm.LoadMem(asm.R6, asm.R2, offSrcIP+4, asm.Word),
		asm.StoreMem(asm.RFP, keyOff+16, asm.R6, asm.Word),
		asm.LoadMem(asm.R7, asm.R2, offSrcPort, asm.Word),
		asm.StoreMem(asm.RFP, keyOff+32, asm.R7, asm.Word),
	}
}

// loadReference ends a reference program that falls through after an
// insert (XDP_TX) or jumps to "known" (the flow was there: XDP_DROP) or
// "pass" (not a flow's packet), and loads it for the benchmark's length.
func loadReference(b *testing.B, body asm.Instructions) *ebpf.Program {
	b.Helper()
	insns := append(body,
		asm.Mov.Imm(asm.R0, int32(xdpTX)),
		asm.Return(),
		asm.Mov.Imm(asm.R0, int32(xdpDrop)).WithSymbol("known"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, int32(xdpPass)).WithSymbol("pass"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "MIT", Instructions: insns})
	if err != nil {
		b.Fatalf("load reference program: %v", err)
	}
	b.Cleanup(func() { prog.Close() })
	return prog
}

// progRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr. The
// benchmark fills it itself, rather than through ebpf.Program.Run, because
// it needs both an ingress device (the context) and the kernel's duration
// of each single run, which Run does not return.
type progRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// runner runs one program on one packet buffer, once per call, from an
// ingress device.
type runner struct {
	attr progRunAttr
	buf  []byte
	ctx  xdpMD
}

func newRunner(prog *ebpf.Program, frame []byte, ifindex int) *runner {
	r := &runner{buf: append([]byte(nil), frame...)}
	r.ctx = xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}
	r.attr = progRunAttr{
		progFD:     uint32(prog.FD()),
		dataSizeIn: uint32(len(r.buf)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&r.buf[0]))),
		repeat:     1,
		ctxSizeIn:  uint32(unsafe.Sizeof(r.ctx)),
		ctxIn:      uint64(uintptr(unsafe.Pointer(&r.ctx))),
	}
	return r
}

// run runs the program once on r.buf as it is now and returns its verdict
// and the kernel's measure of the run in ns. The kernel copies the buffer
// in for each call, so a rewrite by the previous run is not seen.
func (r *runner) run() (verdict, ns uint32, err error) {
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&r.attr)), unsafe.Sizeof(r.attr))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, 0, fmt.Errorf("run program: %w", errno)
		}
		return r.attr.retval, r.attr.duration, nil
	}
}

// costStats are one case's per-call durations summarised.
type costStats struct {
	median, p99, mean float64
	// trimmedMean is the mean of the middle 80% of the calls: the kernel's
	// clock reports a run in steps of about 10 ns here, which the median
	// keeps and the trimmed mean averages out, without the outliers (an
	// interrupt during a run) that move the plain mean.
	trimmedMean float64
	// unexpected counts the runs whose verdict was not the case's.
	unexpected int
}

func summarise(ns []uint32) costStats {
	slices.Sort(ns)
	var sum, trimmed float64
	for _, v := range ns {
		sum += float64(v)
	}
	lo, hi := len(ns)/10, len(ns)-len(ns)/10
	for _, v := range ns[lo:hi] {
		trimmed += float64(v)
	}
	return costStats{
		median:      float64(ns[len(ns)/2]),
		p99:         float64(ns[len(ns)*99/100]),
		mean:        sum / float64(len(ns)),
		trimmedMean: trimmed / float64(hi-lo),
	}
}

// floorBlock is how many calls of the floor and of a case alternate. Blocks
// rather than single calls: a floor call between two calls of the case
// would evict some of what the case's previous call left in the caches, and
// a case would be timed colder than a stream of its packets runs.
const floorBlock = 1000

// measure runs r n times, calling vary (if set) before each run, and
// returns the per-run durations and the verdict counts. When floor is set
// it runs as many times, in blocks alternating with r's, and its durations
// are returned too: the floor is then measured over the same stretch of
// time as the case, so that the machine's drift (other guests, frequency)
// moves both alike. It runs on the calling thread, which must be in the
// harness's namespace.
func measure(r, floor *runner, n int, vary func(buf []byte, i int)) (ns, floorNs []uint32, verdicts map[uint32]int, err error) {
	// Warm caches and the JIT'd code before timing.
	for range 1000 {
		if _, _, err := r.run(); err != nil {
			return nil, nil, nil, err
		}
	}
	ns = make([]uint32, n)
	if floor != nil {
		floorNs = make([]uint32, n)
	}
	verdicts = make(map[uint32]int)
	for start := 0; start < n; start += floorBlock {
		end := min(start+floorBlock, n)
		for i := start; floor != nil && i < end; i++ {
			if _, floorNs[i], err = floor.run(); err != nil {
				return nil, nil, nil, err
			}
		}
		for i := start; i < end; i++ {
			if vary != nil {
				vary(r.buf, i)
			}
			v, d, err := r.run()
			if err != nil {
				return nil, nil, nil, err
			}
			ns[i] = d
			verdicts[v]++
		}
	}
	return ns, floorNs, verdicts, nil
}

// The offsets of the varied fields in an untagged IPv4 frame.
const (
	offSrcIP   = 14 + 12
	offSrcPort = 14 + 20
)

// newFlowSource makes the i-th packet a new flow: source 198.19.0.0/16 (in
// the RFC 2544 range), 50,000 ports per address, base selecting a range of
// addresses that no other case uses. Checksums are left as they are: the
// program does not verify them.
func newFlowSource(base uint32) func(buf []byte, i int) {
	return func(buf []byte, i int) {
		binary.BigEndian.PutUint32(buf[offSrcIP:], 198<<24|19<<16+base+uint32(i/50000))
		binary.BigEndian.PutUint16(buf[offSrcPort:], uint16(1024+i%50000))
	}
}

// fillFlows inserts n flows to svc into the connection table by running the
// program on n distinct SYNs, as a burst of new connections would.
func (h *xdpHarness) fillFlows(b *testing.B, dst netip.Addr, port uint16, n int, base uint32) {
	h.fillFlowsWith(b, dst, port, n, base, func(*frame) {})
}

// fillFlowsWith is fillFlows with the packets changed by shape (an ACK for
// each flow after its SYN, say).
func (h *xdpHarness) fillFlowsWith(b *testing.B, dst netip.Addr, port uint16, n int, base uint32, shape func(*frame)) {
	b.Helper()
	h.runFlows(b, h.prog, fromClient(dst, port, 1024, layers.IPProtocolTCP).with(shape).bytes(), n, base, forwarded)
}

// runFlows runs prog once on each of n flows' packets (frame with the
// sources of newFlowSource(base)), each of which must get a verdict ok
// accepts.
func (h *xdpHarness) runFlows(b *testing.B, prog *ebpf.Program, frame []byte, n int, base uint32, ok func(verdict uint32) bool) {
	b.Helper()
	var err error
	var okN int
	h.do(func() {
		r := newRunner(prog, frame, h.ifA)
		vary := newFlowSource(base)
		for i := range n {
			vary(r.buf, i)
			var v uint32
			if v, _, err = r.run(); err != nil {
				return
			}
			if ok(v) {
				okN++
			}
		}
	})
	if err != nil {
		b.Fatalf("fill flow table: %v", err)
	}
	if okN != n {
		b.Fatalf("fill flow table: %d of %d packets got the verdict wanted", okN, n)
	}
}

// tableFlows counts the connection table's entries.
func (h *xdpHarness) tableFlows(b *testing.B) int {
	b.Helper()
	seen, _, err := h.dp.ScanFlows(func(*loader.Flow) bool { return false })
	if err != nil {
		b.Fatalf("count flows: %v", err)
	}
	return seen
}

// benchCase is one packet path timed by BenchmarkXDP.
type benchCase struct {
	name  string
	floor bool // the MAC-swap floor program instead of xlb's
	// prog, if set, gives another program to time instead of xlb's (a
	// reference); it is called after setup.
	prog    func() *ebpf.Program
	frame   []byte
	ifindex int
	// vary makes the i-th packet different (a new flow).
	vary func(buf []byte, i int)
	// want is the verdict every timed packet must get.
	want uint32
	// setup runs once before the case is timed.
	setup func(b *testing.B)
	// report adds the case's own metrics.
	report func(b *testing.B)
}

// costBench times each case, one packet per BPF_PROG_TEST_RUN call, b.N
// calls, in blocks alternating with as many calls of the MAC-swap floor,
// and reports the kernel-measured median, p99 and mean in ns, and how far
// the case is above the floor measured in those same calls.
type costBench struct {
	h     *xdpHarness
	floor *ebpf.Program
	// calls counts each case's calls so far, so that a case run again
	// (b.N growing, -count) still sends new flows.
	calls map[string]int
}

// time runs case c n times, interleaved with the floor unless c is the
// floor, and returns both summaries.
func (cb *costBench) time(b *testing.B, prog *ebpf.Program, c benchCase, n int) (st, floorSt costStats, err error) {
	var ns, floorNs []uint32
	var verdicts map[uint32]int
	vary := c.vary
	if vary != nil {
		if cb.calls == nil {
			cb.calls = make(map[string]int)
		}
		done := cb.calls[c.name]
		cb.calls[c.name] += n
		vary = func(buf []byte, i int) { c.vary(buf, done+i) }
	}
	cb.h.do(func() {
		var floor *runner
		if !c.floor {
			floor = newRunner(cb.floor, fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).bytes(), cb.h.ifA)
		}
		ns, floorNs, verdicts, err = measure(newRunner(prog, c.frame, c.ifindex), floor, n, vary)
	})
	if err != nil {
		return st, floorSt, err
	}
	st = summarise(ns)
	floorSt = st
	if floorNs != nil {
		floorSt = summarise(floorNs)
	}
	st.unexpected = n - verdicts[c.want]
	if st.unexpected > 0 {
		// Say why, from the data plane's reason counters (cumulative).
		reasons, _ := cb.h.dp.ReasonStats()
		var rs []string
		for r, c := range reasons {
			if c.Packets > 0 {
				rs = append(rs, fmt.Sprintf("%s: %d", r, c.Packets))
			}
		}
		slices.Sort(rs)
		b.Logf("%s: verdicts %v, want %d x %s; reason counters so far: %v", c.name, verdicts, n, verdictName(c.want), rs)
	}
	// A case whose packets mostly took another path would time that path.
	if st.unexpected > n/100 {
		return st, floorSt, fmt.Errorf("%s: verdicts %v, want %d x %s", c.name, verdicts, n, verdictName(c.want))
	}
	return st, floorSt, nil
}

func (cb *costBench) run(b *testing.B, cases []benchCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.setup != nil {
				c.setup(b)
			}
			prog := cb.h.prog
			if c.floor {
				prog = cb.floor
			} else if c.prog != nil {
				prog = c.prog()
			}
			b.ResetTimer()
			st, floor, err := cb.time(b, prog, c, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(st.median, "median-ns")
			b.ReportMetric(st.p99, "p99-ns")
			b.ReportMetric(st.mean, "mean-ns")
			b.ReportMetric(floor.median, "floor-ns")
			b.ReportMetric(st.median-floor.median, "above-floor-ns")
			b.ReportMetric(st.trimmedMean-floor.trimmedMean, "above-floor-tmean-ns")
			b.ReportMetric(st.median/floor.median, "x_floor")
			b.ReportMetric(float64(st.unexpected), "unexpected-verdicts")
			if c.report != nil {
				c.report(b)
			}
		})
	}
}

// fillSize is how many flows the "1M flows" cases put in the connection
// table first (DefaultFlowTableSize, xlbd's, holds 1,048,576).
const fillSize = 1000000

// BenchmarkXDP times one packet per BPF_PROG_TEST_RUN call (a rewritten
// packet must not be run again: DESIGN.md, veth fact 5) for the program's
// main paths, each beside the MAC-swap floor measured in the same run. The
// kernel measures each call (ktime around one run of the program, without
// the syscall around it). Run with -benchtime 1000000x for a million calls
// per case. The connection table has xlbd's default size; the "1M flows"
// case fills it with a million flows first, through the program itself,
// and the "N flows" established cases send packets of N flows in turn.
func BenchmarkXDP(b *testing.B) {
	h := newBenchHarness(b, goldenState(nil, nil))
	cb := &costBench{h: h, floor: macSwapFloor(b)}
	filled := false
	var flowsBefore int
	// The reference tables (xlb's size each) are made only for their
	// cases, and live as long as the benchmark (b.N may grow, -count).
	var refEmpty, refFull, bucketFull *ebpf.Program
	top := b
	cb.run(b, []benchCase{
		{name: "floor MAC swap", floor: true, frame: fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpTX},
		{name: "non-VIP pass", frame: fromClient(addrReal2, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpPass},
		{name: "DR established", frame: fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).with(ack).bytes(), ifindex: h.ifA, want: xdpRedirect,
			setup: func(b *testing.B) { h.establish(b, fromClient(vipDR, 80, 40000, layers.IPProtocolTCP)) }},
		{name: "NAT established", frame: fromClient(vipNAT, 80, 40000, layers.IPProtocolTCP).with(ack).bytes(), ifindex: h.ifA, want: xdpRedirect,
			setup: func(b *testing.B) { h.establish(b, fromClient(vipNAT, 80, 40000, layers.IPProtocolTCP)) }},
		{name: "NAT reply", frame: fromReal(netip.AddrPortFrom(addrReal2, 8080), 40000, macReal2, layers.IPProtocolTCP).bytes(), ifindex: h.ifB, want: xdpRedirect,
			setup: func(b *testing.B) { h.establish(b, fromClient(vipNAT, 80, 40000, layers.IPProtocolTCP)) }},
		establishedOf(h, 4096, 128),
		establishedOf(h, 65536, 256),
		{name: "new flow DR rr, empty table", frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpRedirect,
			vary: newFlowSource(0)},
		{name: "new flow DR rr, 1M flows", frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpRedirect,
			vary: newFlowSource(1024),
			setup: func(b *testing.B) {
				if !filled {
					h.fillFlows(b, vipRR, 80, fillSize, 512)
					filled = true
				}
				flowsBefore = h.tableFlows(b)
			},
			report: func(b *testing.B) { b.ReportMetric(float64(flowsBefore), "flows-in-table") }},
		{name: "table only, empty table", prog: func() *ebpf.Program { return refEmpty }, frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpTX,
			vary: newFlowSource(0),
			setup: func(b *testing.B) {
				if refEmpty == nil {
					refEmpty = tableOnly(top, h.dp.FlowTable())
				}
			}},
		{name: "table only, 1M flows", prog: func() *ebpf.Program { return refFull }, frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpTX,
			vary: newFlowSource(1024),
			setup: func(b *testing.B) {
				if refFull == nil {
					refFull = tableOnly(top, h.dp.FlowTable())
					h.runFlows(b, refFull, fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), fillSize, 512,
						func(v uint32) bool { return v == xdpTX })
				}
			}},
		{name: "bucket only, 1M flows", prog: func() *ebpf.Program { return bucketFull }, frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpTX,
			vary: newFlowSource(1024),
			setup: func(b *testing.B) {
				if bucketFull == nil {
					bucketFull = bucketOnly(top)
					h.runFlows(b, bucketFull, fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).bytes(), fillSize, 512,
						func(v uint32) bool { return v == xdpTX })
				}
			},
			report: func(b *testing.B) { b.ReportMetric(bucketTableBytes, "table-bytes") }},
	})
}

// newBenchHarness is newXDPHarness with the connection table of xlbd's
// default size.
func newBenchHarness(b *testing.B, st *control.State) *xdpHarness {
	b.Helper()
	testenv.RequirePrivileged(b)
	sweepStalePins(b)
	h := &xdpHarness{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go h.serve(ready)
	if err := <-ready; err != nil {
		b.Fatalf("build bench namespace: %v", err)
	}
	b.Cleanup(h.close)
	pinDir := fmt.Sprintf("%s%d-%d", pinPrefix, os.Getpid(), pinSeq.Add(1))
	dp, err := loader.Open(loader.Options{PinDir: pinDir, FlowTableSize: loader.DefaultFlowTableSize})
	if err != nil {
		_ = loader.RemovePins(pinDir)
		b.Fatalf("open data plane: %v", err)
	}
	b.Cleanup(func() {
		if err := dp.Close(); err != nil {
			b.Errorf("close data plane: %v", err)
		}
		if err := loader.RemovePins(pinDir); err != nil {
			b.Errorf("remove pins: %v", err)
		}
	})
	h.dp = dp
	h.prog = dp.XDPProgram()
	// Every call runs on one CPU, as RSS gives a flow's packets to one:
	// the program's per-CPU state (the flow cache above all) is then that
	// CPU's throughout. Unpinned, the scheduler moved the thread between
	// CPUs, and "DR established, 4096 flows" measured 40-50 ns above the
	// floor in some runs and 150-200 in others.
	h.onCPU(b, lastCPU(b))
	if h.rec, err = control.NewReconciler(dp, nil); err != nil {
		b.Fatalf("new reconciler: %v", err)
	}
	// As xlbd does when it starts watching the FIB: next hops are cached.
	if err := dp.InvalidateNextHops(); err != nil {
		b.Fatal(err)
	}
	if err := h.apply(st); err != nil {
		b.Fatalf("apply state: %v", err)
	}
	return h
}

// establish runs f's SYN and then an ACK through the program, so that the
// flow is in the connection table (and established, for TCP).
func (h *xdpHarness) establish(b *testing.B, syn frame) {
	b.Helper()
	for _, f := range [][]byte{syn.bytes(), syn.with(ack).bytes()} {
		v, _, err := h.run(f, h.ifA)
		if err != nil {
			b.Fatalf("establish flow: %v", err)
		}
		if !forwarded(v) {
			b.Fatalf("establish flow: %s", verdictName(v))
		}
	}
}

// benchReal is the i-th real of the scheduler benchmark, in 198.18.16.0/20,
// routed on xgb.
func benchReal(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(16 + i/256), byte(i % 256)})
}

var benchRealsPrefix = netip.MustParsePrefix("198.18.16.0/20")

// addBenchReals routes benchRealsPrefix on xgb and gives n reals permanent
// neighbour entries there.
func (h *xdpHarness) addBenchReals(b *testing.B, n int) {
	b.Helper()
	var err error
	h.do(func() {
		dst := &net.IPNet{IP: benchRealsPrefix.Addr().AsSlice(), Mask: net.CIDRMask(benchRealsPrefix.Bits(), 32)}
		if err = netlink.RouteReplace(&netlink.Route{LinkIndex: h.ifB, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
			err = fmt.Errorf("add route %s: %w", benchRealsPrefix, err)
			return
		}
		for i := 0; i < n && err == nil; i++ {
			mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x18, byte(16 + i/256), byte(i % 256)}
			err = netlink.NeighSet(&netlink.Neigh{LinkIndex: h.ifB, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
				IP: benchReal(i).AsSlice(), HardwareAddr: mac})
		}
	})
	if err != nil {
		b.Fatalf("add bench reals: %v", err)
	}
}

// benchSchedulers are the schedulers the data plane runs (lvs_sched).
var benchSchedulers = []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "mh"}

// benchSchedState is one DR service per scheduler and real count, on
// schedVIP with port 9000+k, reals of weights 1..4 (so that wrr and the
// weighted schedulers have work to do).
func benchSchedState(counts []int) (*control.State, map[string]uint16) {
	st := &control.State{}
	ports := make(map[string]uint16)
	k := 0
	for _, n := range counts {
		for _, s := range benchSchedulers {
			port := uint16(9000 + k)
			k++
			ports[fmt.Sprintf("%s/%d", s, n)] = port
			svc := &control.Service{Endpoint: loader.Endpoint{Addr: schedVIP, Port: port, Proto: loader.ProtoTCP}, Sched: s, Method: loader.MethodDR}
			for i := range n {
				svc.Reals = append(svc.Reals, control.Real{Addr: benchReal(i), Port: 80, Weight: 1 + i%4})
			}
			st.Services = append(st.Services, svc)
		}
	}
	return st, ports
}

// randomFlowOf makes the i-th packet one of the n flows newFlowSource(base)
// made, in a scrambled order (an odd multiplier permutes the residues of a
// power of two), as packets of many flows arrive.
func randomFlowOf(base uint32, n int) func(buf []byte, i int) {
	src := newFlowSource(base)
	return func(buf []byte, i int) { src(buf, int(uint32(i)*2654435761%uint32(n))) }
}

// establishedOf is the case of packets of n established flows in a
// scrambled order: each packet's flow entry, its bucket and their pages
// are then as cold as the working set makes them, unlike the one-flow
// cases where they stay in the CPU's caches and TLB.
func establishedOf(h *xdpHarness, n int, base uint32) benchCase {
	return benchCase{name: fmt.Sprintf("DR established, %d flows", n), frame: fromClient(vipRR, 80, 1024, layers.IPProtocolTCP).with(ack).bytes(), ifindex: h.ifA, want: xdpRedirect,
		vary: randomFlowOf(base, n),
		setup: func(b *testing.B) {
			h.fillFlows(b, vipRR, 80, n, base)
			// Every flow ESTABLISHED, so that no timed packet changes a state.
			h.fillFlowsWith(b, vipRR, 80, n, base, ack)
		}}
}

// BenchmarkXDPScheduler times a new flow (TCP SYN, scheduled and inserted)
// for each scheduler with 64 and with 1024 reals, with the connection table
// (xlbd's default size) holding a million flows first: the steady state of
// a busy director, where an insert may evict the least recently used flow.
func BenchmarkXDPScheduler(b *testing.B) {
	counts := []int{64, loader.MaxServiceReals}
	st, ports := benchSchedState(counts)
	st.Services = append(st.Services, goldenState(nil, nil).Services...)
	h := newBenchHarness(b, goldenState(nil, nil))
	h.addBenchReals(b, loader.MaxServiceReals)
	if err := h.apply(st); err != nil {
		b.Fatalf("apply scheduler services: %v", err)
	}
	h.fillFlows(b, vipRR, 80, fillSize, 512)
	cb := &costBench{h: h, floor: macSwapFloor(b)}
	cases := []benchCase{{name: "floor MAC swap", floor: true, frame: fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpTX}}
	base := uint32(1024)
	for _, n := range counts {
		for _, s := range benchSchedulers {
			cases = append(cases, benchCase{
				name:  fmt.Sprintf("%s %d reals", s, n),
				frame: fromClient(schedVIP, ports[fmt.Sprintf("%s/%d", s, n)], 1024, layers.IPProtocolTCP).bytes(), ifindex: h.ifA, want: xdpRedirect,
				vary: newFlowSource(base),
			})
			base += 1024
		}
	}
	cb.run(b, cases)
}

// BenchmarkXDPProgramSize reports the size of xlb's XDP program as the
// kernel holds it: instructions after the verifier's rewrites (bpftool prog
// dump xlated), instructions the verifier processed, and JIT'd bytes. It
// times nothing; the figures say where per-packet cost may come from.
func BenchmarkXDPProgramSize(b *testing.B) {
	h := newXDPHarness(b, goldenState(nil, nil))
	info, err := h.prog.Info()
	if err != nil {
		b.Fatalf("program info: %v", err)
	}
	xlated, err := info.TranslatedSize()
	if err != nil {
		b.Fatalf("translated size: %v", err)
	}
	jited, err := info.JitedSize()
	if err != nil {
		b.Fatalf("jited size: %v", err)
	}
	verified, _ := info.VerifiedInstructions()
	for range b.N {
	}
	b.ReportMetric(float64(xlated)/8, "xlated-insns")
	b.ReportMetric(float64(verified), "verified-insns")
	b.ReportMetric(float64(jited), "jited-bytes")
	b.ReportMetric(0, "ns/op")
}
