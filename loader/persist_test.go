//go:build linux

package loader_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

func clientAt(a string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(a), port)
}

// TestIntegrationXDPPersistence checks persistence_timeout and
// persistence_granularity: a client prefix keeps its real across
// connections while it comes back within the timeout, other prefixes are
// scheduled, an expired template schedules again, and a template never
// sends a new connection to a quiescent real.
func TestIntegrationXDPPersistence(t *testing.T) {
	const timeout = time.Second
	persist := func(s *control.Service) { s.Persistence, s.PersistenceBits = timeout, 24 }
	h := newXDPHarness(t, schedState(80, "rr", []int{1, 1, 1}, persist))
	h.addSchedNeighbours(t, 3)
	send := func(c netip.AddrPort) int {
		t.Helper()
		r := h.sendTo(t, c, 80, 3, nil)
		if r < 0 {
			t.Fatalf("connection from %s not forwarded", c)
		}
		return r
	}

	first := send(clientAt("198.18.128.5", 30000))
	for i := range uint16(20) {
		if r := send(clientAt("198.18.128.5", 30001+i)); r != first {
			t.Fatalf("connection %d of the client went to real %d, its template says %d", i+2, r, first)
		}
	}
	if r := send(clientAt("198.18.128.77", 30000)); r != first {
		t.Errorf("a client in the same /24 went to real %d, want the template's %d", r, first)
	}
	// Other /24s are scheduled round-robin: they use every real.
	used := map[int]bool{}
	for i := range 6 {
		used[send(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(130 + i), 5}), 30000))] = true
	}
	if len(used) != 3 {
		t.Errorf("6 clients of other /24s used reals %v, want all 3", used)
	}

	// The template expires: the client is scheduled again (round robin
	// moves on, so it lands elsewhere).
	time.Sleep(timeout + 300*time.Millisecond)
	again := send(clientAt("198.18.128.5", 31000))
	if again == first {
		t.Errorf("after the timeout the client went to its old real %d again; round robin should have moved on", first)
	}
	if r := send(clientAt("198.18.128.5", 31001)); r != again {
		t.Errorf("the new template sends the client to %d, want %d", r, again)
	}

	// Quiescing the template's real: new connections go elsewhere, the
	// established one stays.
	weights := []int{1, 1, 1}
	weights[again] = 0
	if err := h.apply(schedState(80, "rr", weights, persist)); err != nil {
		t.Fatal(err)
	}
	if r := send(clientAt("198.18.128.5", 32000)); r == again {
		t.Errorf("a new connection went to the quiescent real %d through its template", r)
	}
	if r := h.sendTo(t, clientAt("198.18.128.5", 31000), 80, 3, ack); r != again {
		t.Errorf("the established connection moved from real %d to %d", again, r)
	}

	// The sweeper removes expired templates once their clients'
	// connections are gone (here: timed out at once).
	time.Sleep(timeout + 300*time.Millisecond)
	tmo := control.DefaultTimeouts()
	tmo.States = map[loader.ConnState]time.Duration{loader.StateSynRecv: time.Millisecond, loader.StateEstablished: time.Millisecond}
	res, err := control.NewSweeper(h.dp, tmo, nil).Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if res.ExpiredPersist == 0 {
		t.Errorf("the sweep expired no persistence template")
	}
}

