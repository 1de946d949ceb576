package loader_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/gopacket/gopacket/layers"
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

// BenchmarkXDP times one packet per BPF_PROG_TEST_RUN call (a rewritten
// packet must not be run again: DESIGN.md, veth fact 5) for the program's
// main paths. ns/packet is the kernel's own measure of the program run, without
// the syscall around it; x_floor is that as a multiple of the MAC-swap floor
// measured in the same run. The packets enter on lo (BPF_PROG_TEST_RUN's
// default device), which routes like any other ingress device.
func BenchmarkXDP(b *testing.B) {
	h := newXDPHarness(b, goldenState(nil, nil))
	floor := macSwapFloor(b)
	var floorNs float64

	newFlow := fromClient(vipRR, 80, 40000, layers.IPProtocolTCP).bytes()
	const sportOffset = 14 + 20 // Ethernet + IPv4 without options
	cases := []struct {
		name    string
		prog    *ebpf.Program
		frame   []byte
		ifindex int
		// vary makes the i-th packet a new flow.
		vary func(frame []byte, i int)
	}{
		{name: "floor MAC swap", prog: floor, frame: fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA},
		{name: "non-VIP pass", frame: fromClient(addrReal2, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA},
		{name: "DR established", frame: fromClient(vipDR, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA},
		{name: "NAT established", frame: fromClient(vipNAT, 80, 40000, layers.IPProtocolTCP).bytes(), ifindex: h.ifA},
		{name: "NAT reply", frame: fromReal(netip.AddrPortFrom(addrReal2, 8080), 40000, macReal2, layers.IPProtocolTCP).bytes(), ifindex: h.ifB},
		{name: "new flow", frame: newFlow, ifindex: h.ifA, vary: func(f []byte, i int) {
			binary.BigEndian.PutUint16(f[sportOffset:], uint16(1024+i%60000))
			client := addrClient.As4()
			binary.BigEndian.PutUint32(f[14+12:], binary.BigEndian.Uint32(client[:])+uint32(i/60000))
		}},
	}
	for _, c := range cases {
		prog := c.prog
		if prog == nil {
			prog = h.prog
		}
		b.Run(c.name, func(b *testing.B) {
			in := append([]byte(nil), c.frame...)
			var runErr error
			var verdict uint32
			var elapsed time.Duration
			h.do(func() {
				// Establish the flow (and its NAT reply entry) first.
				if _, runErr = h.prog.Run(&ebpf.RunOptions{Data: fromClient(vipNAT, 80, 40000, layers.IPProtocolTCP).bytes(), Context: xdpMD{IngressIfindex: uint32(h.ifA)}, Repeat: 1}); runErr != nil {
					return
				}
				// Warm caches and the JIT'd code before timing.
				for range 1000 {
					if _, _, runErr = prog.Benchmark(in, 1, nil); runErr != nil {
						return
					}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if c.vary != nil {
						c.vary(in, i)
					}
					var d time.Duration
					if verdict, d, runErr = prog.Benchmark(in, 1, nil); runErr != nil {
						return
					}
					elapsed += d
				}
			})
			if runErr != nil {
				b.Fatal(runErr)
			}
			if verdict == xdpAborted {
				b.Fatalf("%s: XDP_ABORTED", c.name)
			}
			perOp := float64(elapsed.Nanoseconds()) / float64(b.N)
			if prog == floor {
				floorNs = perOp
			} else if floorNs > 0 {
				b.ReportMetric(perOp/floorNs, "x_floor")
			}
			b.ReportMetric(perOp, "ns/packet")
		})
	}
}
