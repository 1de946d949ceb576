package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// addrMatch matches an address, an address and port, or a prefix.
type addrMatch struct {
	set    bool
	prefix netip.Prefix
	port   uint16 // 0: any
}

func parseAddrMatch(v string) (addrMatch, error) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return addrMatch{set: true, prefix: netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen()), port: ap.Port()}, nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return addrMatch{set: true, prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return addrMatch{set: true, prefix: p.Masked()}, nil
	}
	return addrMatch{}, fmt.Errorf("want ADDR, ADDR:PORT or PREFIX (e.g. 198.18.0.100, 198.18.0.100:80, 198.18.2.0/24), got %q", v)
}

func (m addrMatch) match(ap netip.AddrPort) bool {
	if !m.set {
		return true
	}
	return m.prefix.Contains(ap.Addr()) && (m.port == 0 || m.port == ap.Port())
}

type addrMatchFlag struct{ m *addrMatch }

func (f addrMatchFlag) String() string {
	if f.m == nil || !f.m.set {
		return ""
	}
	return f.m.prefix.String()
}

func (f addrMatchFlag) Set(v string) error {
	m, err := parseAddrMatch(v)
	if err != nil {
		return err
	}
	*f.m = m
	return nil
}

var connsOpts struct {
	vip, real, client addrMatch
	count             bool
	tcpFin, tcp, udp  time.Duration
}

var connsCmd = &command{
	name:    "conns",
	args:    "[--vip ADDR[:PORT]] [--real ADDR[:PORT]] [--client ADDR|PREFIX] [--count]",
	summary: "list connection table entries as ipvsadm -Lnc does (protocol, expires in, state, client, VIP, real); streams, so it is fast on a full table",
	examples: []string{
		"xlb conns",
		"xlb conns --vip 198.18.0.100:80 --real 198.18.1.2",
		"xlb conns --client 198.18.2.0/24 --count",
	},
	flags: func(fs *flag.FlagSet) {
		connsOpts.vip, connsOpts.real, connsOpts.client = addrMatch{}, addrMatch{}, addrMatch{}
		fs.Var(addrMatchFlag{&connsOpts.vip}, "vip", "only connections to this virtual `ADDR[:PORT]`")
		fs.Var(addrMatchFlag{&connsOpts.real}, "real", "only connections scheduled to this real `ADDR[:PORT]`")
		fs.Var(addrMatchFlag{&connsOpts.client}, "client", "only connections from this client `ADDR[:PORT]|PREFIX`")
		fs.BoolVar(&connsOpts.count, "count", false, "print only the number of matching connections")
		d := control.DefaultTimeouts()
		fs.DurationVar(&connsOpts.tcp, "timeout-tcp", d.TCP, "established TCP timeout the daemon runs with (lvs_timeouts tcp), for the expire column")
		fs.DurationVar(&connsOpts.tcpFin, "timeout-tcpfin", d.TCPFin, "TCP FIN_WAIT timeout (lvs_timeouts tcpfin), for the expire column")
		fs.DurationVar(&connsOpts.udp, "timeout-udp", d.UDP, "UDP timeout (lvs_timeouts udp), for the expire column")
	},
	run: runConns,
}

func runConns(e *env, _ *flag.FlagSet, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	o := connsOpts
	dp, err := e.open(e.bpffs)
	if err != nil {
		return err
	}
	defer dp.Close()
	reals, err := dp.Reals()
	if err != nil {
		return err
	}
	timeouts := control.Timeouts{TCP: o.tcp, TCPFin: o.tcpFin, UDP: o.udp}
	n, err := writeConns(e.stdout, dp, reals, timeouts, o.vip, o.real, o.client, o.count)
	if err != nil {
		return err
	}
	if o.count {
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

// writeConns streams the forward entries of the connection table that
// match to w, one line each (none when countOnly), and returns how many
// matched. Memory stays bounded: entries are read in batches and written
// as they come, unsorted.
func writeConns(w io.Writer, dp dataplane, reals map[uint32]loader.Real, t control.Timeouts, vip, real, client addrMatch, countOnly bool) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if !countOnly {
		fmt.Fprintln(bw, "IPVS connection entries")
		fmt.Fprintf(bw, "%-3s %-6s %-11s %-22s %-22s %s\n", "pro", "expire", "state", "source", "virtual", "destination")
	}
	matched := 0
	var werr error
	_, _, err := dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Reply || werr != nil {
			return false // a NAT reply entry mirrors its forward entry
		}
		rl, known := reals[f.RealID]
		dst := netip.AddrPortFrom(rl.Addr, rl.Port)
		if !client.match(f.Src) || !vip.match(f.Dst) || real.set && (!known || !real.match(dst)) {
			return false
		}
		matched++
		if countOnly {
			return false
		}
		dest := dst.String()
		if !known {
			dest = fmt.Sprintf("real#%d(gone)", f.RealID)
		}
		_, werr = fmt.Fprintf(bw, "%-3s %-6s %-11s %-22s %-22s %s\n", f.Proto, expireIn(t.Of(f.State)-f.SinceLastPacket()), f.State, f.Src, f.Dst, dest)
		return false
	})
	if err != nil {
		return matched, err
	}
	if werr != nil {
		return matched, fmt.Errorf("write connections: %w", werr)
	}
	return matched, bw.Flush()
}

// expireIn formats the time left as ipvsadm -Lnc does: MM:SS.
func expireIn(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}
