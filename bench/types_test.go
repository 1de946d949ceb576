package main

import (
	"reflect"
	"testing"
)

func TestMedianCases(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		rounds [][]PPSCase
		want   []PPSCase
	}{
		{
			desc: "median round per setup, order of first appearance",
			rounds: [][]PPSCase{
				{{Setup: "floor", PPS: 300, Sent: 1}, {Setup: "xlb", PPS: 10}},
				{{Setup: "floor", PPS: 100, Sent: 2}, {Setup: "xlb", PPS: 30}},
				{{Setup: "floor", PPS: 200, Sent: 3}, {Setup: "xlb", PPS: 20}},
			},
			want: []PPSCase{
				{Setup: "floor", PPS: 200, Sent: 3, RoundsPPS: []float64{300, 100, 200}},
				{Setup: "xlb", PPS: 20, RoundsPPS: []float64{10, 30, 20}},
			},
		},
		{
			desc: "a failed round reports the failure",
			rounds: [][]PPSCase{
				{{Setup: "nft", PPS: 5}},
				{{Setup: "nft", Error: "nothing delivered"}},
			},
			want: []PPSCase{{Setup: "nft", Error: "nothing delivered"}},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := medianCases(tc.rounds); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("medianCases:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPPSRatio(t *testing.T) {
	e := &E2EResults{PPS: []PPSCase{
		// The machine was slow in round 2: both setups dropped.
		{Setup: "floor", PPS: 200, RoundsPPS: []float64{200, 100, 210}},
		{Setup: "xlb", PPS: 190, RoundsPPS: []float64{190, 95, 210}},
		{Setup: "short", PPS: 5, RoundsPPS: []float64{5}},
		{Setup: "failed", Error: "nothing delivered"},
	}}
	for _, tc := range []struct {
		setup, of string
		want      float64
	}{
		{"xlb", "floor", 0.95},
		{"floor", "floor", 1},
		{"short", "floor", 0},
		{"failed", "floor", 0},
		{"xlb", "absent", 0},
	} {
		if got := e.ppsRatio(tc.setup, tc.of); got != tc.want {
			t.Errorf("ppsRatio(%s, %s) = %v, want %v", tc.setup, tc.of, got, tc.want)
		}
	}
}

// The TCP rates go through the same rounds: the median round per setup,
// and ratios within rounds.
func TestConnRounds(t *testing.T) {
	cases := medianConnCases([][]ConnCase{
		{{Setup: "xlb", PerSec: 300, Requests: 1}, {Setup: "haproxy", PerSec: 100}},
		{{Setup: "xlb", PerSec: 150, Requests: 2}, {Setup: "haproxy", PerSec: 50}},
		{{Setup: "xlb", PerSec: 330, Requests: 3}, {Setup: "haproxy", Errors: "wrk: timeout"}},
	})
	want := []ConnCase{{Setup: "xlb", PerSec: 300, Requests: 1, RoundsPerSec: []float64{300, 150, 330}}, {Setup: "haproxy", Errors: "wrk: timeout"}}
	if !reflect.DeepEqual(cases, want) {
		t.Fatalf("medianConnCases:\n got %+v\nwant %+v", cases, want)
	}
	e := &E2EResults{Conns: []ConnCase{
		{Setup: "xlb", PerSec: 300, RoundsPerSec: []float64{300, 150, 330}},
		{Setup: "nft", PerSec: 100, RoundsPerSec: []float64{100, 50, 300}},
	}}
	if got := e.cpsRatio("xlb", "nft"); got != 3 {
		t.Errorf("cpsRatio(xlb, nft) = %v, want 3 (the ratios 3, 3, 1.1)", got)
	}
	if got := e.cpsRatio("xlb", "haproxy"); got != 0 {
		t.Errorf("cpsRatio against an unmeasured setup = %v, want 0", got)
	}
}
