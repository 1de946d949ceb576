//go:build linux

package loader_test

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/control"
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
