package vrrp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The interop test runs our Instance in a helper process (this test binary
// re-executed inside a namespace, so every netlink and socket call happens
// there) against Debian's keepalived in a second namespace, on a veth pair.

const helperEnv = "XLB_VRRP_HELPER"

// helperConfig is the part of Config the helper process takes from the test.
type helperConfig struct {
	Interface    string
	VRID         uint8
	Priority     uint8
	Version      int
	Interval     time.Duration
	AuthType     AuthType
	AuthPass     string
	VIPs         []netip.Prefix
	UnicastPeers []netip.Addr
	SrcAddr      netip.Addr
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// runHelper runs one Instance until SIGTERM, printing "STATE X" lines on
// stdout and the drop counters at exit.
func runHelper() int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(os.Getenv(helperEnv)), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	cfg := Config{
		Name: "xlb", Interface: hc.Interface, VRID: hc.VRID, Priority: hc.Priority,
		Version: hc.Version, Interval: hc.Interval, AuthType: hc.AuthType, AuthPass: hc.AuthPass,
		UnicastPeers: hc.UnicastPeers, SrcAddr: hc.SrcAddr,
		OnState: func(s State) { fmt.Printf("STATE %s\n", s) },
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, p := range hc.VIPs {
		cfg.VIPs = append(cfg.VIPs, VIP{Prefix: p})
	}
	in, err := NewInstance(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new instance:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = in.Run(ctx)
	st := in.Stats()
	fmt.Fprintf(os.Stderr, "stats: received %d sent %d drops %v\n", st.Received, st.Sent, st.Drops)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

func requirePrivileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("XLB_REQUIRE_PRIVILEGED") == "1" {
		t.Fatal("test needs root (XLB_REQUIRE_PRIVILEGED=1)")
	}
	t.Skip("skipping: test needs root (network namespaces, raw sockets)")
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pair is two namespaces joined by a veth: "ka" for keepalived, "xlb" for us.
type pair struct {
	nsKA, nsXLB string
	ifKA, ifXLB string
	addrKA      netip.Addr
	addrXLB     netip.Addr
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{
		nsKA: fmt.Sprintf("xlbvrrp-ka-%d", os.Getpid()), nsXLB: fmt.Sprintf("xlbvrrp-x-%d", os.Getpid()),
		ifKA: "vka", ifXLB: "vxlb",
		addrKA: netip.MustParseAddr("198.18.0.1"), addrXLB: netip.MustParseAddr("198.18.0.2"),
	}
	run(t, "ip", "netns", "add", p.nsKA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.nsKA).Run() })
	run(t, "ip", "netns", "add", p.nsXLB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.nsXLB).Run() })
	// No DAD, so link-local sources are usable at once. The keepalived
	// side learns neighbours from gratuitous ARP and unsolicited NA (the
	// kernel creates entries from untracked NAs only when forwarding), so
	// the test can see our announcements there.
	run(t, "ip", "netns", "exec", p.nsXLB, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")
	run(t, "ip", "netns", "exec", p.nsKA, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv4.conf.default.arp_accept=1", "net.ipv6.conf.default.accept_untracked_na=1",
		"net.ipv6.conf.all.forwarding=1")
	run(t, "ip", "link", "add", p.ifKA, "netns", p.nsKA, "type", "veth", "peer", "name", p.ifXLB, "netns", p.nsXLB)
	for _, s := range []struct {
		ns, dev string
		a       netip.Addr
	}{{p.nsKA, p.ifKA, p.addrKA}, {p.nsXLB, p.ifXLB, p.addrXLB}} {
		run(t, "ip", "-n", s.ns, "addr", "add", s.a.String()+"/24", "dev", s.dev)
		run(t, "ip", "-n", s.ns, "link", "set", s.dev, "up")
		run(t, "ip", "-n", s.ns, "link", "set", "lo", "up")
	}
	// Link-local addresses appear once the kernel's link watcher has seen
	// the carrier; both sides need theirs as IPv6 advert sources.
	for _, s := range [][2]string{{p.nsKA, p.ifKA}, {p.nsXLB, p.ifXLB}} {
		waitFor(t, 5*time.Second, "link-local address on "+s[1], func() bool {
			return strings.Contains(run(t, "ip", "-n", s[0], "-6", "-o", "addr", "show", "dev", s[1], "scope", "link"), "fe80::")
		})
	}
	return p
}

// neighMAC returns the link-layer address ns has for addr on dev, or "".
func neighMAC(t *testing.T, ns, dev string, addr netip.Addr) string {
	t.Helper()
	f := strings.Fields(run(t, "ip", "-n", ns, "neigh", "show", addr.String(), "dev", dev))
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func linkMAC(t *testing.T, ns, dev string) string {
	t.Helper()
	f := strings.Fields(run(t, "ip", "-n", ns, "-o", "link", "show", dev))
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Fatalf("no MAC for %s in %s", dev, ns)
	return ""
}

// hasAddr reports whether ns has addr on dev.
func hasAddr(t *testing.T, ns, dev string, addr netip.Addr) bool {
	t.Helper()
	out := run(t, "ip", "-n", ns, "-o", "addr", "show", "dev", dev)
	return strings.Contains(out, " "+addr.String()+"/")
}

// proc is a process the test started, with its output kept for failures.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}

	mu     sync.Mutex
	states []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			if s, ok := strings.CutPrefix(line, "STATE "); ok {
				p.mu.Lock()
				p.states = append(p.states, s)
				p.mu.Unlock()
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *proc) state() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.states) == 0 {
		return ""
	}
	return p.states[len(p.states)-1]
}

