//go:build linux

package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func TestOptionsNormalize(t *testing.T) {
	mapped := netip.AddrFrom16(netip.MustParseAddr("::ffff:198.18.0.50").As16())
	tests := []struct {
		desc      string
		in        Options
		wantReals int
		wantVIPs  []netip.Addr
		wantErr   string
	}{
		{desc: "zero value", wantReals: 2, wantVIPs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}},
		{desc: "explicit", in: Options{Reals: 5, VIPs: []netip.Addr{netip.MustParseAddr("2001:db8:2::1")}},
			wantReals: 5, wantVIPs: []netip.Addr{netip.MustParseAddr("2001:db8:2::1")}},
		{desc: "mapped VIP unmapped", in: Options{VIPs: []netip.Addr{mapped}},
			wantReals: 2, wantVIPs: []netip.Addr{netip.MustParseAddr("198.18.0.50")}},
		{desc: "max reals", in: Options{Reals: MaxReals}, wantReals: MaxReals,
			wantVIPs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}},
		{desc: "too many reals", in: Options{Reals: MaxReals + 1}, wantErr: "254 reals"},
		{desc: "negative reals", in: Options{Reals: -1}, wantErr: "-1 reals"},
		{desc: "VIP outside test ranges", in: Options{VIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}, wantErr: "outside"},
		{desc: "invalid VIP", in: Options{VIPs: []netip.Addr{{}}}, wantErr: "invalid VIP"},
		{desc: "VIP is a real", in: Options{VIPs: []netip.Addr{netip.MustParseAddr("198.18.1.3")}}, wantErr: "real2's address"},
		{desc: "VIP is the director", in: Options{VIPs: []netip.Addr{netip.MustParseAddr("2001:db8:1::1")}}, wantErr: "director's address"},
		{desc: "duplicate VIP", in: Options{VIPs: []netip.Addr{defaultVIP, defaultVIP}}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.in.normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("normalize(%+v) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("normalize(%+v): %v", tt.in, err)
			}
			if got.Reals != tt.wantReals {
				t.Errorf("Reals = %d, want %d", got.Reals, tt.wantReals)
			}
			if fmt.Sprint(got.VIPs) != fmt.Sprint(tt.wantVIPs) {
				t.Errorf("VIPs = %v, want %v", got.VIPs, tt.wantVIPs)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	topo := newTopology(Options{Reals: 3, VIPs: []netip.Addr{defaultVIP}})
	want := []struct {
		name, addr, addr6 string
	}{
		{"client", "198.18.0.2", "2001:db8::2"},
		{"director", "198.18.0.1", "2001:db8::1"},
		{"lan", "invalid IP", "invalid IP"},
		{"real1", "198.18.1.2", "2001:db8:1::2"},
		{"real2", "198.18.1.3", "2001:db8:1::3"},
		{"real3", "198.18.1.4", "2001:db8:1::4"},
	}
	hosts := topo.hosts()
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(hosts), len(want))
	}
	prefix := fmt.Sprintf("xlb%d-", os.Getpid())
	for i, w := range want {
		h := hosts[i]
		t.Run(w.name, func(t *testing.T) {
			if h.Name != w.name || h.Addr.String() != w.addr || h.Addr6.String() != w.addr6 {
				t.Errorf("host %d = %s %s %s, want %s %s %s", i, h.Name, h.Addr, h.Addr6, w.name, w.addr, w.addr6)
			}
			if !strings.HasPrefix(h.NSName, prefix) || !strings.HasSuffix(h.NSName, "-"+w.name) {
				t.Errorf("NSName = %q, want %s<seq>-%s", h.NSName, prefix, w.name)
			}
			if topo.Host(w.name) != h {
				t.Errorf("Host(%q) does not return the host", w.name)
			}
		})
	}
	if other := newTopology(Options{Reals: 1}); other.Client.NSName == topo.Client.NSName {
		t.Errorf("two topologies share namespace name %q", other.Client.NSName)
	}
}

