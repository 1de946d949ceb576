//go:build linux

package loader

import "github.com/cilium/ebpf"

// XDPProgram exposes the loaded XDP program to the golden-packet and fuzz
// tests, which run it through BPF_PROG_TEST_RUN. It is not part of the
// package's API: only this package's tests see it.
func (d *Dataplane) XDPProgram() *ebpf.Program { return d.objs.XlbXdp }

// HZ is the tick rate the loader learned for the program's clock.
func (d *Dataplane) HZ() uint32 { return d.hz }
