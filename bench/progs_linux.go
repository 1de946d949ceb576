package main

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Verdicts of an XDP program.
const (
	xdpDrop = 2 - 1
	xdpPass = 2
	xdpTX   = 3
)

// benchPort is the UDP port the generator sends to and the counters count.
const benchPort = 9

// generatorProg is the traffic generator, run in BPF_PROG_TEST_RUN's
// live-frames mode on the client. Each run writes frame's Ethernet, IPv4
// and UDP headers (42 bytes) into the packet anew, since live frames are
// recycled with whatever the programs they passed through (the director's)
// wrote into them, gives it a random source port among flows (1024 up)
// and transmits it (XDP_TX on the client's eth0, so to the director). The
// UDP checksum is 0 (none), so the port can change without an update.
func generatorProg(frame []byte, flows int) (*ebpf.Program, error) {
	if len(frame) < 42 {
		return nil, fmt.Errorf("generator frame of %d bytes: want at least 42", len(frame))
	}
	if err := checkGenFlows(flows); err != nil {
		return nil, err
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetPrandomU32.Call(),
		asm.And.Imm(asm.R0, int32(flows-1)),
		asm.Add.Imm(asm.R0, 1024),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 42),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
	}
	for off := 0; off+4 <= 40; off += 4 {
		insns = append(insns, asm.StoreImm(asm.R2, int16(off), int64(int32(binary.NativeEndian.Uint32(frame[off:]))), asm.Word))
	}
	insns = append(insns,
		asm.StoreImm(asm.R2, 40, int64(binary.NativeEndian.Uint16(frame[40:])), asm.Half),
		asm.StoreMem(asm.R2, 34, asm.R0, asm.Half),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlb_bench_gen", Type: ebpf.XDP, License: "GPL", Instructions: insns})
}

// counterProg counts, in a per-CPU array of one entry, the IPv4 UDP
// packets to benchPort (no IP options) and drops them; everything else
// passes. It sits on each real's eth0 to count what was delivered, and on
// the director's eth0 to measure the generator alone.
func counterProg() (*ebpf.Program, *ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xlb_bench_cnt", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("create counter map: %w", err)
	}
	var ethIPv4, dport [2]byte
	binary.BigEndian.PutUint16(ethIPv4[:], 0x0800)
	binary.BigEndian.PutUint16(dport[:], benchPort)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xlb_bench_cnt", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 38),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
			asm.JNE.Imm(asm.R5, int32(binary.NativeEndian.Uint16(ethIPv4[:])), "pass"),
			asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
			asm.JNE.Imm(asm.R5, 0x45, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 23, asm.Byte),
			asm.JNE.Imm(asm.R5, 17, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 36, asm.Half),
			asm.JNE.Imm(asm.R5, int32(binary.NativeEndian.Uint16(dport[:])), "pass"),
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "drop"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("drop"),
			asm.Return(),
			asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
			asm.Return(),
		},
	})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("load counter program: %w", err)
	}
	return prog, m, nil
}

// readCounter sums a counterProg map over the CPUs.
func readCounter(m *ebpf.Map) (uint64, error) {
	var per []uint64
	if err := m.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum, nil
}

// floorProg is the end-to-end floor: the least an XDP forwarder does for
// the same delivery as the balancers, spread the frames over the reals
// (by the UDP source port's low byte, modulo len(dsts)), rewrite both MAC
// addresses (to that real's, from src) and redirect to ifindex.
func floorProg(dsts []net.HardwareAddr, src net.HardwareAddr, ifindex int) (*ebpf.Program, error) {
	if len(dsts) == 0 {
		return nil, fmt.Errorf("floor with no real to send to")
	}
	w := func(b []byte) int64 { return int64(int32(binary.NativeEndian.Uint32(b))) }
	h := func(b []byte) int64 { return int64(binary.NativeEndian.Uint16(b)) }
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 42),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 35, asm.Byte), // UDP source port, low byte (no IP options)
		asm.Mod.Imm(asm.R5, int32(len(dsts))),
		asm.StoreImm(asm.R2, 6, w(src[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 10, h(src[4:6]), asm.Half),
	}
	for i := range dsts[1:] {
		insns = append(insns, asm.JEq.Imm(asm.R5, int32(i+1), fmt.Sprintf("dst%d", i+1)))
	}
	for i, dst := range dsts {
		insns = append(insns,
			asm.StoreImm(asm.R2, 0, w(dst[0:4]), asm.Word).WithSymbol(fmt.Sprintf("dst%d", i)),
			asm.StoreImm(asm.R2, 4, h(dst[4:6]), asm.Half),
			asm.Ja.Label("send"),
		)
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R1, int32(ifindex)).WithSymbol("send"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlb_bench_floor", Type: ebpf.XDP, License: "GPL", Instructions: insns})
}

// switchProg forwards a frame whose destination MAC is in macs (MAC, as 8
// bytes with two zero bytes after it, -> ifindex) straight to that port:
// the LAN's known unicast in XDP, as a hardware switch forwards it without
// the director's CPUs. Everything else (broadcast, multicast, unknown)
// passes to the kernel's bridge.
func switchProg(macs *ebpf.Map) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xlb_bench_sw", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 0, asm.Word),
			asm.StoreMem(asm.R10, -8, asm.R5, asm.Word),
			asm.LoadMem(asm.R5, asm.R2, 4, asm.Half),
			asm.StoreMem(asm.R10, -4, asm.R5, asm.Half),
			asm.StoreImm(asm.R10, -2, 0, asm.Half),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -8),
			asm.LoadMapPtr(asm.R1, macs.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "pass"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
			asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
			asm.Return(),
		},
	})
}
