package main

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"text/tabwriter"

	"github.com/xlbproject/xlb/loader"
)

// list prints the services like `ipvsadm -Ln --stats`, with the weight.
func list(w io.Writer, pinDir string) error {
	dp, err := loader.OpenPinned(pinDir)
	if err != nil {
		return err
	}
	defer dp.Close()
	services, err := dp.Services()
	if err != nil {
		return err
	}
	reals, err := dp.Reals()
	if err != nil {
		return err
	}
	eps := make([]loader.Endpoint, 0, len(services))
	for ep := range services {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool {
		a, b := eps[i], eps[j]
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c < 0
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Proto < b.Proto
	})
	ids := make([]uint32, 0, len(reals))
	for id := range reals {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })

	fmt.Fprintf(w, "IP Virtual Server (xlb XDP data plane at %s)\n", pinDir)
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintf(w, "  -> %-26s %-7s %6s %10s %10s %8s %10s %10s %12s %12s\n", "RemoteAddress:Port", "Forward", "Weight", "ActiveConn", "InActConn",
		"Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	for _, ep := range eps {
		svc := services[ep]
		fmt.Fprintf(w, "%-4s %s %s%s\n", ep.Proto, netip.AddrPortFrom(ep.Addr, ep.Port), svc.Sched, flags(svc))
		for _, id := range ids {
			rl := reals[id]
			if rl.ServiceID != svc.ID || rl.Removed {
				continue
			}
			c, err := dp.RealStats(id)
			if err != nil {
				return err
			}
			cc, err := dp.RealConns(id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  -> %-26s %-7s %6d %10d %10d %8d %10d %10d %12d %12d\n", netip.AddrPortFrom(rl.Addr, rl.Port), forward(rl.Method), rl.Weight,
				max(cc.Active, 0), max(cc.Inactive, 0), c.Conns, c.PacketsIn, c.PacketsOut, c.BytesIn, c.BytesOut)
		}
	}
	return nil
}

// flags is ipvsadm's Flags column: persistence and the hash flags.
func flags(svc loader.Service) string {
	out := ""
	if svc.PersistTimeout > 0 {
		out += fmt.Sprintf(" persistent %d", svc.PersistTimeout)
		if svc.PersistPrefix != 32 && svc.PersistPrefix != 128 {
			out += fmt.Sprintf(" mask /%d", svc.PersistPrefix)
		}
	}
	if svc.HashPort && (svc.Sched == loader.SchedSH || svc.Sched == loader.SchedMH) {
		out += " (" + svc.Sched.String() + "-port)"
	}
	return out
}

// forward names a method as ipvsadm's Forward column does.
func forward(m loader.Method) string {
	switch m {
	case loader.MethodNAT:
		return "Masq"
	case loader.MethodDR:
		return "Route"
	}
	return m.String()
}

// stats prints the pass and drop counters.
func stats(w io.Writer, pinDir string) error {
	dp, err := loader.OpenPinned(pinDir)
	if err != nil {
		return err
	}
	defer dp.Close()
	counts, err := dp.ReasonStats()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Reason\tPackets\tBytes")
	for _, r := range loader.Reasons() {
		c := counts[r]
		fmt.Fprintf(tw, "%s\t%d\t%d\n", r, c.Packets, c.Bytes)
	}
	return tw.Flush()
}
