package control

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control/config"
)

func TestDesiredSchedulers(t *testing.T) {
	lim := Limits{MaxServices: 4, RingSize: 4, MaxReals: 100}
	for _, tc := range []struct {
		desc, body string
		want       Service
	}{
		{"keepalived's default is wlc", "", Service{Sched: "wlc", PersistenceBits: 32}},
		{"sh with sh-port", "lvs_sched sh\n sh-port\n", Service{Sched: "sh", HashPort: true, PersistenceBits: 32}},
		{"mh with its table size", "lvs_sched mh\n mh_table_size 251\n", Service{Sched: "mh", MHTableSize: 251, PersistenceBits: 32}},
		{"persistence with granularity", "lvs_sched rr\n persistence_timeout 30\n persistence_granularity 255.255.255.0\n",
			Service{Sched: "rr", Persistence: 30 * time.Second, PersistenceBits: 24}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			src := fmt.Sprintf("virtual_server 198.18.0.100 80 {\n %s protocol TCP\n real_server 198.18.1.2 80 {\n }\n}\n", tc.body)
			cfg, err := config.Parse("c.conf", []byte(src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			st, err := Desired(cfg, lim)
			if err != nil {
				t.Fatalf("Desired: %v", err)
			}
			got := st.Services[0]
			if got.Sched != tc.want.Sched || got.HashPort != tc.want.HashPort || got.MHTableSize != tc.want.MHTableSize ||
				got.Persistence != tc.want.Persistence || got.PersistenceBits != tc.want.PersistenceBits {
				t.Errorf("service %+v, want sched %s hash port %v mh size %d persistence %v /%d", got, tc.want.Sched, tc.want.HashPort,
					tc.want.MHTableSize, tc.want.Persistence, tc.want.PersistenceBits)
			}
			if _, ok := schedulers[got.Sched]; !ok {
				t.Errorf("scheduler %s has no data plane scheduler", got.Sched)
			}
		})
	}
}

func TestRingFor(t *testing.T) {
	reals := func(ws ...int) []Real {
		out := make([]Real, len(ws))
		for i, w := range ws {
			out[i] = Real{Addr: netip.MustParseAddr(fmt.Sprintf("198.18.1.%d", i+2)), Port: 80, Weight: w}
		}
		return out
	}
	for _, tc := range []struct {
		sched   string
		weights []int
		wantLen int
		// share is each real's expected share of the ring, exactly for
		// the list and sequence rings, within 1% of the ring for mh.
		share []float64
	}{
		{"rr", []int{1, 5, 0}, 2, []float64{0.5, 0.5, 0}},
		{"lc", []int{1, 5, 0}, 2, []float64{0.5, 0.5, 0}},
		{"wlc", []int{3, 1}, 2, []float64{0.5, 0.5}},
		{"sed", []int{0, 2}, 1, []float64{0, 1}},
		{"nq", []int{2, 2}, 2, []float64{0.5, 0.5}},
		{"wrr", []int{3, 1}, 4, []float64{0.75, 0.25}},
		{"sh", []int{3, 1, 0}, 4, []float64{0.75, 0.25, 0}},
		{"mh", []int{1, 1, 1, 1}, DefaultMaglevSize, []float64{0.25, 0.25, 0.25, 0.25}},
		{"mh", []int{3, 1, 0}, DefaultMaglevSize, []float64{0.75, 0.25, 0}},
	} {
		t.Run(fmt.Sprintf("%s %v", tc.sched, tc.weights), func(t *testing.T) {
			ring := ringFor(&Service{Sched: tc.sched, Reals: reals(tc.weights...)})
			if len(ring) != tc.wantLen {
				t.Fatalf("ring of %d entries, want %d", len(ring), tc.wantLen)
			}
			tol := 0.0
			if tc.sched == "mh" {
				tol = 0.01
			}
			for i, want := range tc.share {
				got := float64(count(ring, i)) / float64(len(ring))
				if got < want-tol-1e-9 || got > want+tol+1e-9 {
					t.Errorf("real %d (weight %d) has %.4f of the ring, want %.4f ± %.2f", i, tc.weights[i], got, want, tol)
				}
			}
		})
	}
}

// When one of N equal reals leaves, Maglev moves its entries and few
// others: at most 1/N + 1% of the table changes owner.
func TestMaglevDisruption(t *testing.T) {
	for _, n := range []int{2, 5, 10, 33} {
		t.Run(fmt.Sprintf("%d reals", n), func(t *testing.T) {
			names := make([]string, n)
			weights := make([]int, n)
			for i := range names {
				names[i] = fmt.Sprintf("198.18.1.%d:80", i+2)
				weights[i] = 1
			}
			before := maglevTable(names, weights, DefaultMaglevSize)
			for gone := 0; gone < n; gone += max(1, n/3) {
				w := append([]int(nil), weights...)
				w[gone] = 0
				after := maglevTable(names, w, DefaultMaglevSize)
				moved := 0
				for i := range before {
					if before[i] != after[i] {
						moved++
					}
					if after[i] == gone {
						t.Fatalf("entry %d still names the real that left", i)
					}
				}
				frac := float64(moved) / float64(len(before))
				if bound := 1/float64(n) + 0.01; frac > bound {
					t.Errorf("real %d of %d left: %.4f of the table moved, bound %.4f", gone, n, frac, bound)
				}
			}
		})
	}
}
