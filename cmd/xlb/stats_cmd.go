package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xlbproject/xlb/loader"
)

var statsOpts struct {
	rate     bool
	interval time.Duration
	ifaces   interfaceList
	output   string
}

// interfaceList is the --interface flag: repeatable, each a name or a
// comma-separated list of names.
type interfaceList []string

func (l *interfaceList) String() string { return strings.Join(*l, ",") }

func (l *interfaceList) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return fmt.Errorf("empty interface name in %q", s)
		}
		if !slices.Contains(*l, name) {
			*l = append(*l, name)
		}
	}
	return nil
}

var statsCmd = &command{
	name:    "stats",
	args:    "[--rate [--interval D]] [--interface IF[,IF...]] [-o table|json]",
	summary: "show every pass and drop reason counter of the data plane (why a packet was not forwarded), in total and per interface",
	examples: []string{
		"xlb stats",
		"xlb stats --rate --interval 5s   # packets and bytes per second over 5 s",
		"xlb stats --interface eth0       # the totals, then eth0's counters only",
		"xlb stats -o json | jq '.interfaces[] | {interface, reasons: [.reasons[] | select(.packets > 0)]}'",
	},
	flags: func(fs *flag.FlagSet) {
		statsOpts.ifaces = nil
		fs.BoolVar(&statsOpts.rate, "rate", false, "show per-second rates sampled over --interval instead of counters, in both tables")
		fs.DurationVar(&statsOpts.interval, "interval", time.Second, "sampling `interval` of --rate")
		fs.Var(&statsOpts.ifaces, "interface", "per-interface counters of `IF` only (repeatable, or a comma-separated list; (other) names devices without counters of their own)")
		fs.StringVar(&statsOpts.output, "o", "table", "output `format`: table or json (schema in docs/cli.md)")
	},
	run: runStats,
}

// reasonsByIf is the data plane's reason counters by interface name.
type reasonsByIf = map[string]map[loader.Reason]loader.Counters

func runStats(e *env, _ *flag.FlagSet, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	o := statsOpts
	if o.rate && (o.interval < 10*time.Millisecond || o.interval > time.Hour) {
		return usageErr("--interval %s: want between 10ms and 1h", o.interval)
	}
	if o.output != "table" && o.output != "json" {
		return usageErr("-o %q: want table or json", o.output)
	}
	dp, err := e.open(e.bpffs)
	if err != nil {
		return err
	}
	defer dp.Close()
	first, err := dp.ReasonStatsByInterface()
	if err != nil {
		return err
	}
	ifaces, err := selectInterfaces(first, o.ifaces)
	if err != nil {
		return err
	}
	s := statsSnapshot{now: first, ifaces: ifaces, named: len(o.ifaces) > 0}
	if o.rate {
		start := e.now()
		e.sleep(o.interval)
		if s.now, err = dp.ReasonStatsByInterface(); err != nil {
			return err
		}
		s.before, s.interval = first, e.now().Sub(start)
		if !s.named { // and those attached meanwhile
			s.ifaces, _ = selectInterfaces(s.now, nil)
		}
	}
	if o.output == "json" {
		return writeStatsJSON(e.stdout, s)
	}
	return writeStats(e.stdout, s)
}

// selectInterfaces lists the interfaces to show, in name order with
// loader.OtherInterfaces last: every one the data plane has counters for,
// or those named with --interface, each of which must be known.
func selectInterfaces(counts reasonsByIf, named []string) ([]string, error) {
	var known []string
	for name := range counts {
		known = append(known, name)
	}
	slices.SortFunc(known, compareInterfaces)
	if len(named) == 0 {
		return known, nil
	}
	for _, name := range named {
		if _, ok := counts[name]; !ok {
			return nil, fmt.Errorf("no reason counters for interface %q (xlbd was never attached to it); known: %s", name, strings.Join(known, ", "))
		}
	}
	sel := slices.Clone(named)
	slices.SortFunc(sel, compareInterfaces)
	return sel, nil
}

// compareInterfaces orders interface names by name, loader.OtherInterfaces
// last.
func compareInterfaces(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == loader.OtherInterfaces:
		return 1
	case b == loader.OtherInterfaces:
		return -1
	}
	return strings.Compare(a, b)
}

// statsSnapshot is what xlb stats prints: the counters of every interface
// (now), the ones shown per interface (ifaces; named when --interface chose
// them), and with --rate the earlier sample and the time between the two.
type statsSnapshot struct {
	now, before reasonsByIf
	ifaces      []string
	named       bool
	interval    time.Duration
}

