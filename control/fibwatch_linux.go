package control

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FIBWatcher keeps the data plane's cached next hops true to the kernel:
// every change of a route, link or address, and every neighbour that
// changes its MAC or stops being usable, makes them stale at once (the
// program looks them up again). Neighbours that only age (REACHABLE to
// STALE and back) change nothing the program cached.
type FIBWatcher struct {
	dp  nextHopInvalidator
	log *slog.Logger
	// neighbours: the MAC of every usable neighbour seen, by link and address.
	neighbours map[neighbourKey]string
}

type nextHopInvalidator interface {
	InvalidateNextHops() error
}

type neighbourKey struct {
	link int
	addr string
}

// NewFIBWatcher returns a watcher of the current network namespace for dp.
func NewFIBWatcher(dp nextHopInvalidator, log *slog.Logger) *FIBWatcher {
	return &FIBWatcher{dp: dp, log: log, neighbours: make(map[neighbourKey]string)}
}

// fibResubscribeDelay is how long Run waits before subscribing again after
// the kernel dropped a subscription (its socket buffer overflowed).
const fibResubscribeDelay = 100 * time.Millisecond

// Run watches until ctx ends. It subscribes first and then makes every
// cached next hop stale, so that no change is missed in between; it does
// so again whenever a subscription is lost.
func (w *FIBWatcher) Run(ctx context.Context) {
	for {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("FIB watch interrupted, subscribing again; cached next hops are looked up afresh", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(fibResubscribeDelay):
		}
	}
}

// watch runs one set of subscriptions until ctx ends or one of them ends.
func (w *FIBWatcher) watch(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	routes := make(chan netlink.RouteUpdate, 256)
	links := make(chan netlink.LinkUpdate, 256)
	addrs := make(chan netlink.AddrUpdate, 256)
	neighs := make(chan netlink.NeighUpdate, 1024)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{}); err != nil {
		return fmt.Errorf("subscribe to route changes: %w", err)
	}
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{}); err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{}); err != nil {
		return fmt.Errorf("subscribe to address changes: %w", err)
	}
	if err := netlink.NeighSubscribeWithOptions(neighs, done, netlink.NeighSubscribeOptions{}); err != nil {
		return fmt.Errorf("subscribe to neighbour changes: %w", err)
	}
	clear(w.neighbours)
	if err := w.dp.InvalidateNextHops(); err != nil {
		return err
	}
	for {
		var changed bool
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-routes:
			if !ok {
				return fmt.Errorf("route subscription closed")
			}
			changed = true
		case _, ok := <-links:
			if !ok {
				return fmt.Errorf("link subscription closed")
			}
			changed = true
		case _, ok := <-addrs:
			if !ok {
				return fmt.Errorf("address subscription closed")
			}
			changed = true
		case u, ok := <-neighs:
			if !ok {
				return fmt.Errorf("neighbour subscription closed")
			}
			changed = w.neighbourChanged(u)
		}
		if changed {
			if err := w.dp.InvalidateNextHops(); err != nil {
				w.log.Error("cached next hops could not be made stale; they expire within a second", "err", err)
			}
		}
	}
}

// usableStates are the neighbour states whose MAC the FIB lookup hands
// out (NUD_VALID).
const usableStates = unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_REACHABLE | unix.NUD_PROBE | unix.NUD_STALE | unix.NUD_DELAY

// neighbourChanged records u and reports whether it can change a next hop
// the program cached: a new or changed MAC, or a neighbour gone or no
// longer usable.
func (w *FIBWatcher) neighbourChanged(u netlink.NeighUpdate) bool {
	k := neighbourKey{link: u.LinkIndex, addr: u.IP.String()}
	old, known := w.neighbours[k]
	if u.Type == unix.RTM_DELNEIGH || u.State&usableStates == 0 || len(u.HardwareAddr) == 0 {
		delete(w.neighbours, k)
		// A neighbour seen before the watch began may be cached: gone or
		// failed, it counts. One being resolved (INCOMPLETE) was not
		// usable before, so nothing cached it.
		return known || u.Type == unix.RTM_DELNEIGH || u.State&unix.NUD_FAILED != 0
	}
	mac := net.HardwareAddr(u.HardwareAddr).String()
	w.neighbours[k] = mac
	return !known || old != mac
}