// TestIntegrationXDPPersistenceRefresh: as in IPVS, a template lives while
// its client has a connection on its real, and expires persistence_timeout
// after the last one ends.
func TestIntegrationXDPPersistenceRefresh(t *testing.T) {
	const timeout = time.Second
	persist := func(s *control.Service) { s.Persistence, s.PersistenceBits = timeout, 32 }
	h := newXDPHarness(t, schedState(80, "rr", []int{1, 1, 1}, persist))
	h.addSchedNeighbours(t, 3)
	c := clientAt("198.18.128.9", 30000)
	first := h.sendTo(t, c, 80, 3, nil)
	if r := h.sendTo(t, c, 80, 3, ack); r != first {
		t.Fatalf("the handshake's ACK went to real %d, its SYN to %d", r, first)
	}
	// Another client moves round robin on.
	h.sendTo(t, clientAt("198.18.128.10", 30000), 80, 3, nil)

	time.Sleep(timeout + 300*time.Millisecond)
	sw := control.NewSweeper(h.dp, control.DefaultTimeouts(), nil)
	res, err := sw.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if r := h.sendTo(t, clientAt("198.18.128.9", 30001), 80, 3, nil); r != first {
		t.Errorf("past the timeout, with its first connection still established, the client's new connection went to real %d, want its template's %d", r, first)
	}
	if res.ExpiredPersist != 0 {
		t.Errorf("the sweep expired %d templates whose clients still have connections, want none", res.ExpiredPersist)
	}

	// The connections end (time out at once here): a timeout later both
	// templates go.
	time.Sleep(timeout + 300*time.Millisecond)
	tmo := control.DefaultTimeouts()
	tmo.States = map[loader.ConnState]time.Duration{loader.StateSynRecv: time.Millisecond, loader.StateEstablished: time.Millisecond}
	if res, err = control.NewSweeper(h.dp, tmo, nil).Sweep(); err != nil {
		t.Fatal(err)
	}
	if res.ExpiredPersist != 2 {
		t.Errorf("with the connections gone the sweep expired %d templates, want 2", res.ExpiredPersist)
	}
}

// TestIntegrationXDPSorryServer runs the Director on the data plane: when
// no real takes new flows, new flows go to the sorry server; when a real
// returns, new flows go to the reals again and the sorry server's
// established flow continues.
func TestIntegrationXDPSorryServer(t *testing.T) {
	const src = `virtual_server 198.18.0.110 80 {
    lvs_sched wlc
    lvs_method DR
    protocol TCP
    sorry_server 198.18.1.10 80
    real_server 198.18.1.11 80 {
        weight 1
    }
    real_server 198.18.1.12 80 {
        weight 1
    }
}
`
	cfg, err := config.Parse("sorry.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st, err := control.Desired(cfg, control.Limits{MaxServices: 4, RingSize: 16, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	h := newXDPHarness(t, &control.State{})
	h.addSchedNeighbours(t, 3) // 198.18.1.10 (sorry), .11, .12
	d := control.NewDirector(h.apply, nil)
	if err := d.SetConfig(cfg, st); err != nil {
		t.Fatalf("set config: %v", err)
	}
	ep := loader.Endpoint{Addr: schedVIP, Port: 80, Proto: loader.ProtoTCP}
	ref := func(i int) control.RealRef {
		return control.RealRef{Service: ep, Real: netip.AddrPortFrom(schedReal(i), 80)}
	}
	newTo := func(base uint16, n int) map[int]int {
		got := map[int]int{}
		for i := range n {
			got[h.sendTo(t, clientAt("198.18.128.9", base+uint16(i)), 80, 3, nil)]++
		}
		return got
	}

	if got := newTo(33000, 4); got[0] != 0 || got[1] != 2 || got[2] != 2 {
		t.Errorf("with both reals up, new connections went to %v (0 is the sorry server), want 2 each to reals 1 and 2", got)
	}
	for _, i := range []int{1, 2} {
		if err := d.SetRealHealth(ref(i), control.RealHealth{Up: false}); err != nil {
			t.Fatal(err)
		}
	}
	if got := newTo(34000, 4); got[0] != 4 {
		t.Errorf("with both reals down, new connections went to %v, want all 4 to the sorry server (0)", got)
	}
	if err := d.SetRealHealth(ref(2), control.RealHealth{Up: true}); err != nil {
		t.Fatal(err)
	}
	if got := newTo(35000, 4); got[2] != 4 {
		t.Errorf("with real 2 back, new connections went to %v, want all 4 to real 2", got)
	}
	if r := h.sendTo(t, clientAt("198.18.128.9", 34000), 80, 3, ack); r != 0 {
		t.Errorf("the sorry server's established connection moved to real %d", r)
	}
}
