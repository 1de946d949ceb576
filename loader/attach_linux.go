package loader

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/link"
)

// Mode is how the XDP program is attached to an interface.
type Mode uint8

const (
	// ModeAuto attaches in native (driver) mode and falls back to generic.
	ModeAuto Mode = iota
	// ModeNative attaches in the driver; it fails where the driver has no XDP.
	ModeNative
	// ModeGeneric attaches after the kernel has built an skb: slower, works everywhere.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "auto"
}

// Attach attaches the program to ifname and pins the link, so the program
// stays attached when xlbd exits. An interface already attached through a
// pinned link gets the new program atomically (a link update): no packet
// sees the interface without a program. It returns the mode in use.
func (d *Dataplane) Attach(ifname string, mode Mode) (Mode, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return mode, fmt.Errorf("attach XDP to %s: no such interface: %w", ifname, err)
	}
	pin := filepath.Join(linkDir(d.pinDir), ifname)
	// The device's own pass/drop counters are in place before its first packet.
	if err := d.assignIfSlot(ifname, iface.Index); err != nil {
		return mode, fmt.Errorf("attach XDP to %s: %w", ifname, err)
	}

	if old, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer old.Close()
		info, ierr := old.Info()
		if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == iface.Index {
			if ours, err := d.objs.XlbXdp.Info(); err == nil {
				if id, ok := ours.ID(); ok && id == info.Program {
					return mode, nil // already ours
				}
			}
			if err := old.Update(d.objs.XlbXdp); err != nil {
				return mode, fmt.Errorf("replace XDP program on %s: %w", ifname, err)
			}
			d.log.Info("xdp: replaced program on interface in place", "interface", ifname)
			return mode, nil
		}
		// The pin is stale (the interface was re-created): start over.
		_ = old.Unpin()
	}

	var l link.Link
	switch mode {
	case ModeNative, ModeGeneric:
		l, err = d.attach(iface.Index, mode)
	default:
		mode = ModeNative
		l, err = d.attach(iface.Index, ModeNative)
		if err != nil {
			d.log.Warn("xdp: native mode not available, falling back to generic (slower)", "interface", ifname, "error", err)
			mode = ModeGeneric
			l, err = d.attach(iface.Index, ModeGeneric)
		}
	}
	if err != nil {
		return mode, fmt.Errorf("attach XDP (%s) to %s: %w", mode, ifname, err)
	}
	defer l.Close()

	if err := os.MkdirAll(linkDir(d.pinDir), 0o700); err != nil {
		_ = l.Close()
		return mode, fmt.Errorf("attach XDP to %s: %w", ifname, err)
	}
	if err := l.Pin(pin); err != nil {
		return mode, fmt.Errorf("pin XDP link of %s: %w", ifname, err)
	}
	d.log.Info("xdp: attached", "interface", ifname, "mode", mode)
	return mode, nil
}

func (d *Dataplane) attach(ifindex int, mode Mode) (link.Link, error) {
	flags := link.XDPDriverMode
	if mode == ModeGeneric {
		flags = link.XDPGenericMode
	}
	return link.AttachXDP(link.XDPOptions{Program: d.objs.XlbXdp, Interface: ifindex, Flags: flags})
}

// Detach removes the program from ifname.
func (d *Dataplane) Detach(ifname string) error {
	return detachPinned(d.pinDir, ifname)
}

// Attached lists the interfaces with a pinned XDP link.
func (d *Dataplane) Attached() ([]string, error) {
	links, err := pinnedLinks(d.pinDir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(links))
	for n := range links {
		names = append(names, n)
	}
	return names, nil
}

func pinnedLinks(pinDir string) (map[string]struct{}, error) {
	entries, err := os.ReadDir(linkDir(pinDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pinned links: %w", err)
	}
	out := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		out[e.Name()] = struct{}{}
	}
	return out, nil
}

func detachPinned(pinDir, ifname string) error {
	pin := filepath.Join(linkDir(pinDir), ifname)
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		return fmt.Errorf("detach XDP from %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("detach XDP from %s: %w", ifname, err)
	}
	// Detach now rather than when the last reference goes away.
	if err := l.Detach(); err != nil && !errors.Is(err, link.ErrNotSupported) {
		return fmt.Errorf("detach XDP from %s: %w", ifname, err)
	}
	return nil
}
