package vrrp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConn is an in-memory conn: the test pushes packets in and reads what
// the instance wrote.
type fakeConn struct {
	in     chan packet
	mu     sync.Mutex
	out    []packet
	closed chan struct{}
	once   sync.Once
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan packet, 16), closed: make(chan struct{})}
}

func (c *fakeConn) ReadPacket() (packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-c.closed:
		return packet{}, io.EOF
	}
}

func (c *fakeConn) WritePacket(b []byte, src, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, packet{data: append([]byte(nil), b...), src: src, dst: dst, ttl: TTL})
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) sent() []packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]packet(nil), c.out...)
}

// fakeAddrs records what the instance did to its virtual addresses.
type fakeAddrs struct {
	mu        sync.Mutex
	up        bool
	adds      int
	dels      int
	announces int
}

func (a *fakeAddrs) AddVIPs([]VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.up = true
	a.adds++
	return nil
}

func (a *fakeAddrs) DelVIPs([]VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.up = false
	a.dels++
	return nil
}

func (a *fakeAddrs) Announce(vs []VIP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.announces += len(vs)
	return nil
}

func (a *fakeAddrs) get() (up bool, adds, dels, announces int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.up, a.adds, a.dels, a.announces
}

var (
	localIP = netip.MustParseAddr("198.18.0.2")
	peerIP  = netip.MustParseAddr("198.18.0.1")
	vip100  = VIP{Prefix: netip.MustParsePrefix("198.18.0.100/24")}
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testInstance(t *testing.T, cfg Config) (*Instance, *fakeConn, *fakeAddrs) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.VRID == 0 {
		cfg.VRID = 51
	}
	if cfg.VIPs == nil {
		cfg.VIPs = []VIP{vip100}
	}
	c, a := newFakeConn(), &fakeAddrs{}
	in, err := newInstance(cfg, c, a, localIP)
	if err != nil {
		t.Fatalf("newInstance: %v", err)
	}
	return in, c, a
}

// advertPacket builds a packet as the kernel would deliver it.
func advertPacket(t *testing.T, a Advert, dst netip.Addr, ttl int) packet {
	t.Helper()
	a.Src, a.Dst = peerIP, dst
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return packet{data: b, src: peerIP, dst: dst, ttl: ttl}
}

