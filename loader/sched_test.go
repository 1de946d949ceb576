//go:build linux

package loader_test

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// schedVIP is the VIP of the scheduler tests' DR service.
var schedVIP = netip.MustParseAddr("198.18.0.110")

// schedReal is the i-th real of the scheduler tests, on xgb's subnet.
func schedReal(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + i)}) }

func schedMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, 0x5e, 0x18, 0x01, byte(10 + i)}
}

// addSchedNeighbours gives the scheduler tests' n reals permanent
// neighbour entries on xgb, so that DR can forward to them.
func (h *xdpHarness) addSchedNeighbours(t testing.TB, n int) {
	t.Helper()
	var err error
	h.do(func() {
		for i := 0; i < n && err == nil; i++ {
			err = netlink.NeighSet(&netlink.Neigh{LinkIndex: h.ifB, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
				IP: schedReal(i).AsSlice(), HardwareAddr: schedMAC(i)})
		}
	})
	if err != nil {
		t.Fatalf("add neighbours: %v", err)
	}
}

// schedState is one DR service on schedVIP:port with reals 0..len(weights)-1.
func schedState(port uint16, sched string, weights []int, tune func(*control.Service)) *control.State {
	svc := &control.Service{Endpoint: loader.Endpoint{Addr: schedVIP, Port: port, Proto: loader.ProtoTCP}, Sched: sched, Method: loader.MethodDR}
	for i, w := range weights {
		svc.Reals = append(svc.Reals, control.Real{Addr: schedReal(i), Port: 80, Weight: w})
	}
	if tune != nil {
		tune(svc)
	}
	return &control.State{Services: []*control.Service{svc}}
}

// schedClient is the source of flow i: distinct addresses from
// 198.18.128.0 on (inside 198.18.0.0/15), ports cycling.
func schedClient(i int) netip.AddrPort {
	a := 198<<24 | 18<<16 | 128<<8 + uint32(i)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(10000+i%50000))
}

// sendTo runs one TCP segment from src to the service and returns the index
// of the real it was forwarded to (-1: not forwarded).
func (h *xdpHarness) sendTo(t testing.TB, src netip.AddrPort, port uint16, n int, shape func(*frame)) int {
	t.Helper()
	f := fromClient(schedVIP, port, src.Port(), layers.IPProtocolTCP).with(func(f *frame) { f.src = src })
	if shape != nil {
		f = f.with(shape)
	}
	v, out, err := h.run(f.bytes(), h.ifA)
	if err != nil {
		t.Fatalf("run program: %v", err)
	}
	if !forwarded(v) {
		return -1
	}
	for i := 0; i < n; i++ {
		if string(out[:6]) == string(schedMAC(i)) {
			return i
		}
	}
	t.Fatalf("flow from %s forwarded to MAC %s, no real's", src, net.HardwareAddr(out[:6]))
	return -1
}

func ack(f *frame) { f.ack = true }

// TestIntegrationXDPSchedulerDistribution sends at least 10,000 new flows
// through each scheduler and compares each real's share with its expected
// share. Tolerances: none beyond rounding for the deterministic schedulers
// (rr, wrr, lc, wlc: their sequences are exact), 1% for sed and nq (their
// choices follow the live counts, which the handshake moves in steps), 2%
// for the hashing schedulers sh and mh (binomial spread of 10,000 sources
// is 0.4% at 3:1; 2% is beyond 4 standard deviations). A real of weight 0
// must get no flow at all.
func TestIntegrationXDPSchedulerDistribution(t *testing.T) {
	const flows = 10000
	h := newXDPHarness(t, schedState(80, "rr", []int{1}, nil))
	h.addSchedNeighbours(t, 5)
	for ci, tc := range []struct {
		sched     string
		weights   []int
		handshake bool // complete the handshake: the flows count as active
		want      []float64
		tol       float64
	}{
		{"rr", []int{1, 5, 0, 2}, false, []float64{1.0 / 3, 1.0 / 3, 0, 1.0 / 3}, 0.0002},
		{"wrr", []int{3, 2, 0, 1}, false, []float64{0.5, 1.0 / 3, 0, 1.0 / 6}, 0.0002},
		{"lc", []int{1, 5, 0, 2}, false, []float64{1.0 / 3, 1.0 / 3, 0, 1.0 / 3}, 0.0002},
		{"lc", []int{1, 5, 0, 2}, true, []float64{1.0 / 3, 1.0 / 3, 0, 1.0 / 3}, 0.0002},
		{"wlc", []int{3, 1, 0}, false, []float64{0.75, 0.25, 0}, 0.0002},
		{"wlc", []int{3, 1, 0}, true, []float64{0.75, 0.25, 0}, 0.0002},
		{"sed", []int{3, 1, 0}, true, []float64{0.75, 0.25, 0}, 0.01},
		{"nq", []int{3, 1, 0}, true, []float64{0.75, 0.25, 0}, 0.01},
		{"sh", []int{3, 1, 0}, false, []float64{0.75, 0.25, 0}, 0.02},
		{"mh", []int{1, 1, 1, 1, 0}, false, []float64{0.25, 0.25, 0.25, 0.25, 0}, 0.02},
		{"mh", []int{3, 1, 0}, false, []float64{0.75, 0.25, 0}, 0.02},
	} {
		t.Run(fmt.Sprintf("%s %v handshake %v", tc.sched, tc.weights, tc.handshake), func(t *testing.T) {
			port := uint16(8000 + ci)
			if err := h.apply(schedState(port, tc.sched, tc.weights, nil)); err != nil {
				t.Fatalf("apply: %v", err)
			}
			got := make([]int, len(tc.weights))
			for i := range flows {
				src := schedClient(i)
				r := h.sendTo(t, src, port, len(tc.weights), nil)
				if r < 0 {
					t.Fatalf("flow %d not forwarded", i)
				}
				got[r]++
				if tc.handshake {
					if r2 := h.sendTo(t, src, port, len(tc.weights), ack); r2 != r {
						t.Fatalf("flow %d: SYN went to real %d, its ACK to %d", i, r, r2)
					}
				}
			}
			for i, w := range tc.want {
				share := float64(got[i]) / flows
				if share < w-tc.tol || share > w+tc.tol {
					t.Errorf("real %d (weight %d): %d of %d flows (%.4f), want %.4f ± %.4f", i, tc.weights[i], got[i], flows, share, w, tc.tol)
				}
				if tc.weights[i] == 0 && got[i] != 0 {
					t.Errorf("real %d has weight 0 and got %d new flows", i, got[i])
				}
			}
			t.Logf("flows per real %v", got)
		})
	}
}

