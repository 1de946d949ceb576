package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// xdpContext has the layout of struct xdp_md, the XDP program's context.
type xdpContext struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// RunXDP runs the data plane's XDP program once on frame, as if it had
// arrived on the interface ifindex, and returns the program's verdict
// (BPF_PROG_TEST_RUN; the interface must be in the calling thread's network
// namespace). The frame is not changed. What the program writes to its
// maps is real: a SYN to a service inserts a connection table entry as the
// same packet arriving on the wire would, so benchmarks fill the table
// with it.
func (d *Dataplane) RunXDP(frame []byte, ifindex int) (uint32, error) {
	opts := ebpf.RunOptions{
		Data:    frame,
		Context: xdpContext{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)},
		Repeat:  1,
	}
	v, err := d.objs.XlbXdp.Run(&opts)
	if err != nil {
		return 0, fmt.Errorf("run XDP program: %w", err)
	}
	return v, nil
}