func TestSysctlPath(t *testing.T) {
	tests := []struct {
		desc, key, want string
		wantErr         bool
	}{
		{desc: "dotted", key: "net.ipv4.ip_forward", want: "/proc/sys/net/ipv4/ip_forward"},
		{desc: "slashed with dotted ifname", key: "net/ipv4/conf/eth0.100/rp_filter", want: "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"},
		{desc: "escape", key: "net/../../etc/passwd", wantErr: true},
		{desc: "empty part", key: "net..ipv4", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := sysctlPath(tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("sysctlPath(%q) error = %v, want error %v", tt.key, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("sysctlPath(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// ourNamespaces lists the entries of /run/netns made by this process.
func ourNamespaces(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", NetnsDir, err)
	}
	var names []string
	prefix := fmt.Sprintf("xlb%d-", os.Getpid())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// ourMounts lists the mount points under /run/netns made by this process.
func ourMounts(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("open mountinfo: %v", err)
	}
	defer f.Close()
	var mounts []string
	prefix := filepath.Join(NetnsDir, fmt.Sprintf("xlb%d-", os.Getpid()))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}

// checkNothingLeft fails t if a namespace file or mount of this process remains.
func checkNothingLeft(t *testing.T) {
	t.Helper()
	if left := ourNamespaces(t); len(left) != 0 {
		t.Errorf("namespaces left in %s: %v", NetnsDir, left)
	}
	if left := ourMounts(t); len(left) != 0 {
		t.Errorf("mounts left: %v", left)
	}
}

func rootLinkNames(t *testing.T) map[string]bool {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list links of the root namespace: %v", err)
	}
	names := map[string]bool{}
	for _, l := range links {
		names[l.Attrs().Name] = true
	}
	return names
}

func TestIntegrationTopology(t *testing.T) {
	RequirePrivileged(t)
	rootBefore := rootLinkNames(t)
	topo, err := New(Options{Reals: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()

	t.Run("namespaces", func(t *testing.T) {
		for _, h := range topo.hosts() {
			if _, err := os.Stat(filepath.Join(NetnsDir, h.NSName)); err != nil {
				t.Errorf("host %s: %v", h.Name, err)
			}
		}
		if got := len(ourNamespaces(t)); got != 6 {
			t.Errorf("%d namespaces in %s, want 6 (client, director, lan, 3 reals)", got, NetnsDir)
		}
		if _, err := exec.LookPath("ip"); err != nil {
			return
		}
		out, err := exec.Command("ip", "netns", "exec", topo.Director.NSName, "ip", "-br", "link", "show", DirectorLANIf).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), DirectorLANIf+"@") {
			t.Errorf("ip netns exec %s ip link show %s = %q, %v; want the link", topo.Director.NSName, DirectorLANIf, out, err)
		}
	})
	t.Run("root namespace untouched", func(t *testing.T) {
		for name := range rootLinkNames(t) {
			if !rootBefore[name] {
				t.Errorf("link %s appeared in the root namespace", name)
			}
		}
	})
	t.Run("addresses seen by ip", func(t *testing.T) {
		tests := []struct {
			host *Host
			want []string
		}{
			{topo.Client, []string{"eth0", "198.18.0.2/24", "2001:db8::2/64"}},
			{topo.Director, []string{"eth0", "198.18.0.1/24", "2001:db8::1/64", "198.18.0.100/32", "eth1", "198.18.1.1/24", "2001:db8:1::1/64"}},
			{topo.Reals[2], []string{"eth0", "198.18.1.4/24", "2001:db8:1::4/64"}},
		}
		for _, tt := range tests {
			t.Run(tt.host.Name, func(t *testing.T) {
				out, err := tt.host.Command("ip", "-br", "addr", "show").CombinedOutput()
				if err != nil {
					t.Fatalf("ip addr in %s: %v\n%s", tt.host.Name, err, out)
				}
				for _, w := range tt.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("ip -br addr in %s lacks %q:\n%s", tt.host.Name, w, out)
					}
				}
				if strings.Contains(string(out), "tentative") {
					t.Errorf("tentative (DAD) address in %s:\n%s", tt.host.Name, out)
				}
			})
		}
	})
	t.Run("bridge ports", func(t *testing.T) {
		out, err := topo.LAN.Command("ip", "-br", "link", "show", "master", BridgeIf).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link: %v\n%s", err, out)
		}
		for _, p := range []string{"p0@", "p1@", "p2@", "p3@"} {
			if !strings.Contains(string(out), p) {
				t.Errorf("bridge %s lacks port %s:\n%s", BridgeIf, p, out)
			}
		}
		out, err = topo.LAN.Command("ip", "-d", "link", "show", BridgeIf).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "mcast_snooping 0") {
			t.Errorf("bridge %s snoops multicast:\n%s", BridgeIf, out)
		}
	})
	t.Run("sysctls", func(t *testing.T) {
		tests := []struct {
			host      *Host
			key, want string
		}{
			{topo.Director, "net.ipv4.ip_forward", "1"},
			{topo.Director, "net.ipv6.conf.all.forwarding", "1"},
			{topo.Director, "net.ipv4.conf.all.rp_filter", "0"},
			{topo.Director, "net.ipv4.conf.eth1.rp_filter", "0"},
			{topo.Director, "net.ipv4.conf.eth0.accept_local", "1"},
			{topo.Director, "net.ipv4.conf.eth1.accept_local", "1"},
			{topo.Client, "net.ipv4.ip_forward", "0"},
			{topo.Reals[0], "net.ipv4.conf.all.arp_ignore", "0"}, // not DR
		}
		for _, tt := range tests {
			t.Run(tt.host.Name+" "+tt.key, func(t *testing.T) {
				got, err := tt.host.ReadSysctl(tt.key)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("%s in %s = %q, want %q", tt.key, tt.host.Name, got, tt.want)
				}
			})
		}
	})
	t.Run("offloads", func(t *testing.T) {
		_, ethtoolErr := exec.LookPath("ethtool")
		for _, e := range topo.vethEnds() {
			wantTx := e.h != topo.Client && !strings.HasPrefix(e.h.Name, "real")
			t.Run(e.h.Name+"/"+e.name, func(t *testing.T) {
				gro, err := e.h.GRO(e.name)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := e.h.TxChecksum(e.name)
				if err != nil {
					t.Fatal(err)
				}
				if !gro || tx != wantTx {
					t.Errorf("gro %v tx-checksum %v, want gro true tx-checksum %v", gro, tx, wantTx)
				}
				if ethtoolErr != nil {
					return
				}
				out, err := e.h.Command("ethtool", "-k", e.name).CombinedOutput()
				if err != nil {
					t.Fatalf("ethtool -k: %v\n%s", err, out)
				}
				for _, w := range []string{"generic-receive-offload: on", fmt.Sprintf("tx-checksumming: %s", map[bool]string{true: "on", false: "off"}[wantTx])} {
					if !strings.Contains(string(out), w) {
						t.Errorf("ethtool -k %s lacks %q", e.name, w)
					}
				}
			})
		}
	})
	t.Run("Do runs in the namespace", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 5*len(topo.hosts()))
		for _, h := range topo.hosts() {
			var want syscall.Stat_t
			if err := syscall.Stat(filepath.Join(NetnsDir, h.NSName), &want); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- h.Do(func() error {
						var got syscall.Stat_t
						if err := syscall.Stat("/proc/thread-self/ns/net", &got); err != nil {
							return err
						}
						if got.Ino != want.Ino {
							return fmt.Errorf("in %s: thread netns inode %d, want %d", h.Name, got.Ino, want.Ino)
						}
						return nil
					})
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	if err := topo.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkNothingLeft(t)
	if err := topo.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := topo.Client.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	if _, err := topo.Reals[0].ServeHTTP(80); !errors.Is(err, ErrClosed) {
		t.Errorf("ServeHTTP after Close = %v, want ErrClosed", err)
	}
}

