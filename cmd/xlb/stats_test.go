package main

import (
	"strings"
	"testing"

	"github.com/xlbproject/xlb/loader"
)

func TestStatsGolden(t *testing.T) {
	runGolden(t, []goldenCase{
		{"totals, then each interface's non-zero counters", []string{"stats"}, "stats.out"},
		{"rates of both over 4s", []string{"stats", "--rate", "--interval", "4s"}, "stats-rate.out"},
		{"--interface repeated and a comma list, (other) named", []string{"stats", "--interface", "eth2", "--interface", "(other),eth0"}, "stats-interface.out"},
		{"-o json", []string{"stats", "-o", "json"}, "stats.json"},
		{"-o json --rate of one interface", []string{"stats", "-o", "json", "--rate", "--interval", "4s", "--interface", "eth1"}, "stats-rate.json"},
	})
}

// statsTables splits xlb stats' output into its two tables, each a map
// from the row's leading columns (reason; interface and reason) to the
// two numbers, and the per-interface rows' order.
func statsTables(t *testing.T, out string) (totals, perIf map[string]string, order []string) {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(out, "\n"), "\n\n")
	if len(parts) != 2 {
		t.Fatalf("want two tables separated by a blank line, got:\n%s", out)
	}
	totals, perIf = map[string]string{}, map[string]string{}
	for i, part := range parts {
		lines := strings.Split(part, "\n")
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("short line %q", line)
			}
			key, val := strings.Join(f[:len(f)-2], " "), strings.Join(f[len(f)-2:], " ")
			if i == 0 {
				totals[key] = val
			} else {
				perIf[key] = val
				order = append(order, key)
			}
		}
	}
	return totals, perIf, order
}

// xlb stats prints every reason's total, then one line per interface and
// reason that counted something (an interface that counted nothing gets a
// "-" line), interfaces in name order and (other) last; --rate turns both
// into rates per second. The fake's counters double between the two
// samples, so a rate over 4 s is a quarter of the first reading.
func TestStats(t *testing.T) {
	noSvc, noReal, notIP := loader.PassNoService.String(), loader.DropNoReal.String(), loader.PassNotIP.String()
	for _, tc := range []struct {
		desc   string
		args   []string
		totals map[string]string
		perIf  []string // interface reason value value, in order
	}{
		{"totals", []string{"stats"},
			map[string]string{noSvc: "1000 64000", noReal: "3 180", notIP: "4 240"},
			[]string{"eth0 " + noSvc + " 900 57600", "eth0 " + noReal + " 3 180", "eth1 " + noSvc + " 100 6400", "eth2 - 0 0", "(other) " + notIP + " 4 240"}},
		{"rate over 4s", []string{"stats", "--rate", "--interval", "4s"},
			map[string]string{noSvc: "250 16000", noReal: "1 45", notIP: "1 60"},
			[]string{"eth0 " + noSvc + " 225 14400", "eth0 " + noReal + " 1 45", "eth1 " + noSvc + " 25 1600", "eth2 - 0 0", "(other) " + notIP + " 1 60"}},
		{"only eth1", []string{"stats", "--interface", "eth1"},
			map[string]string{noSvc: "1000 64000", noReal: "3 180", notIP: "4 240"},
			[]string{"eth1 " + noSvc + " 100 6400"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, errOut, code := runXlb(t, newFakeDP(), tc.args...)
			if code != 0 {
				t.Fatalf("status %d: %s", code, errOut)
			}
			totals, perIf, order := statsTables(t, out)
			if len(totals) != len(loader.Reasons()) {
				t.Errorf("the totals have %d lines, want one per reason (%d):\n%s", len(totals), len(loader.Reasons()), out)
			}
			for _, r := range loader.Reasons() {
				want, ok := tc.totals[r.String()]
				if !ok {
					want = "0 0"
				}
				if got := totals[r.String()]; got != want {
					t.Errorf("total of %q: %q, want %q", r, got, want)
				}
			}
			var got []string
			for _, k := range order {
				got = append(got, k+" "+perIf[k])
			}
			if strings.Join(got, "\n") != strings.Join(tc.perIf, "\n") {
				t.Errorf("per-interface rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.perIf, "\n"))
			}
		})
	}
}

// steadyDP is the fake whose interface steady counts nothing between the
// two samples of --rate.
type steadyDP struct {
	*fakeDP
	steady string
	first  map[loader.Reason]loader.Counters
}

func (d *steadyDP) ReasonStatsByInterface() (map[string]map[loader.Reason]loader.Counters, error) {
	out, err := d.fakeDP.ReasonStatsByInterface()
	if err != nil {
		return nil, err
	}
	if d.first == nil {
		d.first = out[d.steady]
	} else {
		out[d.steady] = d.first
	}
	return out, nil
}

// With --rate, an interface shows only the reasons whose counters moved:
// one whose counters stood still gets the "-" line, though they are not
// zero; the totals still list every reason.
func TestStatsRateShowsWhatMoved(t *testing.T) {
	out, errOut, code := runXlb(t, &steadyDP{fakeDP: newFakeDP(), steady: "eth0"}, "stats", "--rate", "--interval", "1s")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errOut)
	}
	totals, perIf, order := statsTables(t, out)
	want := []string{"eth0 -", "eth1 " + loader.PassNoService.String(), "eth2 -", "(other) " + loader.PassNotIP.String()}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q:\n%s", order, want, out)
	}
	if got := perIf["eth0 -"]; got != "0 0" {
		t.Errorf("eth0, which counted nothing in the interval: %q, want 0 0", got)
	}
	// 1000 -> 1100 on eth0 + eth1 over 1 s: only eth1's 100 moved.
	if got := totals[loader.PassNoService.String()]; got != "100 6400" {
		t.Errorf("total rate of %s: %q, want 100 6400", loader.PassNoService, got)
	}
}
