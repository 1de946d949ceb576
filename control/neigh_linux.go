package control

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// resolver keeps next hops resolved; it lists each link's neighbours once
// and can serve one pass over many reals.
type resolver struct {
	lists map[neighList][]netlink.Neigh
}

type neighList struct{ link, family int }

func newResolver() *resolver {
	return &resolver{lists: make(map[neighList][]netlink.Neigh)}
}

// keepResolved asks the kernel to keep the next hop toward addr resolved, as
// a "managed" neighbour entry. The XDP program takes MACs from the kernel's
// FIB and neighbour table but never sends through the kernel itself, so
// without this a real's entry could be missing (a DR packet to it is
// dropped) or go stale. Static entries an operator made are left alone.
func (rs *resolver) keepResolved(addr netip.Addr) error {
	routes, err := netlink.RouteGet(addr.AsSlice())
	if err != nil || len(routes) == 0 {
		return fmt.Errorf("resolve next hop of %s: no route: %w", addr, err)
	}
	rt := routes[0]
	nextHop := addr.AsSlice()
	if rt.Gw != nil {
		nextHop = rt.Gw
	}
	family := netlink.FAMILY_V4
	if addr.Is6() {
		family = netlink.FAMILY_V6
	}
	key := neighList{rt.LinkIndex, family}
	existing, ok := rs.lists[key]
	if !ok {
		if existing, err = netlink.NeighList(rt.LinkIndex, family); err != nil {
			return fmt.Errorf("resolve next hop of %s: %w", addr, err)
		}
		rs.lists[key] = existing
	}
	for _, n := range existing {
		if !n.IP.Equal(nextHop) {
			continue
		}
		if n.State&(unix.NUD_PERMANENT|unix.NUD_NOARP) != 0 || n.FlagsExt&netlink.NTF_EXT_MANAGED != 0 {
			return nil
		}
	}
	n := netlink.Neigh{
		LinkIndex: rt.LinkIndex,
		Family:    family,
		IP:        nextHop,
		State:     unix.NUD_NONE,
		FlagsExt:  netlink.NTF_EXT_MANAGED,
	}
	if err := netlink.NeighSet(&n); err != nil {
		return fmt.Errorf("resolve next hop %s of %s: %w", nextHop, addr, err)
	}
	// Reals behind one gateway share its entry: it is managed now.
	rs.lists[key] = append(existing, n)
	return nil
}
