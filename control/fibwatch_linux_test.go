package control

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/testenv"
)

func TestFIBWatcherNeighbourChanged(t *testing.T) {
	w := NewFIBWatcher(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ip := net.ParseIP("198.18.1.2")
	macA, _ := net.ParseMAC("02:00:5e:18:01:02")
	macB, _ := net.ParseMAC("02:00:5e:18:01:03")
	neigh := func(typ uint16, state int, mac net.HardwareAddr) netlink.NeighUpdate {
		return netlink.NeighUpdate{Type: typ, Neigh: netlink.Neigh{LinkIndex: 3, IP: ip, State: state, HardwareAddr: mac}}
	}
	for _, step := range []struct {
		desc string
		u    netlink.NeighUpdate
		want bool
	}{
		{"being resolved, never usable: nothing cached it", neigh(unix.RTM_NEWNEIGH, unix.NUD_INCOMPLETE, nil), false},
		{"resolved", neigh(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, macA), true},
		{"aged to STALE, same MAC", neigh(unix.RTM_NEWNEIGH, unix.NUD_STALE, macA), false},
		{"probed, confirmed, same MAC", neigh(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, macA), false},
		{"MAC moved", neigh(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, macB), true},
		{"failed", neigh(unix.RTM_NEWNEIGH, unix.NUD_FAILED, nil), true},
		{"resolved again", neigh(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, macB), true},
		{"deleted", neigh(unix.RTM_DELNEIGH, unix.NUD_REACHABLE, macB), true},
		{"deleted, not seen since the watch began", neigh(unix.RTM_DELNEIGH, unix.NUD_REACHABLE, macB), true},
		{"failed, not seen since the watch began", neigh(unix.RTM_NEWNEIGH, unix.NUD_FAILED, nil), true},
	} {
		if got := w.neighbourChanged(step.u); got != step.want {
			t.Errorf("%s: changed %v, want %v", step.desc, got, step.want)
		}
	}
}

// countingInvalidator counts InvalidateNextHops calls on a channel.
type countingInvalidator chan struct{}

func (c countingInvalidator) InvalidateNextHops() error {
	c <- struct{}{}
	return nil
}

// TestIntegrationFIBWatcher: in a director's namespace, a new neighbour, a
// neighbour's new MAC and a new route each make the cached next hops stale.
func TestIntegrationFIBWatcher(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 1})
	dir := topo.Director
	inv := make(countingInvalidator, 64)
	w := NewFIBWatcher(inv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dir.Do(func() error { w.Run(ctx); return nil }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	// wait takes the next invalidation; the kernel's event arrives within
	// milliseconds, the bound is only against a hang.
	wait := func(what string) {
		t.Helper()
		select {
		case <-inv:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: cached next hops were not made stale", what)
		}
	}
	wait("the watch began")
	eth1, err := dir.Ifindex("eth1")
	if err != nil {
		t.Fatal(err)
	}
	set := func(what string, fn func(h *netlink.Handle) error) {
		t.Helper()
		for len(inv) > 0 { // what earlier changes made
			<-inv
		}
		if err := dir.Do(func() error { return fn(dir.Handle()) }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wait(what)
	}
	neigh := func(mac string) func(h *netlink.Handle) error {
		return func(h *netlink.Handle) error {
			hw, _ := net.ParseMAC(mac)
			return h.NeighSet(&netlink.Neigh{LinkIndex: eth1, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
				IP: net.ParseIP("198.18.1.77"), HardwareAddr: hw})
		}
	}
	set("a new neighbour", neigh("02:00:5e:18:01:77"))
	set("the neighbour's MAC moved", neigh("02:00:5e:18:01:78"))
	set("a new route", func(h *netlink.Handle) error {
		_, dst, _ := net.ParseCIDR("198.18.200.0/24")
		return h.RouteAdd(&netlink.Route{LinkIndex: eth1, Dst: dst, Gw: net.ParseIP("198.18.1.77")})
	})
}