// TestIntegrationXDPLeastConnection checks single decisions of lc, wlc,
// sed and nq against connection counts set in the data plane.
func TestIntegrationXDPLeastConnection(t *testing.T) {
	type rc struct {
		weight           int
		active, inactive int64
	}
	h := newXDPHarness(t, schedState(80, "rr", []int{1}, nil))
	h.addSchedNeighbours(t, 2)
	for ci, tc := range []struct {
		desc  string
		sched string
		a, b  rc
		want  int // 0: real A, 1: real B
	}{
		{"lc: 1 active (256) loses to 255 inactive", "lc", rc{1, 1, 0}, rc{1, 0, 255}, 1},
		{"lc: a tie goes to the first real", "lc", rc{1, 1, 0}, rc{1, 0, 256}, 0},
		{"lc: weights do not matter", "lc", rc{10, 1, 0}, rc{1, 0, 10}, 1},
		{"lc: weight 0 takes nothing", "lc", rc{0, 0, 0}, rc{1, 100, 100}, 1},
		{"wlc: 512/3 beats 171/1", "wlc", rc{3, 2, 0}, rc{1, 0, 171}, 0},
		{"wlc: 170/1 beats 512/3", "wlc", rc{3, 2, 0}, rc{1, 0, 170}, 1},
		{"wlc: weight 0 takes nothing", "wlc", rc{0, 0, 0}, rc{1, 1000, 1000}, 1},
		{"sed: (5+1)/3 ties (1+1)/1, first wins", "sed", rc{3, 5, 0}, rc{1, 1, 0}, 0},
		{"sed: (6+1)/3 loses to (1+1)/1", "sed", rc{3, 6, 0}, rc{1, 1, 0}, 1},
		{"sed: inactive connections do not count", "sed", rc{1, 0, 1000}, rc{1, 1, 0}, 0},
		{"sed: the heavier busy real beats an idle light one", "sed", rc{10, 1, 0}, rc{1, 0, 0}, 0},
		{"nq: an idle real first", "nq", rc{10, 1, 0}, rc{1, 0, 0}, 1},
		{"nq: no idle real: as sed", "nq", rc{3, 6, 0}, rc{1, 1, 0}, 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			port := uint16(9000 + ci)
			if err := h.apply(schedState(port, tc.sched, []int{tc.a.weight, tc.b.weight}, nil)); err != nil {
				t.Fatalf("apply: %v", err)
			}
			ep := loader.Endpoint{Addr: schedVIP, Port: port, Proto: loader.ProtoTCP}
			for i, r := range []rc{tc.a, tc.b} {
				id, err := h.realID(&realRef{ep, schedReal(i), 80})
				if err != nil {
					t.Fatal(err)
				}
				if err := h.dp.SetRealConns(id, loader.ConnCounts{Active: r.active, Inactive: r.inactive}); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.sendTo(t, schedClient(1), port, 2, nil); got != tc.want {
				t.Errorf("new flow went to real %c, want %c", 'A'+got, 'A'+tc.want)
			}
		})
	}
}

