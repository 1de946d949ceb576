package control

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// keepResolved asks the kernel to keep the next hop toward addr resolved, as
// a "managed" neighbour entry. The XDP program takes MACs from the kernel's
// FIB and neighbour table but never sends through the kernel itself, so
// without this a real's entry could be missing (a DR packet to it is
// dropped) or go stale. Static entries an operator made are left alone.
func keepResolved(addr netip.Addr) error {
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
	existing, err := netlink.NeighList(rt.LinkIndex, family)
	if err != nil {
		return fmt.Errorf("resolve next hop of %s: %w", addr, err)
	}
	for _, n := range existing {
		if !n.IP.Equal(nextHop) {
			continue
		}
		if n.State&(unix.NUD_PERMANENT|unix.NUD_NOARP) != 0 || n.FlagsExt&netlink.NTF_EXT_MANAGED != 0 {
			return nil
		}
	}
	err = netlink.NeighSet(&netlink.Neigh{
		LinkIndex: rt.LinkIndex,
		Family:    family,
		IP:        nextHop,
		State:     unix.NUD_NONE,
		FlagsExt:  netlink.NTF_EXT_MANAGED,
	})
	if err != nil {
		return fmt.Errorf("resolve next hop %s of %s: %w", nextHop, addr, err)
	}
	return nil
}
