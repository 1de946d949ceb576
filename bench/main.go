package main

import (
	"flag"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.doc, "doc", "docs/PERFORMANCE.md", "write the report here")
	flag.StringVar(&o.json, "json", "bench/results.json", "write the machine-readable results here")
	flag.IntVar(&o.calls, "calls", 1000000, "BPF_PROG_TEST_RUN calls per per-packet case")
	flag.StringVar(&o.only, "only", "", "run only these parts, comma-separated: program,e2e,control,health,vrrp (default all)")
	renderOnly := flag.Bool("render", false, "only rewrite -doc from the results in -json (no measuring)")
	flag.Parse()
	if *renderOnly {
		if err := render(o.json, o.doc); err != nil {
			logf("%v", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}
