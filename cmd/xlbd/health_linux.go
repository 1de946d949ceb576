package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
)

// localAddrs follows the addresses of the director (its network namespace)
// through netlink, for ha_suspend: a virtual server's checkers run only
// while its VIP is on this director.
type localAddrs struct {
	mu sync.Mutex
	// addrs are the addresses present, each with the links holding it.
	addrs map[netip.Addr]map[int]bool

	done    chan struct{}
	stopped chan struct{}
}

// watchLocalAddrs lists the addresses now and follows their changes,
// calling onChange after each; stop ends it.
func watchLocalAddrs(onChange func(), log *slog.Logger) (*localAddrs, error) {
	l := &localAddrs{
		addrs:   make(map[netip.Addr]map[int]bool),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	ch := make(chan netlink.AddrUpdate, 64)
	opts := netlink.AddrSubscribeOptions{ErrorCallback: func(err error) {
		select {
		case <-l.done: // the subscription was closed: not an error
		default:
			log.Warn("ha_suspend: reading address changes failed: checkers may run while the VIP is elsewhere", "error", err.Error())
		}
	}}
	// Subscribe first, then list: a change in between is seen twice, which
	// is harmless, rather than missed.
	if err := netlink.AddrSubscribeWithOptions(ch, l.done, opts); err != nil {
		return nil, fmt.Errorf("follow local addresses: %w", err)
	}
	list, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		close(l.done)
		return nil, fmt.Errorf("list local addresses: %w", err)
	}
	for _, a := range list {
		l.set(a.IPNet.IP, a.LinkIndex, true)
	}
	go func() {
		defer close(l.stopped)
		for u := range ch {
			l.set(u.LinkAddress.IP, u.LinkIndex, u.NewAddr)
			onChange()
		}
	}()
	return l, nil
}

func (l *localAddrs) set(ip []byte, link int, present bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return
	}
	a = a.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	links := l.addrs[a]
	switch {
	case present && links == nil:
		l.addrs[a] = map[int]bool{link: true}
	case present:
		links[link] = true
	case links != nil:
		delete(links, link)
		if len(links) == 0 {
			delete(l.addrs, a)
		}
	}
}

// has reports whether a is on one of the director's interfaces.
func (l *localAddrs) has(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs[a.Unmap()] != nil
}

// stop ends the watch and waits for it.
func (l *localAddrs) stop() {
	close(l.done)
	<-l.stopped
}
