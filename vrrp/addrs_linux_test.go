package vrrp

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNewNetns runs f on a locked OS thread inside a fresh network namespace,
// then returns the thread to the original namespace; the new one vanishes
// with its last reference.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	defer ns.Close()
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("restore netns: %v", err)
		}
	}()
	f()
}

// captureOutgoing opens a packet socket on ifindex that sees frames the host
// sends there.
func captureOutgoing(t *testing.T, ifindex int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		t.Fatalf("bind packet socket: %v", err)
	}
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return fd
}

// frames reads up to max frames (bounded by the socket's receive timeout).
func frames(fd, max int) [][]byte {
	var out [][]byte
	buf := make([]byte, 2048)
	for range max {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	return out
}

func TestIntegrationLinkAddrs(t *testing.T) {
	requirePrivileged(t)
	inNewNetns(t, func() {
		// A veth pair inside the namespace (this kernel has no dummy).
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "xlbd0"}, PeerName: "xlbd1"}); err != nil {
			t.Fatalf("add veth: %v", err)
		}
		for _, n := range []string{"xlbd1", "xlbd0"} {
			l, err := netlink.LinkByName(n)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				t.Fatalf("set %s up: %v", n, err)
			}
		}
		link, err := netlink.LinkByName("xlbd0")
		if err != nil {
			t.Fatal(err)
		}
		ifi, err := net.InterfaceByName("xlbd0")
		if err != nil {
			t.Fatal(err)
		}
		la := &linkAddrs{ifi: ifi}
		vips := []VIP{
			{Prefix: netip.MustParsePrefix("198.18.0.100/24"), Label: "xlbd0:vip", Broadcast: netip.MustParseAddr("198.18.0.255")},
			{Prefix: netip.MustParsePrefix("198.18.0.101/32"), Scope: "link"},
		}
		vip6 := []VIP{{Prefix: netip.MustParsePrefix("2001:db8::100/64")}}
		has := func(family int) map[string]string {
			t.Helper()
			as, err := netlink.AddrList(link, family)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, a := range as {
				m[a.IPNet.String()] = a.Label
			}
			return m
		}

		for range 2 { // adding twice is not an error
			if err := la.AddVIPs(append(vips, vip6...)); err != nil {
				t.Fatalf("AddVIPs: %v", err)
			}
		}
		v4 := has(netlink.FAMILY_V4)
		if l, ok := v4["198.18.0.100/24"]; !ok || l != "xlbd0:vip" {
			t.Fatalf("198.18.0.100/24 label %q present %v, want label xlbd0:vip (addresses %v)", l, ok, v4)
		}
		if _, ok := v4["198.18.0.101/32"]; !ok {
			t.Fatalf("198.18.0.101/32 missing: %v", v4)
		}
		// brd and scope as configured.
		as, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			switch a.IPNet.String() {
			case "198.18.0.100/24":
				if a.Broadcast.String() != "198.18.0.255" || a.Scope != 0 {
					t.Errorf("198.18.0.100/24: broadcast %v scope %d, want 198.18.0.255 and global", a.Broadcast, a.Scope)
				}
			case "198.18.0.101/32":
				if a.Scope != unix.RT_SCOPE_LINK {
					t.Errorf("198.18.0.101/32: scope %d, want link (%d)", a.Scope, unix.RT_SCOPE_LINK)
				}
			}
		}
		if _, ok := has(netlink.FAMILY_V6)["2001:db8::100/64"]; !ok {
			t.Fatalf("2001:db8::100/64 missing: %v", has(netlink.FAMILY_V6))
		}

		// Announcements leave on the interface: GARP and unsolicited NA.
		fd := captureOutgoing(t, ifi.Index)
		if err := la.Announce([]VIP{vips[0], vip6[0]}); err != nil {
			t.Fatalf("Announce: %v", err)
		}
		var garp, na bool
		wantGARP := GARPFrame(ifi.HardwareAddr, vips[0].Prefix.Addr())
		for _, f := range frames(fd, 20) {
			if bytes.Equal(f, wantGARP) {
				garp = true
			}
			// Ethernet(14) + IPv6(40): ICMPv6 type 136 with our target.
			if len(f) >= 14+40+24 && f[12] == 0x86 && f[13] == 0xdd && f[14+6] == 58 && f[14+7] == 255 &&
				f[14+40] == 136 && bytes.Equal(f[14+40+8:14+40+24], vip6[0].Prefix.Addr().AsSlice()) {
				na = true
			}
		}
		if !garp || !na {
			t.Fatalf("saw gratuitous ARP %v, unsolicited NA (hop limit 255) %v; want both", garp, na)
		}

		for range 2 { // removing twice is not an error
			if err := la.DelVIPs(append(vips, vip6...)); err != nil {
				t.Fatalf("DelVIPs: %v", err)
			}
		}
		if v4 := has(netlink.FAMILY_V4); len(v4) != 0 {
			t.Fatalf("IPv4 addresses left: %v", v4)
		}
		if _, ok := has(netlink.FAMILY_V6)["2001:db8::100/64"]; ok {
			t.Fatal("2001:db8::100/64 left")
		}
	})
}
