package main

import (
	"flag"
	"fmt"
	"net/netip"
	"time"

	"github.com/xlbproject/xlb/loader"
)

// serviceFlag is -t or -u VIP:PORT.
type serviceFlag struct {
	f     *serviceFilter
	proto loader.Protocol
}

func (s serviceFlag) String() string {
	if s.f == nil || !s.f.set || s.f.ep.Proto != s.proto {
		return ""
	}
	return netip.AddrPortFrom(s.f.ep.Addr, s.f.ep.Port).String()
}

func (s serviceFlag) Set(v string) error {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return fmt.Errorf("want VIP:PORT (e.g. 198.18.0.100:80 or [2001:db8::1]:80), got %q", v)
	}
	*s.f = serviceFilter{set: true, ep: loader.Endpoint{Addr: ap.Addr(), Port: ap.Port(), Proto: s.proto}}
	return nil
}

var listOpts struct {
	stats, rate bool
	interval    time.Duration
	sort        string
	output      string
	filter      serviceFilter
}

var listCmd = &command{
	name:    "list",
	args:    "[--stats | --rate [--interval D]] [--sort KEY] [-t|-u VIP:PORT] [-o table|json]",
	summary: "list virtual servers and their reals as ipvsadm -Ln does, read from the pinned maps (works while xlbd is stopped)",
	examples: []string{
		"xlb list                          # Weight ActiveConn InActConn, then the totals",
		"xlb list --stats                  # ipvsadm -Ln --stats: Conns InPkts OutPkts InBytes OutBytes",
		"xlb list --rate --interval 2s     # ipvsadm -Ln --rate: per second over 2 s",
		"xlb list -t 198.18.0.100:80 --sort active",
		"xlb list -o json | jq '.services[].reals[] | {address, active_conns}'",
	},
	flags: func(fs *flag.FlagSet) {
		listOpts.filter = serviceFilter{}
		fs.BoolVar(&listOpts.stats, "stats", false, "show the counters: Conns InPkts OutPkts InBytes OutBytes (as ipvsadm --stats)")
		fs.BoolVar(&listOpts.rate, "rate", false, "show rates: CPS InPPS OutPPS InBPS OutBPS, sampled over --interval (as ipvsadm --rate)")
		fs.DurationVar(&listOpts.interval, "interval", time.Second, "sampling `interval` of --rate")
		fs.StringVar(&listOpts.sort, "sort", "addr", "order reals by `KEY`, largest first: "+sortKeyNames())
		fs.StringVar(&listOpts.output, "o", "table", "output `format`: table or json (schema in docs/cli.md)")
		fs.Var(serviceFlag{&listOpts.filter, loader.ProtoTCP}, "t", "only the TCP virtual service `VIP:PORT`")
		fs.Var(serviceFlag{&listOpts.filter, loader.ProtoUDP}, "u", "only the UDP virtual service `VIP:PORT`")
	},
	run: runList,
}

func runList(e *env, _ *flag.FlagSet, args []string) error {
	o := listOpts
	if err := noArgs(args); err != nil {
		return err
	}
	if o.stats && o.rate {
		return usageErr("--stats and --rate exclude each other")
	}
	if o.output != "table" && o.output != "json" {
		return usageErr("-o %q: want table or json", o.output)
	}
	if o.rate && (o.interval < 10*time.Millisecond || o.interval > time.Hour) {
		return usageErr("--interval %s: want between 10ms and 1h", o.interval)
	}
	if _, ok := sortKeys[o.sort]; !ok && o.sort != "addr" {
		return usageErr("unknown --sort key %q: use one of %s", o.sort, sortKeyNames())
	}
	dp, err := e.open(e.bpffs)
	if err != nil {
		return err
	}
	defer dp.Close()
	rows, err := snapshot(dp, o.filter)
	if err != nil {
		return err
	}
	var interval time.Duration
	if o.rate {
		start := e.now()
		e.sleep(o.interval)
		now, err := snapshot(dp, o.filter)
		if err != nil {
			return err
		}
		interval = e.now().Sub(start)
		withRates(rows, now, interval)
		rows = now
	}
	if err := sortReals(rows, o.sort); err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(e.stdout, rows, interval)
	}
	mode := modeConns
	switch {
	case o.stats:
		mode = modeStats
	case o.rate:
		mode = modeRate
	}
	return writeTable(e.stdout, rows, mode, e.bpffs)
}