// stop sends SIGTERM to the process by its PID and waits (bounded) for it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within 10s of SIGTERM", p.name)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return 0
}

type interopCase struct {
	desc     string
	version  int
	interval time.Duration
	kaInt    string // keepalived advert_int
	pass     string
	unicast  bool
	v6       bool
	// short runs only election, failover and preemption by keepalived.
	short bool
}

func (c interopCase) keepalivedConf(p *pair, vip netip.Prefix, prio int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id ka\n  vrrp_version %d\n}\n", c.version)
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n  state BACKUP\n  interface %s\n  virtual_router_id 51\n  priority %d\n  advert_int %s\n",
		p.ifKA, prio, c.kaInt)
	if c.pass != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", c.pass)
	}
	if c.unicast {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n    %s\n  }\n", p.addrKA, p.addrXLB)
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s dev %s\n  }\n}\n", vip, p.ifKA)
	return b.String()
}

func TestIntegrationKeepalivedInterop(t *testing.T) {
	requirePrivileged(t)
	kaBin, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("XLB_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("keepalived is not installed")
		}
		t.Skip("keepalived is not installed")
	}
	cases := []interopCase{
		{desc: "v3 multicast", version: 3, interval: 200 * time.Millisecond, kaInt: "0.2"},
		{desc: "v3 unicast", version: 3, interval: 200 * time.Millisecond, kaInt: "0.2", unicast: true},
		{desc: "v3 IPv6 multicast", version: 3, interval: 200 * time.Millisecond, kaInt: "0.2", v6: true},
		{desc: "v2 PASS multicast", version: 2, interval: time.Second, kaInt: "1", pass: "xlbpass1", short: true},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			vip := netip.MustParsePrefix("198.18.0.100/24")
			if c.v6 {
				vip = netip.MustParsePrefix("2001:db8::100/64")
			}
			p := newPair(t)
			dir := t.TempDir()
			n := 0
			startKA := func(prio int) *proc {
				t.Helper()
				n++
				conf := filepath.Join(dir, fmt.Sprintf("ka%d.conf", n))
				if err := os.WriteFile(conf, []byte(c.keepalivedConf(p, vip, prio)), 0o644); err != nil {
					t.Fatal(err)
				}
				return startProc(t, fmt.Sprintf("keepalived #%d (priority %d)", n, prio), nil,
					"ip", "netns", "exec", p.nsKA, kaBin, "-n", "-l", "-D", "-P", "-f", conf,
					"-p", filepath.Join(dir, "ka.pid"), "-r", filepath.Join(dir, "ka-vrrp.pid"),
					"-c", filepath.Join(dir, "ka-check.pid"))
			}
			startXLB := func(prio uint8) *proc {
				t.Helper()
				hc := helperConfig{Interface: p.ifXLB, VRID: 51, Priority: prio, Version: c.version,
					Interval: c.interval, VIPs: []netip.Prefix{vip}}
				if c.pass != "" {
					hc.AuthType, hc.AuthPass = AuthPass, c.pass
				}
				if c.unicast {
					hc.UnicastPeers = []netip.Addr{p.addrKA}
					hc.SrcAddr = p.addrXLB
				}
				js, _ := json.Marshal(hc)
				return startProc(t, fmt.Sprintf("xlb (priority %d)", prio), []string{helperEnv + "=" + string(js)},
					"ip", "netns", "exec", p.nsXLB, os.Args[0], "-test.run=^$")
			}
			// A master is seen by its peer: the VIP is on exactly one side.
			kaMaster := func() bool {
				return hasAddr(t, p.nsKA, p.ifKA, vip.Addr()) && !hasAddr(t, p.nsXLB, p.ifXLB, vip.Addr())
			}
			xlbMaster := func() bool {
				return hasAddr(t, p.nsXLB, p.ifXLB, vip.Addr()) && !hasAddr(t, p.nsKA, p.ifKA, vip.Addr())
			}
			down := 3*c.interval + c.interval // master down interval, rounded up
			settle := 3*down + 5*time.Second  // generous: process start-up on a shared machine

			// 1. keepalived 150 vs xlb 100: keepalived wins, we are BACKUP.
			ka := startKA(150)
			x := startXLB(100)
			waitFor(t, settle, "keepalived (150) to be master over xlb (100)", func() bool {
				return kaMaster() && x.state() == "BACKUP"
			})
			// It stays that way for several master down intervals.
			time.Sleep(down)
			if !kaMaster() || x.state() != "BACKUP" {
				t.Fatalf("after %v: keepalived master %v, xlb state %s; want keepalived master, xlb BACKUP", down, kaMaster(), x.state())
			}

			// 2. keepalived stops (priority 0): xlb takes over.
			ka.stop(t)
			took := waitFor(t, settle, "xlb to take over after keepalived stopped", func() bool {
				return xlbMaster() && x.state() == "MASTER"
			})
			t.Logf("xlb master %v after keepalived exited (priority 0 sent on stop)", took)

			// 3. keepalived 150 comes back and preempts.
			ka = startKA(150)
			waitFor(t, settle, "keepalived (150) to preempt xlb (100)", func() bool {
				return kaMaster() && x.state() == "BACKUP"
			})
			ka.stop(t)
			x.stop(t)
			if hasAddr(t, p.nsXLB, p.ifXLB, vip.Addr()) {
				t.Fatal("xlb left the VIP behind after stopping")
			}
			if c.short {
				return
			}

			// 4. The other way: xlb 100 vs keepalived 50.
			ka = startKA(50)
			x = startXLB(100)
			waitFor(t, settle, "xlb (100) to be master over keepalived (50)", func() bool {
				return xlbMaster() && x.state() == "MASTER"
			})
			time.Sleep(down)
			if !xlbMaster() {
				t.Fatalf("after %v xlb (100) is no longer the only master", down)
			}
			// keepalived's side learnt the VIP's MAC from our gratuitous
			// ARP / unsolicited NA (it never sent traffic to the VIP).
			if got, want := neighMAC(t, p.nsKA, p.ifKA, vip.Addr()), linkMAC(t, p.nsXLB, p.ifXLB); got != want {
				t.Fatalf("keepalived's namespace has %s at %q, want our MAC %s from the announcement", vip.Addr(), got, want)
			}

			// 5. xlb stops (priority 0): keepalived takes over, our VIP is gone.
			x.stop(t)
			took = waitFor(t, settle, "keepalived to take over after xlb stopped", kaMaster)
			t.Logf("keepalived master %v after xlb exited (priority 0 sent on stop)", took)

			// 6. xlb 100 comes back and preempts keepalived 50.
			x = startXLB(100)
			waitFor(t, settle, "xlb (100) to preempt keepalived (50)", func() bool {
				return xlbMaster() && x.state() == "MASTER"
			})
			x.stop(t)
			ka.stop(t)
			if s := x.out.String(); strings.Contains(s, "advert dropped") {
				t.Errorf("xlb dropped adverts from keepalived:\n%s", s)
			}
		})
	}
}
