package loader

import (
	"fmt"
	"net/netip"
	"slices"
)

// SetAnyPort tells the program whether some service has port 0 (all the
// ports of its VIP): only then does a packet that matches no (VIP, port)
// look for (VIP, 0), which costs a second lookup.
func (d *Dataplane) SetAnyPort(on bool) error {
	return d.setFlag(uint32(xlbDpFlagsXLB_DP_F_ANY_PORT), on)
}

// setFlag turns one of the program's dp_flags on or off, leaving the rest.
func (d *Dataplane) setFlag(flag uint32, on bool) error {
	var v uint32
	if err := d.objs.DpFlags.Lookup(uint32(0), &v); err != nil {
		return fmt.Errorf("read data plane flags: %w", err)
	}
	next := v &^ flag
	if on {
		next |= flag
	}
	if next == v {
		return nil
	}
	if err := d.objs.DpFlags.Put(uint32(0), next); err != nil {
		return fmt.Errorf("set data plane flags: %w", err)
	}
	return nil
}

// SetAddrFilter makes the program's address filter hold exactly vips and
// natReals, writing only the words that change, and turns the filter on.
// A packet whose destination is in no VIP's bit and whose source is in no
// NAT real's bit passes without a lookup, so a caller adds addresses
// before the services and NAT reals that use them, and drops them after.
// A word is written whole or not at all as the program sees it, byte by
// byte at worst, which is safe both ways: while bits are added each byte
// has at least the old bits, while bits go each byte still has the new.
func (d *Dataplane) SetAddrFilter(vips, natReals []netip.Addr) error {
	want := addrFilterWords(vips, natReals)
	if d.filter == nil {
		held := make([]uint64, len(want))
		n := 0
		err := readArray(d.objs.AddrFilter, uint32(len(want)), func(k uint32, w *uint64) {
			held[k] = *w
			n++
		})
		if err != nil {
			return fmt.Errorf("read address filter: %w", err)
		}
		if n != len(held) {
			return fmt.Errorf("read address filter: %d of %d words", n, len(held))
		}
		d.filter = held
	}
	var keys []uint32
	var values []uint64
	for i, w := range want {
		if d.filter[i] != w {
			keys = append(keys, uint32(i))
			values = append(values, w)
		}
	}
	if len(keys) > 0 {
		if _, err := d.objs.AddrFilter.BatchUpdate(keys, values, nil); err != nil {
			d.filter = nil // what the map holds now is unknown: read it again
			return fmt.Errorf("write address filter (%d words): %w", len(keys), err)
		}
	}
	d.filter = slices.Clone(want)
	return d.setFlag(uint32(xlbDpFlagsXLB_DP_F_ADDR_FILTER), true)
}

// InvalidateNextHops makes every next hop the program cached stale (it
// looks them up in the FIB again), and turns the cache on: xlbd calls it
// when it starts watching the FIB and on every change it sees there.
func (d *Dataplane) InvalidateNextHops() error {
	var gen uint32
	if err := d.objs.FibGen.Lookup(uint32(0), &gen); err != nil {
		return fmt.Errorf("read FIB generation: %w", err)
	}
	gen++
	if gen == 0 { // 0 is "no cache"
		gen = 1
	}
	if err := d.objs.FibGen.Put(uint32(0), gen); err != nil {
		return fmt.Errorf("write FIB generation: %w", err)
	}
	return nil
}
