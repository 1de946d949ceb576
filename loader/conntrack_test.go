//go:build linux

package loader_test

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// flowState finds the forward entry client -> vip and returns its state.
func (h *xdpHarness) flowState(t testing.TB, client, vip netip.AddrPort) (loader.ConnState, bool) {
	t.Helper()
	var st loader.ConnState
	found := false
	if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
		if !f.Reply && f.Src == client && f.Dst == vip {
			st, found = f.State, true
		}
		return false
	}); err != nil {
		t.Fatalf("scan flows: %v", err)
	}
	return st, found
}

// mustRealID is realID, failing the test when the real has no id.
func (h *xdpHarness) mustRealID(t testing.TB, r *realRef) uint32 {
	t.Helper()
	id, err := h.realID(r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (h *xdpHarness) conns(t testing.TB, r *realRef) loader.ConnCounts {
	t.Helper()
	c, err := h.dp.RealConns(h.mustRealID(t, r))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIntegrationXDPConnectionStates walks TCP connections through IPVS's
// states: a NAT director sees both directions, a DR director only the
// client's (input-only table); each step's ActiveConn/InActConn is checked.
func TestIntegrationXDPConnectionStates(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	syn := func(f *frame) {}
	ackF := func(f *frame) { f.ack = true }
	finF := func(f *frame) { f.fin = true }
	rstF := func(f *frame) { f.rst = true }
	type step struct {
		desc      string
		fromReal  bool // a NAT real's packet (on xgb)
		shape     func(*frame)
		want      loader.ConnState
		wantConns loader.ConnCounts
	}
	for _, tc := range []struct {
		desc  string
		vip   netip.AddrPort
		real  *realRef
		sport uint16
		steps []step
	}{
		{"NAT: handshake, server closes first", netip.AddrPortFrom(vipNAT, 80), &realRef{epNAT, addrReal2, 8080}, 47000, []step{
			{"client SYN", false, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"real SYN-ACK", true, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"client ACK", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"real data", true, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"real FIN", true, finF, loader.StateFinWait, loader.ConnCounts{Inactive: 1}},
			{"client FIN", false, finF, loader.StateTimeWait, loader.ConnCounts{Inactive: 1}},
		}},
		{"NAT: client closes first", netip.AddrPortFrom(vipNAT, 80), &realRef{epNAT, addrReal2, 8080}, 47001, []step{
			{"client SYN", false, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"client ACK", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"client FIN", false, finF, loader.StateCloseWait, loader.ConnCounts{Inactive: 1}},
			{"real FIN", true, finF, loader.StateTimeWait, loader.ConnCounts{Inactive: 1}},
		}},
		{"NAT: real resets", netip.AddrPortFrom(vipNAT, 80), &realRef{epNAT, addrReal2, 8080}, 47002, []step{
			{"client SYN", false, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"client ACK", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"real RST", true, rstF, loader.StateClose, loader.ConnCounts{Inactive: 1}},
		}},
		{"DR: input only", netip.AddrPortFrom(vipDR, 80), &realRef{epDR, addrReal2, 80}, 47003, []step{
			{"client SYN", false, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"client ACK", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"client data", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"client FIN", false, finF, loader.StateFinWait, loader.ConnCounts{Inactive: 1}},
			{"client ACK of the real's FIN", false, ackF, loader.StateFinWait, loader.ConnCounts{Inactive: 1}},
		}},
		{"DR: client resets", netip.AddrPortFrom(vipDR, 80), &realRef{epDR, addrReal2, 80}, 47004, []step{
			{"client SYN", false, syn, loader.StateSynRecv, loader.ConnCounts{Inactive: 1}},
			{"client ACK", false, ackF, loader.StateEstablished, loader.ConnCounts{Active: 1}},
			{"client RST", false, rstF, loader.StateClose, loader.ConnCounts{Inactive: 1}},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			base := h.conns(t, tc.real)
			client := netip.AddrPortFrom(addrClient, tc.sport)
			for _, s := range tc.steps {
				var in []byte
				ifindex := h.ifA
				if s.fromReal {
					in = fromReal(netip.AddrPortFrom(tc.real.addr, tc.real.port), tc.sport, macReal2, layers.IPProtocolTCP).with(func(f *frame) { f.ack = false }).with(s.shape).bytes()
					ifindex = h.ifB
				} else {
					in = fromClient(tc.vip.Addr(), tc.vip.Port(), tc.sport, layers.IPProtocolTCP).with(s.shape).bytes()
				}
				v, _, err := h.run(in, ifindex)
				if err != nil || !forwarded(v) {
					t.Fatalf("%s: verdict %s, error %v; want it forwarded", s.desc, verdictName(v), err)
				}
				st, ok := h.flowState(t, client, tc.vip)
				if !ok {
					t.Fatalf("%s: no connection table entry", s.desc)
				}
				if st != s.want {
					t.Errorf("%s: state %s, want %s", s.desc, st, s.want)
				}
				got := h.conns(t, tc.real)
				got.Active -= base.Active
				got.Inactive -= base.Inactive
				if got != s.wantConns {
					t.Errorf("%s: real's connections moved by %+v, want %+v", s.desc, got, s.wantConns)
				}
			}
		})
	}

	t.Run("UDP", func(t *testing.T) {
		r := &realRef{epNATUDP, addrReal3, 5353}
		base := h.conns(t, r)
		v, _, err := h.run(fromClient(vipNAT, 53, 47100, layers.IPProtocolUDP).bytes(), h.ifA)
		if err != nil || !forwarded(v) {
			t.Fatalf("verdict %s, error %v", verdictName(v), err)
		}
		if st, _ := h.flowState(t, netip.AddrPortFrom(addrClient, 47100), netip.AddrPortFrom(vipNAT, 53)); st != loader.StateUDP {
			t.Errorf("state %s, want UDP", st)
		}
		if got := h.conns(t, r); got.Inactive-base.Inactive != 1 || got.Active != base.Active {
			t.Errorf("connections %+v, was %+v: want one more inactive", got, base)
		}
	})
}

// onThread runs fn on an OS thread of its own, pinned to cpu and in the
// harness's namespace, and sends fn's error (or the thread setup's) on the
// channel it returns. The thread is never unlocked: it ends with fn.
func (h *xdpHarness) onThread(cpu int, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- fmt.Errorf("run on CPU %d: %w", cpu, err)
			return
		}
		if err := netns.Set(h.ns); err != nil {
			done <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		done <- fn()
	}()
	return done
}

// TestIntegrationXDPCloseRace closes NAT connections whose client and real
// send their FINs at the same instant, handled by two CPUs: every flow must
// still end in TIME_WAIT and leave its real's ActiveConn/InActConn exact
// (each flow counted once), with no sweep to correct them.
func TestIntegrationXDPCloseRace(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	h := newXDPHarness(t, goldenState(nil, nil))
	r := &realRef{epNAT, addrReal2, 8080}
	base := h.conns(t, r)
	const flows, firstPort = 2000, 20000
	vip := netip.AddrPortFrom(vipNAT, 80)

	// Both threads meet at a spin barrier before each flow's FINs, so the
	// two FINs reach the program within a fraction of a microsecond.
	var arrived atomic.Int64
	var failed atomic.Bool
	meet := func(round int64) bool {
		arrived.Add(1)
		for arrived.Load() < 2*round {
			if failed.Load() {
				return false
			}
		}
		return true
	}
	send := func(f frame, ifindex int, desc string) error {
		v, _, err := h.runHere(f.bytes(), ifindex)
		if err == nil && !forwarded(v) {
			err = fmt.Errorf("verdict %s", verdictName(v))
		}
		if err != nil {
			failed.Store(true)
			return fmt.Errorf("flow from port %d: %s: %w", f.src.Port(), desc, err)
		}
		return nil
	}
	clientDone := h.onThread(0, func() error {
		for i := range flows {
			syn := fromClient(vipNAT, 80, uint16(firstPort+i), layers.IPProtocolTCP)
			if err := send(syn, h.ifA, "client SYN"); err != nil {
				return err
			}
			if err := send(syn.with(ack), h.ifA, "client ACK"); err != nil {
				return err
			}
			if !meet(int64(i + 1)) {
				return nil
			}
			if err := send(syn.with(func(f *frame) { f.fin = true }), h.ifA, "client FIN"); err != nil {
				return err
			}
		}
		return nil
	})
	realDone := h.onThread(1, func() error {
		for i := range flows {
			fin := fromReal(netip.AddrPortFrom(r.addr, r.port), uint16(firstPort+i), macReal2, layers.IPProtocolTCP).with(func(f *frame) { f.ack, f.fin = false, true })
			if !meet(int64(i + 1)) {
				return nil
			}
			if err := send(fin, h.ifB, "real FIN"); err != nil {
				return err
			}
		}
		return nil
	})
	for _, done := range []<-chan error{clientDone, realDone} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	states := map[loader.ConnState]int{}
	if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
		if !f.Reply && f.Dst == vip && f.Src.Port() >= firstPort && f.Src.Port() < firstPort+flows {
			states[f.State]++
		}
		return false
	}); err != nil {
		t.Fatalf("scan flows: %v", err)
	}
	if states[loader.StateTimeWait] != flows {
		t.Errorf("states of the %d closed flows: %v, want all TIME_WAIT", flows, states)
	}
	got := h.conns(t, r)
	got.Active -= base.Active
	got.Inactive -= base.Inactive
	if want := (loader.ConnCounts{Inactive: flows}); got != want {
		t.Errorf("%d flows closed from both ends at once moved the real's connections by %+v, want %+v", flows, got, want)
	}
}

