package main

import (
	"bytes"
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
	// deletes counts the entries visit asked to delete (the loader's
	// scan keeps those keys until it ends).
	deletes int
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
		if visit(&f) {
			b.deletes++
		}
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

// lineWriter counts the lines that reached it.
type lineWriter struct{ lines int }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// What xlb conns holds at any moment is bounded by counts, not by the
// table: entries read but not yet written fit in the 64 KiB output buffer
// (a line is at least 70 bytes, so at most 936 of them), and it asks the
// scan to delete nothing (the loader keeps the keys to delete until the
// scan ends). The loader reads the table 4096 entries at a time.
func TestConnsMemoryBound(t *testing.T) {
	const n = 100_000
	const minLine = 3 + 1 + 6 + 1 + 11 + 1 + 22 + 1 + 22 + 1 + 1 // the format's widths, an empty destination and '\n'
	const maxHeld = (64 << 10) / minLine
	var w lineWriter
	maxSeen := 0
	b := &bigTable{fakeDP: newFakeDP(), n: n}
	b.onVisit = func(i int) {
		held := i + 1 - (w.lines - 2) // less the two header lines
		maxSeen = max(maxSeen, held)
	}
	reals, _ := b.Reals()
	if _, err := writeConns(&w, b, reals, control.DefaultTimeouts(), addrMatch{}, addrMatch{}, addrMatch{}, false); err != nil {
		t.Fatal(err)
	}
	if w.lines != n+2 {
		t.Fatalf("%d lines written, want %d entries and 2 headers", w.lines, n)
	}
	if maxSeen > maxHeld {
		t.Errorf("up to %d entries were read but not yet written, want at most %d (what 64 KiB of output holds)", maxSeen, maxHeld)
	}
	if maxSeen < 100 {
		t.Errorf("at most %d entries were held back: output is not buffered, one write per line", maxSeen)
	}
	if b.deletes != 0 {
		t.Errorf("xlb conns asked the scan to delete %d entries, want none", b.deletes)
	}
	for _, count := range []bool{false, true} {
		b.deletes = 0
		if _, err := writeConns(io.Discard, b, reals, control.DefaultTimeouts(), addrMatch{}, addrMatch{}, addrMatch{}, count); err != nil {
			t.Fatal(err)
		}
		if b.deletes != 0 {
			t.Errorf("count=%v: xlb conns asked the scan to delete %d entries, want none", count, b.deletes)
		}
	}
}

// BenchmarkConns1M lists a table of a million entries made up in memory:
// the CLI's own cost (filtering, formatting). BenchmarkConnsPinned runs it
// on a real pinned table.
func BenchmarkConns1M(b *testing.B) {
	tbl := &bigTable{fakeDP: newFakeDP(), n: 1 << 20}
	reals, _ := tbl.Reals()
	for b.Loop() {
		if _, err := writeConns(io.Discard, tbl, reals, control.DefaultTimeouts(), addrMatch{}, addrMatch{}, addrMatch{}, false); err != nil {
			b.Fatal(err)
		}
	}
}