func TestInstanceCheck(t *testing.T) {
	v2 := Config{Version: 2, AuthType: AuthPass, AuthPass: "secret"}
	v3 := Config{Version: 3}
	v3u := Config{Version: 3, UnicastPeers: []netip.Addr{peerIP}}
	good2 := Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, AuthType: AuthPass,
		AuthData: PassData("secret"), Addresses: []netip.Addr{vip100.Prefix.Addr()}}
	good3 := Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addresses: []netip.Addr{vip100.Prefix.Addr()}}
	with := func(a Advert, f func(*Advert)) Advert { f(&a); return a }
	tests := []struct {
		desc string
		cfg  Config
		pkt  func(t *testing.T) packet
		want error
	}{
		{"v2 good", v2, func(t *testing.T) packet { return advertPacket(t, good2, GroupV4, 255) }, nil},
		{"v2 TTL 64", v2, func(t *testing.T) packet { return advertPacket(t, good2, GroupV4, 64) }, ErrBadTTL},
		{"v2 wrong password", v2, func(t *testing.T) packet {
			return advertPacket(t, with(good2, func(a *Advert) { a.AuthData = PassData("wrong") }), GroupV4, 255)
		}, ErrAuthMismatch},
		{"v2 no auth", v2, func(t *testing.T) packet {
			return advertPacket(t, with(good2, func(a *Advert) { a.AuthType, a.AuthData = AuthNone, [8]byte{} }), GroupV4, 255)
		}, ErrAuthMismatch},
		{"v2 other VRID", v2, func(t *testing.T) packet {
			return advertPacket(t, with(good2, func(a *Advert) { a.VRID = 52 }), GroupV4, 255)
		}, ErrVRID},
		{"v3 advert to v2 instance", v2, func(t *testing.T) packet { return advertPacket(t, good3, GroupV4, 255) }, ErrBadVersion},
		{"v3 good", v3, func(t *testing.T) packet { return advertPacket(t, good3, GroupV4, 255) }, nil},
		{"v3 truncated", v3, func(t *testing.T) packet {
			p := advertPacket(t, good3, GroupV4, 255)
			p.data = p.data[:5]
			return p
		}, ErrTooShort},
		{"v3 corrupted", v3, func(t *testing.T) packet {
			p := advertPacket(t, good3, GroupV4, 255)
			p.data[2]++
			return p
		}, ErrBadChecksum},
		{"v3 unicast from peer", v3u, func(t *testing.T) packet { return advertPacket(t, good3, localIP, 64) }, nil},
		{"v3 unicast from stranger", v3u, func(t *testing.T) packet {
			p := advertPacket(t, good3, localIP, 255)
			p.src = netip.MustParseAddr("198.18.0.77")
			return p
		}, ErrUnknownSource},
		{"v3 unicast checksum for another peer", v3u, func(t *testing.T) packet {
			p := advertPacket(t, good3, netip.MustParseAddr("198.18.0.3"), 255)
			p.dst = localIP
			return p
		}, ErrBadChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			in, _, _ := testInstance(t, tt.cfg)
			a, err := in.check(tt.pkt(t))
			if tt.want == nil {
				if err != nil || a == nil || a.Priority != 150 {
					t.Fatalf("check = %+v, %v; want the priority 150 advert", a, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("check error = %v, want %v", err, tt.want)
			}
			in.drop(err)
			if got := in.Stats().Drops[tt.want]; got != 1 {
				t.Fatalf("Drops[%v] = %d, want 1 (all: %v)", tt.want, got, in.Stats().Drops)
			}
		})
	}
}