// TestIntegrationSweeper checks that the sweeper expires entries (forward
// and NAT reply) past their state's timeout, keeps the ones with recent
// packets, expires persistence templates and recounts ActiveConn and
// InActConn from the table.
func TestIntegrationSweeper(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	const short = 300 * time.Millisecond
	tmo := control.DefaultTimeouts()
	tmo.States = map[loader.ConnState]time.Duration{loader.StateSynRecv: short, loader.StateEstablished: 10 * time.Minute}
	sw := control.NewSweeper(h.dp, tmo, nil)
	nat := &realRef{epNAT, addrReal2, 8080}

	// Flow a: SYN only (SYN_RECV, times out). Flow b: established (stays).
	// Flow c: SYN only but refreshed by its real's packets (stays).
	for _, in := range [][]byte{
		fromClient(vipNAT, 80, 48000, layers.IPProtocolTCP).bytes(),
		fromClient(vipNAT, 80, 48001, layers.IPProtocolTCP).bytes(),
		fromClient(vipNAT, 80, 48001, layers.IPProtocolTCP).with(ack).bytes(),
		fromClient(vipNAT, 80, 48002, layers.IPProtocolTCP).bytes(),
	} {
		if v, _, err := h.run(in, h.ifA); err != nil || !forwarded(v) {
			t.Fatalf("verdict %s, error %v", verdictName(v), err)
		}
	}
	entries := func() map[string]loader.ConnState {
		out := make(map[string]loader.ConnState)
		if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
			k := f.Src.String()
			if f.Reply {
				k = "reply " + f.Dst.String()
			}
			out[k] = f.State
			return false
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if n := len(entries()); n != 6 {
		t.Fatalf("%d entries before the sweep, want 6 (3 flows, each with its NAT reply entry)", n)
	}
	// Garbage in the counters: the sweep must put them right.
	id, err := h.realID(nat)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.dp.SetRealConns(id, loader.ConnCounts{Active: 42, Inactive: -7}); err != nil {
		t.Fatal(err)
	}

	// Wait past the short timeout, refreshing flow c from its real. The
	// sweeper allows a NAT flow the flow cache's TTL on top (its real's
	// replies may come from a cache, which leaves the entry's idle time).
	for end := time.Now().Add(short + loader.FlowCacheTTL + 200*time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		in := fromReal(netip.AddrPortFrom(addrReal2, 8080), 48002, macReal2, layers.IPProtocolTCP).bytes()
		if v, _, err := h.run(in, h.ifB); err != nil || !forwarded(v) {
			t.Fatalf("reply verdict %s, error %v", verdictName(v), err)
		}
	}
	res, err := sw.Sweep()
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	got := entries()
	client := func(p uint16) string { return netip.AddrPortFrom(addrClient, p).String() }
	for _, k := range []string{client(48000), "reply " + client(48000)} {
		if _, ok := got[k]; ok {
			t.Errorf("entry %s outlived its SYN_RECV timeout", k)
		}
	}
	for _, k := range []string{client(48001), "reply " + client(48001), client(48002), "reply " + client(48002)} {
		if _, ok := got[k]; !ok {
			t.Errorf("entry %s expired, want it kept (established, or refreshed by its real)", k)
		}
	}
	if res.Expired != 2 {
		t.Errorf("sweep expired %d entries, want 2", res.Expired)
	}
	if c := h.conns(t, nat); c != (loader.ConnCounts{Active: 1, Inactive: 1}) {
		t.Errorf("real's connections after the sweep %+v, want 1 active (48001) and 1 inactive (48002)", c)
	}
}

// TestIntegrationSweeperOrphanReply: a NAT reply entry whose forward entry
// left the table (the LRU evicted it) is deleted by the next sweep once it
// has been idle for longer than the sweep took; a NAT flow with both
// entries stays whole.
func TestIntegrationSweeperOrphanReply(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	const orphan, whole = 48100, 48101
	for _, sport := range []uint16{orphan, whole} {
		if v, _, err := h.run(fromClient(vipNAT, 80, sport, layers.IPProtocolTCP).bytes(), h.ifA); err != nil || !forwarded(v) {
			t.Fatalf("SYN from port %d: verdict %s, error %v", sport, verdictName(v), err)
		}
	}
	client := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(addrClient, p) }
	if _, deleted, err := h.dp.ScanFlows(func(f *loader.Flow) bool { return !f.Reply && f.Src == client(orphan) }); err != nil || deleted != 1 {
		t.Fatalf("evicting the forward entry: %d deleted, error %v", deleted, err)
	}
	time.Sleep(300 * time.Millisecond)
	res, err := control.NewSweeper(h.dp, control.DefaultTimeouts(), nil).Sweep()
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	left := map[string]bool{}
	if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Reply {
			left["reply to "+f.Dst.String()] = true
		} else {
			left[f.Src.String()] = true
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{client(whole).String(): true, "reply to " + client(whole).String(): true}
	if !maps.Equal(left, want) || res.Expired != 1 {
		t.Errorf("after the sweep (%d deleted) the table holds %v, want %v (the orphan reply deleted)", res.Expired, left, want)
	}
}

// TestIntegrationSweeperExpireNodestConn: by default a removed real's
// established flows live on; with expire_nodest_conn the sweep ends them,
// and a real still configured keeps its flows either way.
func TestIntegrationSweeperExpireNodestConn(t *testing.T) {
	both := []control.Real{{Addr: addrReal2, Port: 80, Weight: 1}, {Addr: addrReal3, Port: 80, Weight: 1}}
	h := newXDPHarness(t, goldenState(both, nil))
	// Two established DR flows, one on each real (round robin).
	got := map[netip.Addr]uint16{}
	for _, sport := range []uint16{49000, 49001} {
		f := fromClient(vipRR, 80, sport, layers.IPProtocolTCP)
		for _, in := range [][]byte{f.bytes(), f.with(ack).bytes()} {
			v, out, err := h.run(in, h.ifA)
			if err != nil || !forwarded(v) {
				t.Fatalf("verdict %s, error %v", verdictName(v), err)
			}
			real, err := realOf(out, false, 80)
			if err != nil {
				t.Fatal(err)
			}
			got[real] = sport
		}
	}
	if len(got) != 2 {
		t.Fatalf("two flows went to %v, want one per real", got)
	}
	// real3 leaves the configuration.
	if err := h.apply(goldenState(both[:1], nil)); err != nil {
		t.Fatal(err)
	}
	has := func(sport uint16) bool {
		st, ok := h.flowState(t, netip.AddrPortFrom(addrClient, sport), netip.AddrPortFrom(vipRR, 80))
		return ok && st == loader.StateEstablished
	}
	if _, err := control.NewSweeper(h.dp, control.DefaultTimeouts(), nil).Sweep(); err != nil {
		t.Fatal(err)
	}
	if !has(got[addrReal3]) {
		t.Fatal("without expire_nodest_conn the removed real's flow was expired")
	}
	tmo := control.DefaultTimeouts()
	tmo.ExpireRemoved = true
	res, err := control.NewSweeper(h.dp, tmo, nil).Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if has(got[addrReal3]) {
		t.Error("with expire_nodest_conn the removed real's flow outlived the sweep")
	}
	if !has(got[addrReal2]) {
		t.Error("with expire_nodest_conn the configured real's flow was expired too")
	}
	if res.Expired != 1 {
		t.Errorf("sweep expired %d entries, want 1", res.Expired)
	}
}
