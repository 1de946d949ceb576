package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/xlbproject/xlb/loader"
)

var statsOpts struct {
	rate     bool
	interval time.Duration
}

var statsCmd = &command{
	name:    "stats",
	args:    "[--rate [--interval D]]",
	summary: "show every pass and drop reason counter of the data plane (why a packet was not forwarded)",
	examples: []string{
		"xlb stats",
		"xlb stats --rate --interval 5s   # packets and bytes per second over 5 s",
	},
	flags: func(fs *flag.FlagSet) {
		fs.BoolVar(&statsOpts.rate, "rate", false, "show per-second rates sampled over --interval instead of totals")
		fs.DurationVar(&statsOpts.interval, "interval", time.Second, "sampling `interval` of --rate")
	},
	run: runStats,
}

func runStats(e *env, _ *flag.FlagSet, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	o := statsOpts
	if o.rate && (o.interval < 10*time.Millisecond || o.interval > time.Hour) {
		return usageErr("--interval %s: want between 10ms and 1h", o.interval)
	}
	dp, err := e.open(e.bpffs)
	if err != nil {
		return err
	}
	defer dp.Close()
	counts, err := dp.ReasonStats()
	if err != nil {
		return err
	}
	if !o.rate {
		return writeStats(e.stdout, counts, nil, 0)
	}
	start := e.now()
	e.sleep(o.interval)
	now, err := dp.ReasonStats()
	if err != nil {
		return err
	}
	return writeStats(e.stdout, now, counts, e.now().Sub(start))
}

// writeStats prints every reason's counters; with before, the rates per
// second over d instead.
func writeStats(w io.Writer, now, before map[loader.Reason]loader.Counters, d time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if before == nil {
		fmt.Fprintln(tw, "Reason\tPackets\tBytes")
	} else {
		fmt.Fprintf(tw, "Reason (per second over %s)\tPPS\tBPS\n", d.Round(time.Millisecond))
	}
	for _, r := range loader.Reasons() {
		c := now[r]
		if before == nil {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", r, c.Packets, c.Bytes)
			continue
		}
		b := before[r]
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\n", r, perSecond(b.Packets, c.Packets, d), perSecond(b.Bytes, c.Bytes, d))
	}
	return tw.Flush()
}

func perSecond(a, b uint64, d time.Duration) float64 {
	if b < a || d <= 0 {
		return 0
	}
	return float64(b-a) / d.Seconds()
}
