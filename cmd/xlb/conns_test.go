package main

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// bigTable is a connection table of n entries made up as they are read, as
// the loader's batched scan hands them over.
type bigTable struct {
	*fakeDP
	n int
	// onVisit is called after each entry with its index.
	onVisit func(i int)
}

func (b *bigTable) ScanFlows(visit func(*loader.Flow) bool) (int, int, error) {
	var f loader.Flow
	for i := range b.n {
		f = loader.Flow{
			Src:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), uint16(i)),
			Dst:    netip.MustParseAddrPort("198.18.0.100:80"),
			Proto:  loader.ProtoTCP,
			State:  loader.StateEstablished,
			RealID: uint32(i % 2),
			Idle:   time.Duration(i%900) * time.Second,
		}
		visit(&f)
		if b.onVisit != nil {
			b.onVisit(i)
		}
	}
	return b.n, 0, nil
}

// countingWriter counts what reached it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// xlb conns streams: lines reach the output while the table is still being
// read, so memory does not grow with the table.
func TestConnsStreams(t *testing.T) {
	const n = 200_000
	var w countingWriter
	seenMid := -1
	b := &bigTable{fakeDP: newFakeDP(), n: n}
	b.onVisit = func(i int) {
		if i == n/2 {
			seenMid = w.n
		}
	}
	reals, _ := b.Reals()
	matched, err := writeConns(&w, b, reals, control.DefaultTimeouts(), addrMatch{}, addrMatch{}, addrMatch{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if matched != n {
		t.Errorf("%d connections listed, want %d", matched, n)
	}
	if seenMid < w.n/4 {
		t.Errorf("halfway through the table only %d of %d bytes were written: output is held back, not streamed", seenMid, w.n)
	}
	// Filters run on the stream too: half the entries are on real 1.
	real1, _ := parseAddrMatch("198.18.1.2:80")
	got, err := writeConns(io.Discard, b, reals, control.DefaultTimeouts(), addrMatch{}, real1, addrMatch{}, true)
	if err != nil || got != n/2 {
		t.Errorf("--real 198.18.1.2:80 --count: %d (%v), want %d", got, err, n/2)
	}
}

// BenchmarkConns1M lists a table of a million entries.
func BenchmarkConns1M(b *testing.B) {
	tbl := &bigTable{fakeDP: newFakeDP(), n: 1 << 20}
	reals, _ := tbl.Reals()
	for b.Loop() {
		if _, err := writeConns(io.Discard, tbl, reals, control.DefaultTimeouts(), addrMatch{}, addrMatch{}, addrMatch{}, false); err != nil {
			b.Fatal(err)
		}
	}
}
