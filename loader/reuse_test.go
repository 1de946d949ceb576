//go:build linux

package loader_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// A client SYN on the 5-tuple of a connection that has ended (here reset:
// CLOSE) is a new connection, scheduled afresh as IPVS does with
// conn_reuse_mode 1; a SYN retransmitted on a live connection stays with it.
func TestIntegrationXDPConnectionReuse(t *testing.T) {
	both := []control.Real{{Addr: addrReal2, Port: 8443, Weight: 1}, {Addr: addrReal3, Port: 8443, Weight: 1}}
	h := newXDPHarness(t, goldenState(nil, both))
	syn := fromClient(vipRR, 443, 45000, layers.IPProtocolTCP).bytes()
	send := func(in []byte) string {
		t.Helper()
		v, out, err := h.run(in, h.ifA)
		if err != nil {
			t.Fatal(err)
		}
		if !forwarded(v) {
			t.Fatalf("verdict %s, want the packet forwarded", verdictName(v))
		}
		real, err := realOf(out, true, 8443)
		if err != nil {
			t.Fatal(err)
		}
		return real.String()
	}

	first := send(syn)
	if again := send(syn); again != first {
		t.Fatalf("a retransmitted SYN went to %s, the connection is on %s", again, first)
	}
	// The connection is established, the client resets it, then the real
	// it used leaves.
	send(fromClient(vipRR, 443, 45000, layers.IPProtocolTCP).with(func(f *frame) { f.ack = true }).bytes())
	rst := append([]byte(nil), syn...)
	rst[14+20+13] = 0x04 // TCP flags: RST (the program does not verify checksums)
	send(rst)
	var rest []control.Real
	for _, r := range both {
		if r.Addr.String() != first {
			rest = append(rest, r)
		}
	}
	if err := h.apply(goldenState(nil, rest)); err != nil {
		t.Fatal(err)
	}
	if got := send(syn); got != rest[0].Addr.String() {
		t.Errorf("a new SYN on the ended connection's 5-tuple went to %s, want the remaining real %s", got, rest[0].Addr)
	}
}

// A client's SYN is inserted into the connection table before any lookup
// (to_service); on a connection the table has, the insert fails and the
// SYN follows the connection as any packet does: retransmitted (and
// counted once), with every real of its service quiescent, and with its
// service gone.
func TestIntegrationXDPSynFollowsItsConnection(t *testing.T) {
	both := []control.Real{{Addr: addrReal2, Port: 80, Weight: 1}, {Addr: addrReal3, Port: 80, Weight: 1}}
	h := newXDPHarness(t, goldenState(both, nil))
	syn := fromClient(vipRR, 80, 45100, layers.IPProtocolTCP).bytes()
	send := func(when string) netip.Addr {
		t.Helper()
		v, out, err := h.run(syn, h.ifA)
		if err != nil {
			t.Fatal(err)
		}
		if !forwarded(v) {
			t.Fatalf("%s: verdict %s, want the SYN forwarded", when, verdictName(v))
		}
		real, err := realOf(out, false, 80)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		return real
	}
	refs := map[netip.Addr]*realRef{addrReal2: {epRR, addrReal2, 80}, addrReal3: {epRR, addrReal3, 80}}
	scheduled := func(r *realRef) uint64 {
		t.Helper()
		c, err := h.dp.RealStats(h.mustRealID(t, r))
		if err != nil {
			t.Fatal(err)
		}
		return c.Conns
	}
	before := map[netip.Addr]loader.ConnCounts{}
	beforeConns := map[netip.Addr]uint64{}
	for a, r := range refs {
		before[a] = h.conns(t, r)
		beforeConns[a] = scheduled(r)
	}

	first := send("first SYN")
	if again := send("retransmitted SYN"); again != first {
		t.Fatalf("a retransmitted SYN went to %s, the connection is on %s", again, first)
	}
	for a, r := range refs {
		want := before[a]
		if a == first {
			want.Inactive++
		}
		if got := h.conns(t, r); got != want {
			t.Errorf("%s: ActiveConn/InActConn %+v after a SYN and its retransmission, want %+v", r, got, want)
		}
		wantConns := beforeConns[a]
		if a == first {
			wantConns++
		}
		if got := scheduled(r); got != wantConns {
			t.Errorf("%s: %d connections counted after a SYN and its retransmission, want %d", r, got, wantConns)
		}
	}

	quiet := []control.Real{{Addr: addrReal2, Port: 80, Weight: 0}, {Addr: addrReal3, Port: 80, Weight: 0}}
	if err := h.apply(goldenState(quiet, nil)); err != nil {
		t.Fatal(err)
	}
	if got := send("SYN with every real quiescent"); got != first {
		t.Errorf("with every real quiescent, the connection's SYN went to %s, want its real %s", got, first)
	}

	gone := goldenState(nil, nil)
	kept := gone.Services[:0]
	for _, s := range gone.Services {
		if s.Endpoint != epRR {
			kept = append(kept, s)
		}
	}
	gone.Services = kept
	if err := h.apply(gone); err != nil {
		t.Fatal(err)
	}
	if got := send("SYN with its service gone"); got != first {
		t.Errorf("with its service gone, the connection's SYN went to %s, want its real %s", got, first)
	}
}