// TestIntegrationXDPLeastConnectionChunks checks lc and nq over a ring of
// several chunks (the program reads XLB_RING_CHUNK entries per lookup):
// the least loaded real wins wherever it sits, and the unused entries of
// the last chunk (zero: real id 0's, made idle here, which would win) are
// never read.
func TestIntegrationXDPLeastConnectionChunks(t *testing.T) {
	const n = 37 // two whole chunks of 16 and five entries of a third
	h := newXDPHarness(t, schedState(80, "rr", []int{1}, nil))
	h.addSchedNeighbours(t, n)
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 1
	}
	for ci, sched := range []string{"lc", "nq"} {
		port := uint16(9100 + ci)
		if err := h.apply(schedState(port, sched, weights, nil)); err != nil {
			t.Fatalf("apply: %v", err)
		}
		ep := loader.Endpoint{Addr: schedVIP, Port: port, Proto: loader.ProtoTCP}
		ids := make([]uint32, n)
		for i := range ids {
			id, err := h.realID(&realRef{ep, schedReal(i), 80})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		if !slices.Contains(ids, 0) {
			if err := h.dp.SetRealConns(0, loader.ConnCounts{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, least := range []int{0, 15, 16, 31, 32, n - 1} {
			for i, id := range ids {
				active := int64(10)
				if i == least {
					active = 1
				}
				if err := h.dp.SetRealConns(id, loader.ConnCounts{Active: active}); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.sendTo(t, schedClient(least), port, n, nil); got != least {
				t.Errorf("%s: the new flow went to real %d, want the least loaded real %d", sched, got, least)
			}
		}
	}
}

// TestIntegrationXDPSourceHash checks that sh and mh keep a client on one
// real across its connections (other source ports), and that sh-port and
// mh-port spread one client's connections.
func TestIntegrationXDPSourceHash(t *testing.T) {
	const clients = 2000
	for _, sched := range []string{"sh", "mh"} {
		for _, port := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s port %v", sched, port), func(t *testing.T) {
				h := newXDPHarness(t, schedState(80, sched, []int{1, 1, 1}, func(s *control.Service) { s.HashPort = port }))
				h.addSchedNeighbours(t, 3)
				split := 0
				for i := range clients {
					src := schedClient(i)
					first := h.sendTo(t, src, 80, 3, nil)
					other := h.sendTo(t, netip.AddrPortFrom(src.Addr(), src.Port()+7), 80, 3, nil)
					if first != other {
						split++
					}
				}
				if !port && split != 0 {
					t.Errorf("%d of %d clients had their two connections on different reals, want none", split, clients)
				}
				// With the port hashed, two connections land apart 2/3 of
				// the time with 3 equal reals.
				if port && (split < clients/2 || split > clients*5/6) {
					t.Errorf("%d of %d clients had their two connections apart, want about 2/3", split, clients)
				}
			})
		}
	}
}

// TestIntegrationXDPMaglevDisruption checks the Maglev bound through the
// data plane: when one of 5 equal reals leaves the config, at most
// 1/5 + 1% of 20,000 clients' new connections go to another real than
// before, and none to the real that left.
func TestIntegrationXDPMaglevDisruption(t *testing.T) {
	const clients, n = 20000, 5
	weights := []int{1, 1, 1, 1, 1}
	h := newXDPHarness(t, schedState(80, "mh", weights, nil))
	h.addSchedNeighbours(t, n)
	before := make([]int, clients)
	for i := range clients {
		before[i] = h.sendTo(t, schedClient(i), 80, n, nil)
	}
	st := schedState(80, "mh", weights, nil)
	st.Services[0].Reals = st.Services[0].Reals[:n-1] // the last real leaves
	if err := h.apply(st); err != nil {
		t.Fatalf("apply: %v", err)
	}
	moved := 0
	for i := range clients {
		src := schedClient(i)
		r := h.sendTo(t, netip.AddrPortFrom(src.Addr(), src.Port()+1), 80, n, nil)
		if r == n-1 {
			t.Fatalf("client %d's new connection went to the real that left", i)
		}
		if r != before[i] {
			moved++
		}
	}
	frac := float64(moved) / clients
	t.Logf("%d of %d clients (%.4f) moved", moved, clients, frac)
	if bound := 1.0/n + 0.01; frac > bound {
		t.Errorf("%.4f of clients moved, bound 1/%d + 1%% = %.4f", frac, n, bound)
	}
	// The established connections stay where they were.
	for i := 0; i < clients; i += 97 {
		if r := h.sendTo(t, schedClient(i), 80, n, ack); r != before[i] {
			t.Errorf("client %d's established connection moved from real %d to %d", i, before[i], r)
		}
	}
}
