package control

import (
	"testing"
	"time"

	"github.com/xlbproject/xlb/loader"
)

func TestBusyRecount(t *testing.T) {
	cc := func(a, i int64) loader.ConnCounts { return loader.ConnCounts{Active: a, Inactive: i} }
	for _, tc := range []struct {
		desc                       string
		recount, was, now, deleted loader.ConnCounts
		want                       loader.ConnCounts
	}{
		{"a flow counted inactive by the recount became established meanwhile: the program's counts stand",
			cc(0, 76), cc(0, 76), cc(1, 75), cc(0, 0), cc(1, 75)},
		{"a new flow meanwhile, two expired ones deleted: the program's counts less the deleted",
			cc(3, 10), cc(3, 12), cc(3, 13), cc(0, 2), cc(3, 11)},
		{"50 entries the LRU evicted are still counted: the shifted recount",
			cc(10, 100), cc(10, 150), cc(11, 150), cc(0, 0), cc(11, 100)},
	} {
		if got := busyRecount(tc.recount, tc.was, tc.now, tc.deleted); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.desc, got, tc.want)
		}
	}
}

func TestSweepPeriod(t *testing.T) {
	for _, tc := range []struct {
		took, want time.Duration
	}{
		{20 * time.Millisecond, time.Second},      // a small table: every interval
		{100 * time.Millisecond, time.Second},     // a tenth of the interval
		{600 * time.Millisecond, 6 * time.Second}, // a million flows: a tenth of a CPU
		{3 * time.Second, 30 * time.Second},       // however long a sweep takes
	} {
		if got := SweepPeriod(time.Second, tc.took); got != tc.want {
			t.Errorf("sweep of %v: next one %v after its start, want %v", tc.took, got, tc.want)
		}
	}
}