// echo sends msg over a new TCP connection from h to addr and returns the reply.
func echo(ctx context.Context, h *Host, addr, msg string) (string, error) {
	c, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestIntegrationReachability(t *testing.T) {
	topo := Start(t, Options{})
	for _, h := range []*Host{topo.Director, topo.Reals[0], topo.Reals[1]} {
		stop, err := h.ServeTCPEcho(7)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	tests := []struct {
		desc string
		from *Host
		addr string
	}{
		{"client to director", topo.Client, "198.18.0.1:7"},
		{"client to director v6", topo.Client, "[2001:db8::1]:7"},
		{"client to director LAN address", topo.Client, "198.18.1.1:7"},
		{"real to director", topo.Reals[0], "198.18.1.1:7"},
		{"real to director v6", topo.Reals[1], "[2001:db8:1::1]:7"},
		{"director to real over the bridge", topo.Director, "198.18.1.3:7"},
		{"real to real over the bridge", topo.Reals[0], "[2001:db8:1::3]:7"},
		{"client to real routed", topo.Client, "198.18.1.2:7"},
		{"client to real routed v6", topo.Client, "[2001:db8:1::3]:7"},
		{"client to VIP on director", topo.Client, "198.18.0.100:7"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			msg := "hello from " + tt.from.Name
			got, err := echo(ctx, tt.from, tt.addr, msg)
			if err != nil {
				t.Fatalf("echo %s -> %s: %v", tt.from.Name, tt.addr, err)
			}
			if got != msg {
				t.Errorf("echo %s -> %s = %q, want %q", tt.from.Name, tt.addr, got, msg)
			}
		})
	}
}

func TestIntegrationHTTP(t *testing.T) {
	topo := Start(t, Options{})
	for _, r := range topo.Reals {
		stop, err := r.ServeHTTP(80)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	tests := []struct {
		desc string
		from *Host
		url  string
		want string
	}{
		{"director to real1", topo.Director, "http://198.18.1.2/", "real1"},
		{"director to real2 v6", topo.Director, "http://[2001:db8:1::3]/x", "real2"},
		{"client to real1 through the director as router", topo.Client, "http://198.18.1.2/", "real1"},
		{"client to real2 through the director as router v6", topo.Client, "http://[2001:db8:1::3]/any/path", "real2"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			resp, err := tt.from.HTTPClient(5 * time.Second).Get(tt.url)
			if err != nil {
				t.Fatalf("GET %s from %s: %v", tt.url, tt.from.Name, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != 200 || string(body) != tt.want+"\n" || resp.Header.Get("X-Real") != tt.want {
				t.Errorf("GET %s = %d %q X-Real %q, want 200 %q X-Real %q",
					tt.url, resp.StatusCode, body, resp.Header.Get("X-Real"), tt.want+"\n", tt.want)
			}
		})
	}

	// After stop, the server no longer answers.
	stop, err := topo.Reals[0].ServeHTTP(8080)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // idempotent
	if _, err := topo.Director.HTTPClient(2 * time.Second).Get("http://198.18.1.2:8080/"); err == nil {
		t.Errorf("GET after stop succeeded, want connection refused")
	}
}

// TestIntegrationDRUDPEcho emulates direct routing with plain routes: the
// director forwards VIP traffic to a real (which holds the VIP on lo) and
// the real answers the client directly. A DR-ready UDP echo must answer
// from the VIP, a naive one would answer from the real's own address.
func TestIntegrationDRUDPEcho(t *testing.T) {
	vip4, vip6 := netip.MustParseAddr("198.18.2.100"), netip.MustParseAddr("2001:db8:2::100")
	naiveVIP := netip.MustParseAddr("198.18.2.101")
	topo := Start(t, Options{DR: true, VIPs: []netip.Addr{vip4, vip6, naiveVIP}})
	real1, real2, d := topo.Reals[0], topo.Reals[1], topo.Director

	for _, r := range topo.Reals {
		for _, kv := range [][2]string{{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"}} {
			if got, err := r.ReadSysctl(kv[0]); err != nil || got != kv[1] {
				t.Errorf("%s in %s = %q (%v), want %q", kv[0], r.Name, got, err, kv[1])
			}
		}
		out, err := r.Command("ip", "-br", "addr", "show", "dev", "lo").CombinedOutput()
		if err != nil {
			t.Fatalf("ip addr: %v\n%s", err, out)
		}
		for _, v := range topo.VIPs {
			if !strings.Contains(string(out), v.String()+"/") {
				t.Errorf("lo of %s lacks VIP %s:\n%s", r.Name, v, out)
			}
		}
	}

	// Take the VIPs off the director and route them to the reals instead.
	front, err := d.Link(DirectorFrontIf)
	if err != nil {
		t.Fatal(err)
	}
	lan, err := d.Ifindex(DirectorLANIf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		vip netip.Addr
		via netip.Addr
	}{{vip4, real1.Addr}, {vip6, real1.Addr6}, {naiveVIP, real2.Addr}} {
		bits := r.vip.BitLen()
		dst := &net.IPNet{IP: r.vip.AsSlice(), Mask: net.CIDRMask(bits, bits)}
		if err := d.Handle().AddrDel(front, &netlink.Addr{IPNet: dst}); err != nil {
			t.Fatalf("delete %s from director: %v", r.vip, err)
		}
		if err := d.Handle().RouteAdd(&netlink.Route{LinkIndex: lan, Dst: dst, Gw: r.via.AsSlice()}); err != nil {
			t.Fatalf("route %s via %s: %v", r.vip, r.via, err)
		}
	}

	stop, err := real1.ServeUDPEcho(5353)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopHTTP, err := real1.ServeHTTP(80)
	if err != nil {
		t.Fatal(err)
	}
	defer stopHTTP()
	t.Run("HTTP to the VIP answered by the real", func(t *testing.T) {
		for _, url := range []string{"http://198.18.2.100/", "http://[2001:db8:2::100]/"} {
			resp, err := topo.Client.HTTPClient(5 * time.Second).Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "real1\n" {
				t.Errorf("GET %s = %q, want %q", url, body, "real1\n")
			}
		}
	})
	// A naive echo on real2: replies take the routing source address.
	naive, err := real2.ListenPacket("udp4", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer naive.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := naive.ReadFrom(buf)
			if err != nil {
				return
			}
			naive.WriteTo(buf[:n], from)
		}
	}()

	tests := []struct {
		desc     string
		network  string
		to       netip.Addr
		wantFrom netip.Addr
	}{
		{"DR echo replies from the VIP", "udp4", vip4, vip4},
		{"DR echo replies from the VIP v6", "udp6", vip6, vip6},
		{"naive echo replies from the real", "udp4", naiveVIP, real2.Addr},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := topo.Client.ListenPacket(tt.network, ":0")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := []byte("ping " + tt.desc)
			to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(tt.to, 5353))
			buf := make([]byte, 1500)
			// UDP may lose the first datagram while neighbours resolve: a few tries.
			for try := range 5 {
				if _, err := c.WriteTo(msg, to); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					t.Logf("try %d: %v", try, err)
					continue
				}
				gotFrom := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
				if string(buf[:n]) != string(msg) || gotFrom != tt.wantFrom {
					t.Errorf("reply %q from %s, want %q from %s", buf[:n], gotFrom, msg, tt.wantFrom)
				}
				return
			}
			t.Errorf("no reply from %s after 5 tries", tt.to)
		})
	}
}

