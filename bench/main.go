package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// options are the command line's.
type options struct {
	doc, json string
	calls     int
	flows     int
	only      string
}

// want: is part among those -only names (every part when it names none)?
func (o options) want(part string) bool {
	if o.only == "" {
		return true
	}
	for _, p := range strings.Split(o.only, ",") {
		if p == part {
			return true
		}
	}
	return false
}

// defaultGenFlows is how many source ports, so flows, the end-to-end
// generator cycles through unless -flows says otherwise: more than the
// CPU's caches keep the state of while the packets pass, as on a busy
// director.
const defaultGenFlows = 4096

// fewFlows is the flows of fewFlowsSetup, xlb DR measured beside the
// floor: few enough that their state stays in the CPU's nearest caches,
// so that what is left between it and the floor is the program's own work.
const fewFlows = 4

var fewFlowsSetup = fmt.Sprintf("xlb-dr-%d-flows", fewFlows)

// checkGenFlows returns an error unless flows is a power of two from 1 to
// 32768: the generator masks a random number to pick among flows source
// ports from 1024 up, which must stay below 65536.
func checkGenFlows(flows int) error {
	if flows < 1 || flows > 32768 || flows&(flows-1) != 0 {
		return fmt.Errorf("%d flows: want a power of two from 1 to 32768", flows)
	}
	return nil
}

func main() {
	var o options
	flag.StringVar(&o.doc, "doc", "docs/PERFORMANCE.md", "write the report here")
	flag.StringVar(&o.json, "json", "bench/results.json", "write the machine-readable results here")
	flag.IntVar(&o.calls, "calls", 1000000, "BPF_PROG_TEST_RUN calls per per-packet case")
	flag.StringVar(&o.only, "only", "", "run only these parts, comma-separated: program,e2e,control,health,vrrp (default all)")
	flag.IntVar(&o.flows, "flows", defaultGenFlows, "flows (source ports) of the end-to-end packet generator: a power of two, 1 to 32768")
	renderOnly := flag.Bool("render", false, "only rewrite -doc from the results in -json (no measuring)")
	flag.Parse()
	if err := checkGenFlows(o.flows); err != nil {
		logf("-flows: %v", err)
		os.Exit(2)
	}
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
