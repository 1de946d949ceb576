package main

import (
	"strings"
	"testing"
)

func sampleResults() *Results {
	return &Results{
		Date: "2026-11-22T00:00:00Z", Calls: 1000,
		Program: []GoBench{
			{Name: "BenchmarkXDP/floor_MAC_swap", N: 1000, Metrics: map[string]float64{"median-ns": 70, "above-floor-ns": 0}},
			{Name: "BenchmarkXDP/non-VIP_pass", N: 1000, Metrics: map[string]float64{"median-ns": 80, "above-floor-ns": 10, "floor-ns": 70}},
			{Name: "BenchmarkXDP/DR_established", N: 1000, Metrics: map[string]float64{"median-ns": 120, "above-floor-ns": 50, "floor-ns": 70}},
			{Name: "BenchmarkXDP/new_flow_DR_rr,_empty_table", N: 1000, Metrics: map[string]float64{"median-ns": 500, "above-floor-ns": 430, "floor-ns": 70}},
			{Name: "BenchmarkXDP/new_flow_DR_rr,_1M_flows", N: 1000, Metrics: map[string]float64{"median-ns": 700, "above-floor-ns": 630, "floor-ns": 70}},
			{Name: "BenchmarkXDP/table_only,_empty_table", N: 1000, Metrics: map[string]float64{"median-ns": 430, "above-floor-ns": 360, "floor-ns": 70}},
			{Name: "BenchmarkXDP/table_only,_1M_flows", N: 1000, Metrics: map[string]float64{"median-ns": 630, "above-floor-ns": 560, "floor-ns": 70}},
			{Name: "BenchmarkXDP/bucket_only,_1M_flows", N: 1000, Metrics: map[string]float64{"median-ns": 220, "above-floor-ns": 150, "floor-ns": 70, "table-bytes": 64 << 20}},
		},
		E2E: &E2EResults{Rounds: 1, Flows: 4096,
			PPS: []PPSCase{
				{Setup: "generator", PPS: 2000, RoundsPPS: []float64{2000, 2000, 2000}},
				{Setup: "xdp-floor", PPS: 1000, CPUNsPerPacket: 400, RoundsPPS: []float64{1000, 500, 1100}},
				{Setup: "xlb-dr", PPS: 960, CPUNsPerPacket: 450, RoundsPPS: []float64{960, 480, 1056}},
				{Setup: "xlb-nat", PPS: 800, RoundsPPS: []float64{800, 400, 880}},
				{Setup: "xlb-dr-4-flows", PPS: 990, RoundsPPS: []float64{990, 495, 1089}},
				{Setup: "nftables-dnat", Error: "nothing delivered"},
			},
			Conns: []ConnCase{{Setup: "direct", PerSec: 290, Requests: 870, CPUUsPerConn: 120, RoundsPerSec: []float64{290, 190, 320}},
				{Setup: "xlb-nat", PerSec: 300, Requests: 900, CPUUsPerConn: 118, ClientUsPerConn: 60, ServersUsPerConn: 55, SoftirqUsPerConn: 58, BalancerUsPerConn: 0.61, RoundsPerSec: []float64{300, 200, 330}},
				{Setup: "haproxy", PerSec: 100, Requests: 300, CPUUsPerConn: 210, BalancerUsPerConn: 85, RoundsPerSec: []float64{100, 100, 100}}},
		},
		Control: &ControlResults{Services: 1000, RealsPerService: 64, ApplyMs: 500,
			Touched: Touched{Services: []string{"TCP 198.18.12.1:80"}, Reals: []uint32{7}, OnlyChanged: true}},
		Sweep: []GoBench{{Name: "BenchmarkSweep/1M_DR_flows", N: 3, Metrics: map[string]float64{"entries": 1e6, "cpu-ms/sweep": 660, "wall-ms/sweep": 600, "cpu-%": 11}}},
	}
}

