//go:build linux

package loader_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"

	"github.com/xlbproject/xlb/control"
)

// TestIntegrationHitlessUpdates applies 1000 configuration changes (reals
// added, removed, reweighted, quiesced; the scheduler changed) while
// another thread sends traffic through the program, and checks every
// packet: a new flow goes to a real that takes new flows in the state
// before, during or after the apply it overlapped (never to a quiescent,
// removed or half-written entry), and an established flow never moves.
func TestIntegrationHitlessUpdates(t *testing.T) {
	const (
		changes  = 1000
		nReals   = 5
		maxFlows = 30000
		pool     = 64 // established flows kept and re-checked
	)
	rnd := rand.New(rand.NewPCG(0x786c62, 5))
	scheds := []string{"rr", "wrr", "wlc", "lc", "sed", "nq", "sh", "mh"}
	// states[k] is the state of apply k (states[0] the initial one).
	states := make([]*control.State, changes+1)
	valid := make([][nReals]bool, changes+1)
	for k := range states {
		weights := make([]int, 0, nReals)
		n := 1 + rnd.IntN(nReals) // reals 0..n-1 configured
		for i := 0; i < n; i++ {
			w := rnd.IntN(4) // 0: quiescent
			weights = append(weights, w)
			valid[k][i] = w > 0
		}
		if !slicesAnyTrue(valid[k][:]) {
			weights[0], valid[k][0] = 1, true
		}
		sched := scheds[rnd.IntN(len(scheds))]
		states[k] = schedState(80, sched, weights, func(s *control.Service) {
			if s.Sched == "mh" {
				s.MHTableSize = 251
			}
		})
	}
	h := newXDPHarness(t, states[0])
	h.addSchedNeighbours(t, nReals)

	var applied atomic.Int64  // applies completed
	var lastSeen atomic.Int64 // applies completed when traffic last ran
	stop := make(chan struct{})
	type result struct {
		packets, newFlows, rechecks int
		errs                        []string
	}
	done := make(chan result, 1)
	go func() {
		// This thread joins the namespace and stays in it: it ends with
		// the goroutine.
		runtime.LockOSThread()
		var res result
		defer func() { done <- res }()
		if err := netns.Set(h.ns); err != nil {
			res.errs = append(res.errs, fmt.Sprintf("enter namespace: %v", err))
			return
		}
		fail := func(format string, args ...any) {
			if len(res.errs) < 20 {
				res.errs = append(res.errs, fmt.Sprintf(format, args...))
			}
		}
		send := func(src netip.AddrPort, ack bool) (int, error) {
			in := fromClient(schedVIP, 80, src.Port(), layers.IPProtocolTCP).with(func(f *frame) { f.src, f.ack = src, ack }).bytes()
			opts := ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256), Context: xdpMD{DataEnd: uint32(len(in)), IngressIfindex: uint32(h.ifA)}, Repeat: 1}
			v, err := h.prog.Run(&opts)
			if err != nil {
				return -1, err
			}
			res.packets++
			if !forwarded(v) {
				return -1, fmt.Errorf("verdict %s", verdictName(v))
			}
			for i := 0; i < nReals; i++ {
				if string(opts.DataOut[:6]) == string(schedMAC(i)) {
					return i, nil
				}
			}
			return -1, fmt.Errorf("forwarded to a MAC of no real")
		}
		est := make([]netip.AddrPort, 0, pool)
		estReal := make(map[netip.AddrPort]int)
		deadline := time.Now().Add(90 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			lastSeen.Store(applied.Load())
			// New flows are paced by the applies, about 25 per change, so
			// that they overlap every change; established flows are
			// re-checked in between.
			if res.newFlows >= maxFlows || int64(res.newFlows) >= (applied.Load()+1)*25 {
				e := est[i%len(est)]
				r2, err := send(e, true)
				res.rechecks++
				if err != nil {
					fail("established flow %s: %v", e, err)
				} else if r2 != estReal[e] {
					fail("established flow %s moved from real %d to %d", e, estReal[e], r2)
				}
				continue
			}
			src := schedClient(res.newFlows)
			g0 := applied.Load()
			r, err := send(src, false)
			g1 := applied.Load()
			if err != nil {
				fail("new flow %s: %v", src, err)
				continue
			}
			res.newFlows++
			ok := false
			for k := g0; k <= min(g1+1, changes); k++ {
				ok = ok || valid[k][r]
			}
			if !ok {
				fail("new flow %s went to real %d, which took no new flows in states %d..%d", src, r, g0, min(g1+1, changes))
			}
			if len(est) < pool {
				est = append(est, src)
				estReal[src] = r
			}
			// Re-check one established flow per new flow.
			e := est[i%len(est)]
			r2, err := send(e, true)
			res.rechecks++
			if err != nil {
				fail("established flow %s: %v", e, err)
			} else if r2 != estReal[e] {
				fail("established flow %s moved from real %d to %d", e, estReal[e], r2)
			}
		}
	}()

	start := time.Now()
	for k := 1; k <= changes; k++ {
		var err error
		h.do(func() { err = h.rec.Apply(states[k]) })
		if err != nil {
			close(stop)
			t.Fatalf("apply change %d: %v", k, err)
		}
		applied.Store(int64(k))
	}
	took := time.Since(start)
	// Let the traffic see the last state too.
	for end := time.Now().Add(5 * time.Second); lastSeen.Load() != changes && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	res := <-done
	t.Logf("%d changes applied in %v while %d packets ran (%d new flows, %d re-checks of established flows)", changes, took.Round(time.Millisecond), res.packets, res.newFlows, res.rechecks)
	for _, e := range res.errs {
		t.Error(e)
	}
	if n := lastSeen.Load(); n != changes {
		t.Errorf("traffic stopped after %d of %d changes", n, changes)
	}
	if res.newFlows < changes {
		t.Errorf("only %d new flows ran during %d changes: the traffic did not overlap the updates", res.newFlows, changes)
	}
}

func slicesAnyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}