func FuzzInstanceCheck(f *testing.F) {
	for _, g := range goldenAdverts {
		f.Add(g.want, uint8(255), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, ttl uint8, v6 bool) {
		cfg := Config{Version: 3, Logger: quietLogger(), VRID: 51}
		src := peerIP
		if v6 {
			cfg.VIPs = []VIP{{Prefix: netip.MustParsePrefix("2001:db8::100/64")}}
			src = netip.MustParseAddr("fe80::1")
		}
		in, err := newInstance(cfg, newFakeConn(), &fakeAddrs{}, src)
		if err != nil {
			t.Fatal(err)
		}
		a, err := in.check(packet{data: b, src: src, dst: in.mcast, ttl: int(ttl)})
		if err == nil {
			if _, err := in.m.Receive(time.Now(), a); err != nil && !errors.Is(err, ErrIntervalMismatch) && !errors.Is(err, ErrBadVersion) {
				t.Fatalf("Receive: %v", err)
			}
		}
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func decodeSent(t *testing.T, p packet) Advert {
	t.Helper()
	a := Advert{Src: p.src, Dst: p.dst}
	if err := a.UnmarshalBinary(p.data); err != nil {
		t.Fatalf("instance sent an invalid advert: %v", err)
	}
	return a
}

func TestInstanceRun(t *testing.T) {
	notifyLog := filepath.Join(t.TempDir(), "notify.log")
	in, c, a := testInstance(t, Config{
		Name: "VI_1", Version: 3, Interval: 20 * time.Millisecond, Priority: 100,
		GARPMasterDelay: 50 * time.Millisecond, GARPMasterRepeat: 3,
		Notify: []string{"/bin/sh", "-c", `echo "$@" >> ` + notifyLog, "notify"},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Alone on the link: master after the master down interval, VIP added,
	// 3 gratuitous ARPs at once and 3 more after garp_master_delay.
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	waitUntil(t, "second GARP round", func() bool { _, _, _, n := a.get(); return n == 6 })
	if up, adds, _, _ := a.get(); !up || adds != 1 {
		t.Fatalf("as master: VIP up %v after %d adds, want up after 1", up, adds)
	}
	waitUntil(t, "adverts", func() bool { return len(c.sent()) >= 3 })
	first := decodeSent(t, c.sent()[0])
	if first.Priority != 100 || first.VRID != 51 || first.Dst != GroupV4 || first.Src != localIP ||
		first.Interval != 20*time.Millisecond || len(first.Addresses) != 1 || first.Addresses[0] != vip100.Prefix.Addr() {
		t.Fatalf("first advert %+v, want priority 100 VRID 51 %v->%v interval 20ms VIP %v", first, localIP, GroupV4, vip100.Prefix.Addr())
	}

	// A higher-priority master appears: we become backup and drop the VIP.
	c.in <- advertPacket(t, Advert{Version: 3, VRID: 51, Priority: 200, Interval: 20 * time.Millisecond,
		Addresses: []netip.Addr{vip100.Prefix.Addr()}}, GroupV4, 255)
	waitUntil(t, "BACKUP", func() bool { return in.State() == StateBackup })
	// One removal at start-up (leftovers of an earlier run), one now.
	if up, _, dels, _ := a.get(); up || dels != 2 {
		t.Fatalf("as backup: VIP up %v after %d removals, want down after 2", up, dels)
	}
	// A bad advert is counted, not obeyed.
	c.in <- advertPacket(t, Advert{Version: 3, VRID: 51, Priority: 200, Interval: 20 * time.Millisecond}, GroupV4, 1)
	waitUntil(t, "TTL drop", func() bool { return in.Stats().Drops[ErrBadTTL] == 1 })
	// The master goes silent: we take over again.
	waitUntil(t, "MASTER again", func() bool { return in.State() == StateMaster })

	// Shutdown as master: priority 0 goes out and the VIP is removed.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil
	sent := c.sent()
	if last := decodeSent(t, sent[len(sent)-1]); last.Priority != 0 {
		t.Fatalf("last advert priority %d, want 0 on shutdown", last.Priority)
	}
	if up, _, dels, _ := a.get(); up || dels != 3 {
		t.Fatalf("after shutdown: VIP up %v after %d removals, want down after 3", up, dels)
	}
	want := []string{"INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100", "INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100", "INSTANCE VI_1 STOP 100"}
	waitUntil(t, "notify log", func() bool {
		b, _ := os.ReadFile(notifyLog)
		return len(strings.Split(strings.TrimSpace(string(b)), "\n")) == len(want)
	})
	b, _ := os.ReadFile(notifyLog)
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	// Notify programs run asynchronously, as in keepalived: compare as sets
	// of lines with their counts.
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	for _, l := range want {
		count[l]--
	}
	for _, n := range count {
		if n != 0 {
			t.Fatalf("notify lines %q, want %q in any order", got, want)
		}
	}
}

func TestInstanceTrackerFault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "track")
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, c, a := testInstance(t, Config{
		Version: 3, Interval: 20 * time.Millisecond, Priority: 100, GARPMasterDelay: -1,
		Trackers: []Tracker{
			&FileTracker{Path: file, Weight: 0, Interval: 10 * time.Millisecond},
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	if err := os.WriteFile(file, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "FAULT", func() bool { return in.State() == StateFault })
	if up, _, _, _ := a.get(); up {
		t.Fatal("VIP still up in FAULT")
	}
	sent := c.sent()
	if last := decodeSent(t, sent[len(sent)-1]); last.Priority != 0 {
		t.Fatalf("last advert priority %d, want 0 when entering FAULT", last.Priority)
	}
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "BACKUP after fault cleared", func() bool { return in.State() == StateBackup || in.State() == StateMaster })
}

func TestInstanceTrackerPriority(t *testing.T) {
	file := filepath.Join(t.TempDir(), "track")
	if err := os.WriteFile(file, []byte("-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, c, _ := testInstance(t, Config{
		Version: 3, Interval: 20 * time.Millisecond, Priority: 100, GARPMasterDelay: -1,
		Trackers: []Tracker{&FileTracker{Path: file, Weight: 10, Interval: 10 * time.Millisecond}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(t, "priority 70", func() bool { return in.Priority() == 70 })
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	waitUntil(t, "advert", func() bool { return len(c.sent()) > 0 })
	sent := c.sent()
	if got := decodeSent(t, sent[len(sent)-1]).Priority; got != 70 {
		t.Fatalf("advert priority %d, want 70 (100 + -3*10)", got)
	}
}

func TestConfigValidate(t *testing.T) {
	v6 := VIP{Prefix: netip.MustParsePrefix("2001:db8::100/64")}
	tests := []struct {
		desc string
		cfg  Config
	}{
		{"VRID 0", Config{VIPs: []VIP{vip100}}},
		{"AH", Config{VRID: 1, AuthType: AuthAH}},
		{"auth with v3", Config{VRID: 1, Version: 3, AuthType: AuthPass, AuthPass: "x"}},
		{"mixed VIP families", Config{VRID: 1, Version: 3, VIPs: []VIP{vip100, v6}}},
		{"IPv6 with v2", Config{VRID: 1, Version: 2, VIPs: []VIP{v6}}},
		{"IPv4 source, IPv6 VIPs", Config{VRID: 1, Version: 3, VIPs: []VIP{v6}, SrcAddr: localIP}},
		{"IPv6 peer, IPv4 VIPs", Config{VRID: 1, Version: 3, VIPs: []VIP{vip100}, UnicastPeers: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}},
		{"invalid VIP", Config{VRID: 1, VIPs: []VIP{{}}}},
		{"v2 sub-second interval", Config{VRID: 1, Version: 2, Interval: 100 * time.Millisecond}},
		{"unknown scope", Config{VRID: 1, VIPs: []VIP{{Prefix: vip100.Prefix, Scope: "galaxy"}}}},
		{"IPv6 broadcast", Config{VRID: 1, Version: 3, VIPs: []VIP{{Prefix: v6.Prefix, Broadcast: netip.MustParseAddr("2001:db8::ff")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tt.cfg.Logger = quietLogger()
			if _, err := newInstance(tt.cfg, newFakeConn(), &fakeAddrs{}, localIP); !errors.Is(err, ErrConfig) {
				t.Fatalf("newInstance(%+v) = %v, want ErrConfig", tt.cfg, err)
			}
		})
	}
	in, err := newInstance(Config{VRID: 7, Logger: quietLogger()}, newFakeConn(), &fakeAddrs{}, localIP)
	if err != nil {
		t.Fatal(err)
	}
	if c := in.cfg; c.Version != 2 || c.Priority != 100 || c.Interval != time.Second || c.GARPMasterDelay != 5*time.Second || c.GARPMasterRepeat != 5 {
		t.Fatalf("defaults: version %d priority %d interval %v garp delay %v repeat %d; want keepalived's 2, 100, 1s, 5s, 5",
			c.Version, c.Priority, c.Interval, c.GARPMasterDelay, c.GARPMasterRepeat)
	}
}

func TestInstanceGARPRefresh(t *testing.T) {
	in, _, a := testInstance(t, Config{Version: 3, Interval: 10 * time.Millisecond, Priority: 255,
		GARPMasterDelay: -1, GARPMasterRepeat: 2, GARPMasterRefresh: 30 * time.Millisecond, GARPRefreshRepeat: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// The owner is master at once: 2 announcements, then 3 per refresh.
	waitUntil(t, "MASTER", func() bool { return in.State() == StateMaster })
	waitUntil(t, "two refreshes", func() bool { _, _, _, n := a.get(); return n >= 2+3+3 })
	if _, _, _, n := a.get(); (n-2)%3 != 0 {
		t.Fatalf("%d announcements, want 2 + a multiple of 3", n)
	}
}