func TestTargets(t *testing.T) {
	r := sampleResults()
	got := make(map[string]string)
	for _, tg := range targets(r) {
		met := "unmeasured"
		if tg.Met != nil {
			met = map[bool]string{true: "met", false: "unmet"}[*tg.Met]
		}
		got[tg.Name] = met
	}
	for _, tc := range []struct{ name, want string }{
		{"non-VIP above floor", "met"},                // 10 <= 15
		{"DR established above floor", "unmet"},       // 50 > 40
		{"NAT reply above floor", "unmeasured"},       // no such case
		{"xlb DR pps vs floor", "met"},                // 96% >= 95%
		{"xlb NAT pps vs floor", "unmet"},             // 80% < 90%
		{"xlb DR pps vs nftables DNAT", "unmeasured"}, // nftables failed
		{"TCP conn/s vs HAProxy", "met"},              // 3x >= 2x
		{"TCP conn/s vs nftables DNAT", "unmeasured"}, // not run
		{"apply 1000x64", "met"},                      // 500 ms
		{"one-real change touches only its service", "met"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got[tc.name] != tc.want {
				t.Errorf("target %q: got %q, want %q", tc.name, got[tc.name], tc.want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	r := sampleResults()
	r.Targets = targets(r)
	doc := report(r)
	for _, want := range []string{
		"| DR established above floor | median <= 40 ns | 50 ns (median 120, floor 70) | **no** |",
		"| nftables-dnat | failed: nothing delivered |",
		"| new flow, 1M flows, above floor | median <= 250 ns | 630 ns (median 700, floor 70; table only, 1M flows: 560 ns; bucket only, 1M flows: 150 ns) | **no** |",
		"Of xlb's 630 ns with 1M flows, 560 are the kernel's table and 70 xlb's own work",
		"the \"bucket only\" case, 150 ns: one 128-byte bucket read and written in 64 MiB of buckets",
		"With xlb's own work on top, 220 ns is the least a new flow could cost",
		"| xlb-dr | 960 | 0.96 |",
		"only that service's entries: true",
		"| 1M DR flows | 1000000 | 660 | 600 | 11.0% |",
		"450 CPU ns with xlb DR and 400 with the floor, 50 more; 95% of the floor's rate leaves room for 21 more.",
		"with 4096 flows those lines do not all stay in the CPU's nearest caches between a flow's packets. " +
			"With 4 flows, whose state stays there, xlb DR ran at 99.0% of the floor, against 96.0% with 4096: 3.0 points of the floor's rate go to reaching the state of 4096 flows, " +
			"which a balancer that keeps state per flow reads for each packet and the floor does not, and 1.0 to the program's own work.",
		"| xlb-dr-4-flows | 990 | 0.99 |  |",
		"| xlb-nat | 300 |  | 3.00 | 118 | 60 | 55 | 58 | 0.61 | 900 |",
		"| direct | 290 |  | 2.90 | 120 | 0 | 0 | 0 |  | 870 |",
		"Of xlb's 118 µs, all but its program's 0.61 are wrk (60), the servers (55) and every host's TCP",
		"120 CPU µs with `direct`, 118 with xlb NAT, of which its program 0.61, and 210 with HAProxy, of which its process 85.",
		"(HAProxy's over xlb NAT's: 1.78x)",
		"so xlb's ratio to HAProxy cannot exceed 1.79x here, and 2x needs HAProxy to cost the machine 235 µs per connection, not 210.",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	// Parts that were not run are left out, not rendered empty.
	if doc := report(&Results{}); strings.Contains(doc, "## End to end") || strings.Contains(doc, "## Control plane") || strings.Contains(doc, "## Connection table sweep") {
		t.Errorf("report of an empty run has sections:\n%s", doc)
	}
}

// TestReportNftablesReach: the report says what share of the floor's rate
// the nftables target takes, or that the floor itself falls short of it.
func TestReportNftablesReach(t *testing.T) {
	for _, tc := range []struct {
		nft  []float64
		want string
	}{
		{[]float64{250, 125, 275}, "3.5x takes 87.5% of the floor's rate"},
		{[]float64{300, 150, 330}, "so 3.5x was out of reach in this run"},
	} {
		r := sampleResults()
		for i, c := range r.E2E.PPS {
			if c.Setup == "nftables-dnat" {
				r.E2E.PPS[i] = PPSCase{Setup: c.Setup, PPS: tc.nft[0], RoundsPPS: tc.nft}
			}
		}
		if doc := report(r); !strings.Contains(doc, tc.want) {
			t.Errorf("nftables at %v pps: report lacks %q", tc.nft, tc.want)
		}
	}
}

// TestReportFlowState: the note splits xlb DR's gap to the floor only when
// the setup with few flows ran faster than xlb DR, and says nothing of it
// when the generator's flows were no more than few.
func TestReportFlowState(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		few     []float64 // xlb-dr-4-flows' rounds; the floor's are 1000, 500, 1100
		flows   int
		want    string
		wantNot string
	}{
		{"few flows no faster", []float64{950, 470, 1050}, 4096,
			"With 4 flows xlb DR ran at 95.0% of the floor, no faster than with 4096: in this run the rounds' spread hides", "points of the floor's rate"},
		{"few flows at the floor's rate", []float64{1000, 500, 1100}, 4096,
			"4.0 points of the floor's rate go to reaching the state of 4096 flows, which a balancer that keeps state per flow reads for each packet and the floor does not, and none to the program's own work beyond the rounds' spread.", "to the program's own work."},
		{"generator with few flows itself", []float64{990, 495, 1089}, 4,
			"", "The floor keeps no state"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := sampleResults()
			r.E2E.Flows = tc.flows
			for i, c := range r.E2E.PPS {
				if c.Setup == fewFlowsSetup {
					r.E2E.PPS[i] = PPSCase{Setup: c.Setup, PPS: tc.few[0], RoundsPPS: tc.few}
				}
			}
			doc := report(r)
			if !strings.Contains(doc, tc.want) {
				t.Errorf("report lacks %q", tc.want)
			}
			if strings.Contains(doc, tc.wantNot) {
				t.Errorf("report has %q", tc.wantNot)
			}
		})
	}
}
