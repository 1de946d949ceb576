package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// run measures every part and writes the results; a part that fails is
// recorded in Errors and the others still run.
func run(o options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("bench needs root: it loads BPF programs and builds network namespaces")
	}
	sweepStalePins()
	ctx := context.Background()
	res := &Results{Date: time.Now().UTC().Format(time.RFC3339), Machine: machineFacts(), Calls: o.calls}
	fail := func(part string, err error) {
		logf("%s: %v", part, err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", part, err))
	}
	if o.want("program") {
		calls := fmt.Sprintf("%dx", o.calls)
		b, err := runGoBench(ctx, "./loader/", "^BenchmarkXDP$", 20*time.Minute, "-benchtime", calls, "-count", "1")
		res.Program = append(res.Program, b...)
		if err != nil {
			fail("program", err)
		}
		b, err = runGoBench(ctx, "./loader/", "^BenchmarkXDPProgramSize$", 5*time.Minute, "-benchtime", "1x")
		res.ProgramSize = b
		if err != nil {
			fail("program size", err)
		}
		b, err = runGoBench(ctx, "./loader/", "^BenchmarkXDPScheduler$", 30*time.Minute, "-benchtime", calls, "-count", "1")
		res.Program = append(res.Program, b...)
		if err != nil {
			fail("program schedulers", err)
		}
	}
	if o.want("e2e") {
		e, err := benchE2E(ctx, o.flows)
		res.E2E = e
		if err != nil {
			fail("end to end", err)
		}
		if e != nil {
			for _, c := range e.PPS {
				if c.Error != "" {
					fail("end to end "+c.Setup, fmt.Errorf("%s", c.Error))
				}
			}
			for _, c := range e.Conns {
				if c.Requests == 0 {
					fail("end to end TCP "+c.Setup, fmt.Errorf("%s", c.Errors))
				}
			}
		}
	}
	if o.want("control") {
		c, err := benchControl()
		res.Control = &c
		if err != nil {
			fail("control", err)
		}
		b, err := runGoBench(ctx, "./loader/", "^BenchmarkSweep$", 10*time.Minute, "-benchtime", "3x")
		res.Sweep = b
		if err != nil {
			fail("sweep", err)
		}
	}
	if o.want("health") {
		b, err := runGoBench(ctx, "./health/", "^BenchmarkMonitor(TCP10k|TCPSaturated|HTTP10k|HTTP10kRemote)$", 10*time.Minute, "-benchtime", "20000x", "-cpu", "1")
		res.Health = b
		if err != nil {
			fail("health", err)
		}
	}
	if o.want("vrrp") {
		b, err := runGoBench(ctx, "./cmd/xlbd/", "^BenchmarkVRRPFailoverGap$", 15*time.Minute, "-benchtime", "1x")
		res.VRRP = b
		if err != nil {
			fail("vrrp", err)
		}
	}
	res.Targets = targets(res)
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(o.json, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(o.doc, []byte(report(res)), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	logf("wrote %s and %s", o.doc, o.json)
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d parts failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}
