package control

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xlbproject/xlb/control/config"
)

func TestRingOf(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		sched   string
		weights []int
		size    int
		want    []int
	}{
		{"rr lists reals in order", "rr", []int{1, 5, 2}, 16, []int{0, 1, 2}},
		{"rr leaves out weight 0", "rr", []int{1, 0, 2}, 16, []int{0, 2}},
		{"rr all quiescent", "rr", []int{0, 0}, 16, nil},
		{"wrr 3:1 as IPVS interleaves", "wrr", []int{3, 1}, 16, []int{0, 0, 0, 1}},
		{"wrr 4:3:2 as IPVS interleaves", "wrr", []int{4, 3, 2}, 16, []int{0, 0, 1, 0, 1, 2, 0, 1, 2}},
		{"wrr divides by the gcd", "wrr", []int{200, 100}, 16, []int{0, 0, 1}},
		{"wrr leaves out weight 0", "wrr", []int{0, 2, 1}, 16, []int{1, 1, 2}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := ringOf(tc.sched, tc.weights, tc.size)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ringOf(%s, %v) = %v, want %v", tc.sched, tc.weights, got, tc.want)
			}
		})
	}
}

// Weights whose wrr sequence does not fit are scaled, keeping proportions.
func TestRingOfScalesWRR(t *testing.T) {
	got := ringOf("wrr", []int{3001, 1000, 0}, 1024)
	if len(got) > 1024 {
		t.Fatalf("ring of %d entries, the ring holds 1024", len(got))
	}
	n0, n1 := count(got, 0), count(got, 1)
	if n1 == 0 || n0 < 3*n1-1 || n0 > 3*n1+1 || count(got, 2) != 0 {
		t.Fatalf("scaled ring has %d of real 0 and %d of real 1, want about 3:1 and none of real 2", n0, n1)
	}
}

func count(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestDesiredErrors(t *testing.T) {
	lim := Limits{MaxServices: 2, RingSize: 2, MaxReals: 100}
	for _, tc := range []struct {
		desc, src string
		want      []string
	}{
		{
			"unsupported scheduler at lvs_sched",
			"virtual_server 198.18.0.100 80 {\n    lvs_sched lblc\n    protocol TCP\n}\n",
			[]string{"c.conf:2:5: lvs_sched lblc is not supported yet; use rr, wrr, lc, wlc, sed, nq, sh or mh"},
		},
		{
			"TUN",
			"virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    lvs_method TUN\n    protocol TCP\n}\n",
			[]string{"c.conf:3:5: lvs_method TUN is not supported yet; use NAT or DR"},
		},
		{
			"too many reals",
			"virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    protocol TCP\n    real_server 198.18.1.2 80 {\n    }\n    real_server 198.18.1.3 80 {\n    }\n    real_server 198.18.1.4 80 {\n    }\n}\n",
			[]string{"c.conf:1:1: virtual_server 198.18.0.100:80: 3 real servers, at most 2 are supported"},
		},
		{
			"too many services",
			"virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    protocol TCP\n}\nvirtual_server 198.18.0.101 80 {\n    lvs_sched rr\n    protocol TCP\n}\nvirtual_server 198.18.0.102 80 {\n    lvs_sched rr\n    protocol TCP\n}\n",
			[]string{"c.conf:9:1: more than 2 virtual servers"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := config.Parse("c.conf", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Desired(cfg, lim)
			var list config.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Desired: %v, want a config.ErrorList", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%v", w, err)
				}
			}
		})
	}
}