func TestIntegrationCleanupAfterFailure(t *testing.T) {
	RequirePrivileged(t)
	steps := []string{
		"namespace client", "namespace director", "namespace lan", "namespace real1",
		"links", "addresses", "routes", "sysctls", "vips", "offloads",
	}
	// The table must name every step New takes.
	var seen []string
	stepHook = func(s string) error { seen = append(seen, s); return nil }
	topo, err := New(Options{Reals: 1, DR: true})
	stepHook = nil
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != fmt.Sprint(steps) {
		t.Fatalf("New took steps %q, table has %q", seen, steps)
	}

	errInjected := errors.New("injected failure")
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			stepHook = func(s string) error {
				if s == step {
					if n := len(ourNamespaces(t)); n == 0 {
						t.Errorf("no namespace exists at step %q: nothing to clean up", s)
					}
					return errInjected
				}
				return nil
			}
			defer func() { stepHook = nil }()
			topo, err := New(Options{Reals: 1, DR: true})
			if !errors.Is(err, errInjected) {
				t.Fatalf("New = %v, %v, want the injected failure", topo, err)
			}
			checkNothingLeft(t)
		})
	}
}

// deadPID returns a PID no process has now.
func deadPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	var max int
	fmt.Sscan(string(b), &max)
	for pid := max - 1; pid > max-1000 && pid > 1; pid-- {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("no free PID found")
	return 0
}

func TestIntegrationSweepStale(t *testing.T) {
	topo := Start(t, Options{Reals: 1})

	// What a test binary that crashed leaves: a mounted namespace, no process.
	stale := &Host{Name: "client", NSName: fmt.Sprintf("xlb%d-1-client", deadPID(t))}
	stale.sys.init()
	if err := stale.create(); err != nil {
		t.Fatal(err)
	}
	stale.sys.handle.Close()
	stale.sys.ns.Close()
	stalePath := filepath.Join(NetnsDir, stale.NSName)
	defer func() { // in case the sweep fails
		syscall.Unmount(stalePath, syscall.MNT_DETACH)
		os.Remove(stalePath)
	}()

	sweepStale()

	if _, err := os.Stat(stalePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s still there after sweep (stat: %v)", stalePath, err)
	}
	for _, h := range topo.hosts() {
		if _, err := os.Stat(filepath.Join(NetnsDir, h.NSName)); err != nil {
			t.Errorf("sweep removed live namespace %s: %v", h.NSName, err)
		}
	}
	if err := topo.Client.Do(func() error { return nil }); err != nil {
		t.Errorf("live topology unusable after sweep: %v", err)
	}
}