// rates is the counters' per-second rates from before to now over d.
func rates(before, now loader.Counters, d time.Duration) (pps, bps float64) {
	return perSecond(before.Packets, now.Packets, d), perSecond(before.Bytes, now.Bytes, d)
}

// writeStats prints the totals, one line per reason, then the interfaces'
// non-zero counters, one line per interface and reason (an interface with
// none gets one line with reason "-"; (other) only when asked for). With
// --rate both show rates per second instead.
func writeStats(w io.Writer, s statsSnapshot) error {
	withRate := s.before != nil
	valueCols := "Packets\tBytes"
	reasonCol := "Reason"
	if withRate {
		valueCols = "PPS\tBPS"
		reasonCol = fmt.Sprintf("Reason (per second over %s)", s.interval.Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", reasonCol, valueCols)
	now, before := loader.SumInterfaces(s.now), loader.SumInterfaces(s.before)
	for _, r := range loader.Reasons() {
		if withRate {
			pps, bps := rates(before[r], now[r], s.interval)
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\n", r, pps, bps)
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", r, now[r].Packets, now[r].Bytes)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Interface\t%s\t%s\n", reasonCol, valueCols)
	for _, name := range s.ifaces {
		rows := 0
		for _, r := range loader.Reasons() {
			c := s.now[name][r]
			if withRate {
				b := s.before[name][r]
				if c == b {
					continue
				}
				pps, bps := rates(b, c, s.interval)
				fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\n", name, r, pps, bps)
			} else {
				if c == (loader.Counters{}) {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", name, r, c.Packets, c.Bytes)
			}
			rows++
		}
		if rows == 0 && (name != loader.OtherInterfaces || s.named) {
			fmt.Fprintf(tw, "%s\t-\t0\t0\n", name)
		}
	}
	return tw.Flush()
}

// The -o json document of `xlb stats`: schema 1, documented in
// docs/cli.md. Fields are only ever added; a change of meaning gets a new
// schema number.
type jsonStatsDoc struct {
	Schema int `json:"schema"`
	// RateInterval is the sampling interval in seconds of --rate.
	RateInterval *float64 `json:"rate_interval_seconds,omitempty"`
	// Reasons are the totals over every interface, every reason.
	Reasons    []jsonReason    `json:"reasons"`
	Interfaces []jsonInterface `json:"interfaces"`
}

type jsonReason struct {
	Reason  string          `json:"reason"`
	Packets uint64          `json:"packets"`
	Bytes   uint64          `json:"bytes"`
	Rate    *jsonReasonRate `json:"rate,omitempty"`
}

type jsonReasonRate struct {
	PPS float64 `json:"pps"`
	BPS float64 `json:"bps"`
}

type jsonInterface struct {
	Interface string       `json:"interface"`
	Reasons   []jsonReason `json:"reasons"`
}

// jsonReasons lists every reason's counters, with rates when before is
// not nil.
func jsonReasons(now, before map[loader.Reason]loader.Counters, d time.Duration) []jsonReason {
	out := []jsonReason{}
	for _, r := range loader.Reasons() {
		jr := jsonReason{Reason: r.String(), Packets: now[r].Packets, Bytes: now[r].Bytes}
		if before != nil {
			pps, bps := rates(before[r], now[r], d)
			jr.Rate = &jsonReasonRate{PPS: pps, BPS: bps}
		}
		out = append(out, jr)
	}
	return out
}

// writeStatsJSON prints s as the schema 1 document.
func writeStatsJSON(w io.Writer, s statsSnapshot) error {
	doc := jsonStatsDoc{Schema: 1, Interfaces: []jsonInterface{}}
	var before map[loader.Reason]loader.Counters
	if s.before != nil {
		sec := s.interval.Seconds()
		doc.RateInterval = &sec
		before = loader.SumInterfaces(s.before)
	}
	doc.Reasons = jsonReasons(loader.SumInterfaces(s.now), before, s.interval)
	for _, name := range s.ifaces {
		var b map[loader.Reason]loader.Counters
		if s.before != nil {
			b = s.before[name]
			if b == nil {
				b = map[loader.Reason]loader.Counters{} // attached during the interval
			}
		}
		doc.Interfaces = append(doc.Interfaces, jsonInterface{Interface: name, Reasons: jsonReasons(s.now[name], b, s.interval)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func perSecond(a, b uint64, d time.Duration) float64 {
	if b < a || d <= 0 {
		return 0
	}
	return float64(b-a) / d.Seconds()
}
