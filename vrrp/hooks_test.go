package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// A daemon programs its data plane in OnTransition: by then the addresses
// are up, and neither an advert nor a gratuitous ARP has left yet.
func TestInstanceTransitionBeforeAnnounce(t *testing.T) {
	excl := VIP{Prefix: netip.MustParsePrefix("2001:db8::100/128")}
	var (
		mu   sync.Mutex
		seen []string
	)
	var in *Instance
	var c *fakeConn
	var a *fakeAddrs
	in, c, a = testInstance(t, Config{
		Name: "VI_1", Version: 3, Interval: 20 * time.Millisecond, Priority: 100,
		GARPMasterDelay: -1, GARPMasterRepeat: 2, ExcludedVIPs: []VIP{excl},
		OnTransition: func(tr Transition) {
			up, _, _, announces := a.get()
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, tr.String())
			if tr.To == StateMaster && (!up || announces != 0 || len(c.sent()) != 0) {
				t.Errorf("entering MASTER: VIPs up %v, %d announcements and %d adverts already out; want up, none, none",
					up, announces, len(c.sent()))
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	// Both the announced and the excluded address are announced (twice:
	// garp_master_repeat 2) but only the first is in the adverts.
	waitUntil(t, "announcements", func() bool { _, _, _, n := a.get(); return n == 4 })
	waitUntil(t, "an advert", func() bool { return len(c.sent()) > 0 })
	if adv := decodeSent(t, c.sent()[0]); len(adv.Addresses) != 1 || adv.Addresses[0] != vip100.Prefix.Addr() {
		t.Errorf("advert carries %v, want only %v (the excluded address stays out)", adv.Addresses, vip100.Prefix.Addr())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"VI_1 INIT -> BACKUP (priority 100, waiting for the master's adverts)",
		"VI_1 BACKUP -> MASTER (priority 100, no advert from a master)",
		"VI_1 MASTER -> INIT (priority 100, stopping)",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// A run killed as master leaves its addresses; the next run starts as
// backup and removes them, so that it does not answer ARP for them.
func TestInstanceRemovesLeftoverVIPs(t *testing.T) {
	in, _, a := testInstance(t, Config{Name: "VI_1", Version: 3, Interval: time.Second, Priority: 100})
	a.up = true // left by the previous run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitUntil(t, "BACKUP", func() bool { return in.State() == StateBackup })
	up, _, dels, _ := a.get()
	cancel()
	<-done
	if up || dels != 1 {
		t.Fatalf("starting as backup: VIPs up %v after %d removals, want removed once", up, dels)
	}
}

// When a split brain heals, the master that stays announces its addresses
// again, so that clients that learnt the other master's MAC come back.
func TestInstanceReannouncesAfterSplitBrain(t *testing.T) {
	in, c, a := testInstance(t, Config{Name: "VI_1", Version: 3, Interval: 20 * time.Millisecond, Priority: 150,
		GARPMasterDelay: -1, GARPMasterRepeat: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	waitUntil(t, "first announcements", func() bool { _, _, _, n := a.get(); return n == 2 })
	// The other side of the split, a lower master, is heard twice: one
	// more round of announcements (rate-limited), and we stay master.
	for range 2 {
		c.in <- advertPacket(t, Advert{Version: 3, VRID: 51, Priority: 100, Interval: 20 * time.Millisecond,
			Addresses: []netip.Addr{vip100.Prefix.Addr()}}, GroupV4, 255)
	}
	waitUntil(t, "re-announcement", func() bool { _, _, _, n := a.get(); return n == 4 })
	time.Sleep(30 * time.Millisecond) // under the master down interval (~76ms)
	if _, _, _, n := a.get(); n != 4 || in.State() != StateMaster {
		t.Fatalf("after the split healed: %d announcements, state %v; want 4 (one more round), MASTER", n, in.State())
	}
}

// vrrp_mcast_group4: adverts go to the configured group.
func TestInstanceMulticastGroup(t *testing.T) {
	group := netip.MustParseAddr("224.0.0.19")
	in, c, _ := testInstance(t, Config{Name: "VI_1", Version: 3, Interval: 20 * time.Millisecond, Group: group})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(t, "an advert", func() bool { return len(c.sent()) > 0 })
	if got := c.sent()[0].dst; got != group {
		t.Fatalf("advert sent to %v, want the group %v", got, group)
	}
	for _, bad := range []netip.Addr{netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("ff02::12")} {
		if _, err := newInstance(Config{VRID: 1, Version: 3, VIPs: []VIP{vip100}, Group: bad, Logger: quietLogger()},
			newFakeConn(), &fakeAddrs{}, localIP); !errors.Is(err, ErrConfig) {
			t.Errorf("group %v for IPv4 addresses: %v, want ErrConfig", bad, err)
		}
	}
}
