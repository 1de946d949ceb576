package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	for _, tc := range []struct {
		desc string
		in   string
		want []GoBench
	}{
		{
			desc: "custom metrics and the GOMAXPROCS suffix",
			in: "goos: linux\n" +
				"BenchmarkXDP/floor_MAC_swap-2         \t  100000\t      1205 ns/op\t         0 above-floor-ns\t        70.00 median-ns\n" +
				"BenchmarkXDP/new_flow_DR_rr,_1M_flows-2            \t  100000\t      2370 ns/op\t       761.0 above-floor-ns\n" +
				"PASS\n",
			want: []GoBench{
				{Name: "BenchmarkXDP/floor_MAC_swap", N: 100000, Metrics: map[string]float64{"ns/op": 1205, "above-floor-ns": 0, "median-ns": 70}},
				{Name: "BenchmarkXDP/new_flow_DR_rr,_1M_flows", N: 100000, Metrics: map[string]float64{"ns/op": 2370, "above-floor-ns": 761}},
			},
		},
		{
			desc: "a name without a suffix, log lines skipped",
			in: "BenchmarkMonitorTCP10k\t       1\t 9990 checks/s\n" +
				"BenchmarkMonitorTCP10k some log line\n" +
				"--- FAIL: BenchmarkXDP\n",
			want: []GoBench{{Name: "BenchmarkMonitorTCP10k", N: 1, Metrics: map[string]float64{"checks/s": 9990}}},
		},
		{
			desc: "sub-benchmark with = and / in its name",
			in:   "BenchmarkVRRPFailoverGap/advert_int=0.1/stop-2 \t 1\t 0 ns/op\t 312.5 xlbd-ms\n",
			want: []GoBench{{Name: "BenchmarkVRRPFailoverGap/advert_int=0.1/stop", N: 1, Metrics: map[string]float64{"ns/op": 0, "xlbd-ms": 312.5}}},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseGoBench(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("parseGoBench: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseGoBench:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseGoBenchMalformed(t *testing.T) {
	if _, err := parseGoBench(strings.NewReader("BenchmarkX-2\t10\t12 ns/op\tgarbage\n")); err == nil {
		t.Error("parseGoBench accepted a field that is not \"value unit\"")
	}
}
