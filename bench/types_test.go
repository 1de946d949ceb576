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
