//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
	"github.com/xlbproject/xlb/vrrp"
)

// The VRRP tests run two directors (two xlbd, or xlbd and keepalived 2.2.7)
// in front of the same reals on one LAN (testenv.Pair, one-arm DR), and a
// client that reaches the VIP wherever the master is.

const pairVIP = "198.18.0.100"

// vrrpBlock is a vrrp_instance of the VIP; extra lines go inside it.
func vrrpBlock(prio int, advert string, extra ...string) string {
	return vrrpBlockFor(pairVIP+"/32", prio, advert, extra...)
}

// vrrpBlockFor is vrrpBlock for another virtual address.
func vrrpBlockFor(vip string, prio int, advert string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority %d\n    advert_int %s\n", prio, advert)
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s\n    }\n}\n", vip)
	return b.String()
}

// drService is the DR virtual server of the VIP over the pair's reals.
func drService(p *testenv.Pair) string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    lvs_sched rr\n    lvs_method DR\n    protocol TCP\n", pairVIP)
	for _, r := range p.Reals {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n    }\n", r.Addr)
	}
	b.WriteString("}\n")
	return b.String()
}

// startPairXlbd runs xlbd on director i of the pair, attached to eth0.
func startPairXlbd(t testing.TB, p *testenv.Pair, i int, conf string) *xlbd {
	t.Helper()
	file := filepath.Join(t.TempDir(), "xlb.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbtest-%d-%d", os.Getpid(), pinSeq.Add(1))
	return runPairXlbd(t, p.Directors[i], file, pinDir)
}

// runPairXlbd starts xlbd with file and pinDir on h (again, after a kill).
func runPairXlbd(t testing.TB, h *testenv.Host, file, pinDir string) *xlbd {
	t.Helper()
	d, err := h.StartDaemon(filepath.Join(binDir, "xlbd"), "-f", file, "--bpffs", pinDir,
		"-i", testenv.EndpointIf, "--flow-table-size", "4096")
	if err != nil {
		t.Fatal(err)
	}
	x := &xlbd{Daemon: d, file: file, pinDir: pinDir}
	t.Cleanup(func() {
		if err := d.Stop(5 * time.Second); err != nil && !x.killed {
			t.Errorf("xlbd on %s did not stop cleanly: %v\n%s", h.Name, err, d.Log())
		}
		if err := loader.RemovePins(pinDir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return x
}

// logWaiter waits for log lines written after a mark.
type logWaiter interface {
	Log() string
}

// mark is the length of a daemon's log now: waitAfter looks past it.
func mark(d logWaiter) int { return len(d.Log()) }

// waitAfter waits until d has written substr after mark.
func waitAfter(t testing.TB, who string, d logWaiter, from int, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := d.Log()
		if strings.Contains(log[min(from, len(log)):], substr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s; its log since the mark:\n%s", who, substr, timeout, log[min(from, len(log)):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vrrpStatusOf is the first instance `xlb vrrp` reports.
func vrrpStatusOf(t *testing.T, x *xlbd) vrrpStatus {
	t.Helper()
	var st []vrrpStatus
	out := x.xlb(t, "vrrp")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) == 0 {
		t.Fatalf("xlb vrrp: %v\n%s", err, out)
	}
	return st[0]
}

// servesVIP reports whether the daemon's data plane has the VIP's service.
func servesVIP(t *testing.T, x *xlbd) bool {
	t.Helper()
	for _, line := range strings.Split(x.xlb(t, "list"), "\n") {
		if strings.HasPrefix(line, "TCP ") && strings.Contains(line, " "+pairVIP+":80 ") {
			return true
		}
	}
	return false
}

// conns is the number of connections x's data plane has scheduled.
func conns(t *testing.T, x *xlbd) int {
	t.Helper()
	n := 0
	for _, c := range listedConns(x.xlb(t, "list")) {
		n += c
	}
	return n
}

// hasVIP reports whether h holds the VIP on eth0.
func hasVIP(t *testing.T, h *testenv.Host) bool {
	t.Helper()
	out, err := h.Command("ip", "-o", "addr", "show", "dev", testenv.EndpointIf).CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in %s: %v\n%s", h.Name, err, out)
	}
	return strings.Contains(string(out), " "+pairVIP+"/")
}

// vipSettles reports whether h comes to hold the VIP (want true) or not (false)
// within a second: keepalived logs a state change before it adds or
// removes the state's addresses.
func vipSettles(t *testing.T, h *testenv.Host, want bool) bool {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for hasVIP(t, h) != want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitClientARP waits until the client resolves the VIP to h's MAC, which
// the new master's gratuitous ARPs (a burst at once, another after
// garp_master_delay) make it do.
func waitClientARP(t *testing.T, p *testenv.Pair, h *testenv.Host) {
	t.Helper()
	out, err := h.Command("ip", "-o", "link", "show", testenv.EndpointIf).CombinedOutput()
	if err != nil {
		t.Fatalf("ip link in %s: %v\n%s", h.Name, err, out)
	}
	f := strings.Fields(string(out))
	want := ""
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			want = f[i+1]
		}
	}
	deadline := time.Now().Add(7 * time.Second)
	for {
		out, _ := p.Client.Command("ip", "neigh", "show", pairVIP, "dev", testenv.EndpointIf).CombinedOutput()
		if strings.Contains(string(out), "lladdr "+want+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client resolves %s as %q, want %s's MAC %s (gratuitous ARP)", pairVIP, strings.TrimSpace(string(out)), h.Name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getVIP fetches n pages from the VIP over new connections, retrying a
// failed one a few times while a client's ARP entry moves; it fails the
// test when a request cannot be answered within 5s.
func getVIP(t *testing.T, p *testenv.Pair, n int) map[string]int {
	t.Helper()
	hc := p.Client.HTTPClient(time.Second)
	seen := map[string]int{}
	for i := range n {
		deadline := time.Now().Add(5 * time.Second)
		for {
			body, err := getBody(hc, "http://"+pairVIP+"/")
			if err == nil {
				seen[body]++
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d of %d to the VIP: %v\n%s", i+1, n, err, pairState(p))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return seen
}

// pairState shows addresses and neighbours of the pair's hosts, to explain
// a failure.
func pairState(p *testenv.Pair) string {
	var b strings.Builder
	for _, h := range append([]*testenv.Host{p.Client, p.Directors[0], p.Directors[1]}, p.Reals...) {
		for _, args := range [][]string{{"-4", "-br", "addr"}, {"-4", "neigh"}} {
			out, _ := h.Command("ip", args...).CombinedOutput()
			fmt.Fprintf(&b, "%s: ip %s:\n%s", h.Name, strings.Join(args, " "), out)
		}
	}
	return b.String()
}

func checkAnsweredByReals(t *testing.T, p *testenv.Pair, seen map[string]int, n int) {
	t.Helper()
	total := 0
	for _, r := range p.Reals {
		total += seen[r.Name]
	}
	if total != n || len(seen) != len(p.Reals) {
		t.Errorf("%d requests answered by %v, want every real to answer and %d in all", n, seen, n)
	}
}

// keepalived is Debian's keepalived (VRRP only: this kernel has no IPVS)
// running on a host of the pair.
type keepalived struct {
	*testenv.Daemon
	dir string
}

func startKeepalived(t testing.TB, h *testenv.Host, conf string) *keepalived {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
		testenv.RequirePrivileged(t) // a root run without keepalived is a failure below
		t.Fatalf("keepalived is not installed: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := h.StartDaemon("/usr/sbin/keepalived", "-n", "-l", "-D", "-P", "-f", file,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "check.pid"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keepalived{Daemon: d, dir: dir}
	t.Cleanup(func() {
		d.Stop(5 * time.Second)
		k.killVRRP() // its VRRP child, should the parent have been killed
	})
	return k
}

// vrrpPid is the PID of keepalived's VRRP child process, 0 if none.
func (k *keepalived) vrrpPid() int {
	b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (k *keepalived) killVRRP() {
	if pid := k.vrrpPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Two xlbd: election by priority, the BACKUP forwards nothing, failover on
// kill -9 and on link loss with HTTP through the VIP on new connections,
// preemption back, and a clean hand-over with priority 0.
func TestIntegrationVRRPTwoXlbd(t *testing.T) {
	p := testenv.StartPair(t, testenv.PairOptions{})
	for _, r := range p.Reals {
		if _, err := r.ServeHTTP(80); err != nil {
			t.Fatal(err)
		}
	}
	const advert = "0.2"
	confA := vrrpBlock(150, advert, "version 3") + drService(p)
	confB := vrrpBlock(100, advert, "version 3") + drService(p)
	a := startPairXlbd(t, p, 0, confA)
	b := startPairXlbd(t, p, 1, confB)
	waitAfter(t, "director1", a, 0, "VI_1 BACKUP -> MASTER (priority 150", 10*time.Second)
	waitAfter(t, "director2", b, 0, "VI_1 INIT -> BACKUP (priority 100", 10*time.Second)

	// `xlb vrrp` asks each xlbd.
	for _, c := range []struct {
		x     *xlbd
		state string
		prio  int
	}{{a, "MASTER", 150}, {b, "BACKUP", 100}} {
		var st []vrrpStatus
		out := c.x.xlb(t, "vrrp")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("xlb vrrp: %v\n%s", err, out)
		}
		if len(st) != 1 || st[0].Instance != "VI_1" || st[0].State != c.state || st[0].Priority != c.prio ||
			st[0].VirtualRouterID != 51 || len(st[0].VirtualIPs) != 1 || st[0].VirtualIPs[0] != pairVIP+"/32" || st[0].LastReason == "" {
			t.Errorf("xlb vrrp:\n%s\nwant VI_1 %s priority %d, VRID 51, %s/32, a last reason", out, c.state, c.prio, pairVIP)
		}
	}
	// The backup counts the master's adverts (one every 0.2s).
	for deadline := time.Now().Add(3 * time.Second); ; {
		st := vrrpStatusOf(t, b)
		if st.AdvertsReceived > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the BACKUP counted no adverts received in 3s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}

	checkAnsweredByReals(t, p, getVIP(t, p, 10), 10)
	if !servesVIP(t, a) || servesVIP(t, b) {
		t.Fatalf("MASTER serves the VIP: %v, BACKUP serves it: %v; want true, false", servesVIP(t, a), servesVIP(t, b))
	}
	if got := conns(t, a); got != 10 {
		t.Errorf("MASTER scheduled %d connections, want 10", got)
	}
	if hasVIP(t, p.Directors[1]) {
		t.Error("BACKUP holds the VIP")
	}

	// kill -9 of the master: the backup takes over when the adverts stop.
	mb := mark(b)
	a.killed = true
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait(5 * time.Second)
	waitAfter(t, "director2", b, mb, "VI_1 BACKUP -> MASTER (priority 100, advert from 198.18.0.1 timed out)", 5*time.Second)
	if !servesVIP(t, b) {
		t.Fatal("the new MASTER does not serve the VIP")
	}
	// Until its gratuitous ARP, the client may still reach the killed
	// director's pinned data plane; the new master's announcement moves
	// it: new connections are scheduled by director2.
	waitClientARP(t, p, p.Directors[1])
	before := conns(t, b)
	checkAnsweredByReals(t, p, getVIP(t, p, 10), 10)
	if got := conns(t, b) - before; got != 10 {
		t.Errorf("after the failover director2 scheduled %d of 10 new connections", got)
	}

	// xlbd comes back on director1 and preempts.
	mb = mark(b)
	a = runPairXlbd(t, p.Directors[0], a.file, a.pinDir)
	waitAfter(t, "director1", a, 0, "VI_1 BACKUP -> MASTER (priority 150, preempting 198.18.0.3 (priority 100))", 10*time.Second)
	waitAfter(t, "director2", b, mb, "VI_1 MASTER -> BACKUP (priority 100, advert from 198.18.0.1 with priority 150)", 5*time.Second)
	if servesVIP(t, b) || hasVIP(t, p.Directors[1]) {
		t.Fatal("director2 went BACKUP but still serves or holds the VIP")
	}
	waitClientARP(t, p, p.Directors[0])
	before = conns(t, a)
	checkAnsweredByReals(t, p, getVIP(t, p, 6), 6)
	if got := conns(t, a) - before; got != 6 {
		t.Errorf("after preempting, director1 scheduled %d of 6 new connections", got)
	}

	// Link loss on the master: FAULT there, the backup takes over.
	ma, mb := mark(a), mark(b)
	if err := p.SetCarrier(p.Directors[0], false); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "director1", a, ma, "VI_1 MASTER -> FAULT (priority 150, tracked interface eth0 failed)", 5*time.Second)
	waitAfter(t, "director2", b, mb, "VI_1 BACKUP -> MASTER (priority 100, advert from 198.18.0.1 timed out)", 5*time.Second)
	if servesVIP(t, a) {
		t.Error("director1 in FAULT still serves the VIP")
	}
	waitClientARP(t, p, p.Directors[1])
	before = conns(t, b)
	checkAnsweredByReals(t, p, getVIP(t, p, 6), 6)
	if got := conns(t, b) - before; got != 6 {
		t.Errorf("with director1's link down, director2 scheduled %d of 6 new connections", got)
	}
	ma, mb = mark(a), mark(b)
	if err := p.SetCarrier(p.Directors[0], true); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "director1", a, ma, "VI_1 FAULT -> BACKUP", 5*time.Second)
	waitAfter(t, "director1", a, ma, "VI_1 BACKUP -> MASTER (priority 150", 5*time.Second)
	waitAfter(t, "director2", b, mb, "VI_1 MASTER -> BACKUP", 5*time.Second)
	checkAnsweredByReals(t, p, getVIP(t, p, 4), 4)

	// A clean stop: priority 0, the backup takes over after its skew time.
	mb = mark(b)
	if err := a.Stop(5 * time.Second); err != nil {
		t.Fatalf("xlbd stop: %v", err)
	}
	waitAfter(t, "director2", b, mb, "VI_1 BACKUP -> MASTER (priority 100, 198.18.0.1 gave up mastership (priority 0))", 5*time.Second)
	if !strings.Contains(a.Log(), "VI_1 MASTER -> INIT (priority 150, stopping)") {
		t.Errorf("the stopped xlbd did not log its hand-over:\n%s", a.Log())
	}
	if servesVIP(t, a) {
		t.Error("a stopped VRRP director left the VIP's service in its data plane")
	}
	checkAnsweredByReals(t, p, getVIP(t, p, 4), 4)
}

// kaConf is a keepalived.conf with one vrrp_instance.
func kaConf(prio int, advert string, extra ...string) string {
	return kaGlobal + vrrpBlock(prio, advert, extra...)
}

const kaGlobal = "global_defs {\n    router_id ka\n    enable_script_security\n    script_user root\n}\n"

// xlbd against keepalived 2.2.7 on the wire.
func TestIntegrationVRRPKeepalivedInterop(t *testing.T) {
	tests := []struct {
		desc  string
		extra []string // in both vrrp_instance blocks
		// advert is advert_int; version 2 takes whole seconds.
		advert string
		// kill fails xlbd with kill -9 (the peer waits its master down
		// interval), else with a clean stop (priority 0: its skew time).
		kill bool
	}{
		{"v2 with PASS", []string{"version 2", "authentication {\n        auth_type PASS\n        auth_pass xlbtest\n    }"}, "1", false},
		{"v3", []string{"version 3"}, "0.2", true},
		{"v3 unicast", []string{"version 3", "unicast_src_ip SELF", "unicast_peer {\n        PEER\n    }"}, "0.2", true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := testenv.StartPair(t, testenv.PairOptions{Reals: 1})
			if _, err := p.Reals[0].ServeHTTP(80); err != nil {
				t.Fatal(err)
			}
			extra := func(self, peer *testenv.Host) []string {
				var out []string
				for _, e := range tt.extra {
					e = strings.ReplaceAll(e, "SELF", self.Addr.String())
					out = append(out, strings.ReplaceAll(e, "PEER", peer.Addr.String()))
				}
				return out
			}
			xd, kd := p.Directors[0], p.Directors[1]
			// keepalived first, at priority 100: it is master alone.
			k := startKeepalived(t, kd, kaConf(100, tt.advert, extra(kd, xd)...))
			if err := k.WaitLog("(VI_1) Entering MASTER STATE", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			// xlbd at 150 preempts it.
			mk := mark(k)
			x := startPairXlbd(t, p, 0, vrrpBlock(150, tt.advert, extra(xd, kd)...)+drService(p))
			waitAfter(t, "xlbd", x, 0, "VI_1 BACKUP -> MASTER (priority 150, preempting 198.18.0.3 (priority 100))", 10*time.Second)
			waitAfter(t, "keepalived", k, mk, "(VI_1) Entering BACKUP STATE", 5*time.Second)
			if !vipSettles(t, kd, false) {
				t.Error("keepalived in BACKUP still holds the VIP")
			}
			checkAnsweredByReals(t, p, getVIP(t, p, 3), 3)

			// kill -9 (or stop) of xlbd: keepalived takes over.
			mk = mark(k)
			if tt.kill {
				x.killed = true
				x.Signal(syscall.SIGKILL)
				x.Wait(5 * time.Second)
			} else if err := x.Stop(5 * time.Second); err != nil {
				t.Fatalf("xlbd stop: %v", err)
			}
			waitAfter(t, "keepalived", k, mk, "(VI_1) Entering MASTER STATE", 10*time.Second)
			if !vipSettles(t, kd, true) {
				t.Error("keepalived became MASTER without the VIP")
			}

			// xlbd restarts at priority 90: it stays BACKUP and its data
			// plane serves nothing for the VIP.
			conf90 := vrrpBlock(90, tt.advert, extra(xd, kd)...) + drService(p)
			os.WriteFile(x.file, []byte(conf90), 0o644)
			x = runPairXlbd(t, xd, x.file, x.pinDir)
			waitAfter(t, "xlbd", x, 0, "VI_1 INIT -> BACKUP (priority 90", 5*time.Second)
			if servesVIP(t, x) {
				t.Error("xlbd BACKUP behind keepalived serves the VIP")
			}
			// A killed xlbd left the VIP on eth0; the new one, BACKUP,
			// removed it (else it would answer ARP for it).
			if hasVIP(t, xd) {
				t.Error("xlbd BACKUP kept the VIP its killed predecessor left on eth0")
			}

			// A clean stop of keepalived: priority 0, xlbd takes over.
			if err := k.Stop(5 * time.Second); err != nil {
				t.Logf("keepalived stop: %v", err)
			}
			waitAfter(t, "xlbd", x, 0, "VI_1 BACKUP -> MASTER (priority 90, 198.18.0.3 gave up mastership (priority 0))", 10*time.Second)
			if !servesVIP(t, x) {
				t.Fatal("xlbd MASTER does not serve the VIP")
			}
			checkAnsweredByReals(t, p, getVIP(t, p, 3), 3)
		})
	}
}

// With nopreempt a higher-priority xlbd leaves keepalived master; the link
// loss of keepalived moves the VIP to xlbd, and a tracker then drops
// xlbd's priority below keepalived's, which preempts it.
func TestIntegrationVRRPKeepalivedTrackers(t *testing.T) {
	p := testenv.StartPair(t, testenv.PairOptions{Reals: 1})
	if _, err := p.Reals[0].ServeHTTP(80); err != nil {
		t.Fatal(err)
	}
	kd := p.Directors[1]
	dir := t.TempDir()
	track := filepath.Join(dir, "weight")
	notifyLog := filepath.Join(dir, "notify.log")
	notify := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(notify, []byte("#!/bin/sh\necho \"$@\" >> "+notifyLog+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k := startKeepalived(t, kd, kaConf(100, "0.2", "version 3", "state BACKUP"))
	if err := k.WaitLog("(VI_1) Entering MASTER STATE", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("vrrp_track_file weight {\n    file %s\n    weight -100\n    init_file 0 overwrite\n}\n", track) +
		vrrpBlock(150, "0.2", "version 3", "state BACKUP", "nopreempt", "notify "+notify,
			"track_file {\n        weight\n    }") + drService(p)
	x := startPairXlbd(t, p, 0, conf)
	waitAfter(t, "xlbd", x, 0, "VI_1 INIT -> BACKUP (priority 150", 5*time.Second)
	// nopreempt: several master down intervals (each under 0.8s) pass
	// and xlbd, although higher, stays BACKUP.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(x.Log(), "-> MASTER") || servesVIP(t, x) {
			t.Fatalf("xlbd with nopreempt preempted keepalived:\n%s", x.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// keepalived's link goes down: xlbd takes over, and is master.
	if err := p.SetCarrier(kd, false); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "xlbd", x, 0, "VI_1 BACKUP -> MASTER (priority 150, advert from 198.18.0.3 timed out)", 5*time.Second)
	if err := k.WaitLog("(VI_1) Entering FAULT STATE", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	checkAnsweredByReals(t, p, getVIP(t, p, 3), 3)
	mk := mark(k)
	if err := p.SetCarrier(kd, true); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "keepalived", k, mk, "(VI_1) Entering BACKUP STATE", 5*time.Second)

	// The tracked file drops xlbd to 150-100 = 50, below keepalived's
	// 100: keepalived preempts.
	mx := mark(x)
	if err := os.WriteFile(track, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "xlbd", x, mx, "effective priority changed", 5*time.Second)
	waitAfter(t, "xlbd", x, mx, "VI_1 MASTER -> BACKUP (priority 50, advert from 198.18.0.3 with priority 100)", 10*time.Second)
	if servesVIP(t, x) {
		t.Error("xlbd back in BACKUP still serves the VIP")
	}
	// The notify script saw each change with keepalived's four arguments.
	want := "INSTANCE VI_1 BACKUP 150\nINSTANCE VI_1 MASTER 150\nINSTANCE VI_1 BACKUP 50\n"
	deadline = time.Now().Add(3 * time.Second)
	for {
		got, _ := os.ReadFile(notifyLog)
		if string(got) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify script wrote:\n%s\nwant:\n%s", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The config becomes one unit per instance or sync group with keepalived's
// semantics; a reload compares these.
func TestVRRPSpecs(t *testing.T) {
	src := `global_defs {
    vrrp_garp_master_delay 0
    vrrp_mcast_group4 224.0.0.19
}
vrrp_script chk {
    script "/bin/true x"
    interval 2
    weight -20
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    priority 120
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        198.18.0.100/24 dev eth1 label eth1:vip brd 198.18.0.255 scope site
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64
    }
    track_script {
        chk
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    version 3
    virtual_ipaddress {
        198.18.0.101
    }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 3
    version 3
    dont_track_primary
    virtual_ipaddress {
        198.18.0.102
    }
}
vrrp_sync_group G {
    group {
        B
        C
    }
    track_script {
        chk
    }
}
`
	cfg, err := config.Parse("x.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := vrrpSpecs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedKeys(specs), []string{"vrrp_instance A", "vrrp_sync_group G"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("units %v, want %v", got, want)
	}
	a := specs["vrrp_instance A"].Instances[0]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"auth", [2]any{a.AuthType, a.AuthPass}, [2]any{vrrp.AuthPass, "secret"}},
		{"version", a.Version, 2},
		{"priority", a.Priority, uint8(120)},
		{"garp delay (0: no second round)", a.GARPMasterDelay < 0, true},
		{"multicast group", a.Group, netip.MustParseAddr("224.0.0.19")},
		{"VIP", a.VIPs, []vrrp.VIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24"), Dev: "eth1", Label: "eth1:vip",
			Broadcast: netip.MustParseAddr("198.18.0.255"), Scope: "site"}}},
		{"excluded", a.ExcludedVIPs, []vrrp.VIP{{Prefix: netip.MustParsePrefix("2001:db8::100/64")}}},
		{"owned addresses", specs["vrrp_instance A"].VIPs[0], []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("2001:db8::100")}},
		{"trackers", a.Trackers, []vrrp.Tracker{
			&vrrp.InterfaceTracker{Interface: "eth0"},
			&vrrp.ScriptTracker{Script: "chk", Args: []string{"/bin/true", "x"}, Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1, Weight: -20},
		}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("instance A %s: %#v, want %#v", c.what, c.got, c.want)
		}
	}
	g := specs["vrrp_sync_group G"]
	if len(g.Instances) != 2 || g.Group != "G" {
		t.Fatalf("group G: %+v", g)
	}
	// The group's script tracker faults each member (weight 0); C does
	// not track its interface.
	wantB := []vrrp.Tracker{
		&vrrp.InterfaceTracker{Interface: "eth0"},
		&vrrp.ScriptTracker{Script: "chk", Args: []string{"/bin/true", "x"}, Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1},
	}
	if !reflect.DeepEqual(g.Instances[0].Trackers, wantB) || !reflect.DeepEqual(g.Instances[1].Trackers, wantB[1:]) {
		t.Errorf("group trackers: B %#v, C %#v", g.Instances[0].Trackers, g.Instances[1].Trackers)
	}

	// Unchanged config: equal specs (nothing restarts); one priority
	// changed: only that unit differs.
	again, _ := vrrpSpecs(cfg)
	if !reflect.DeepEqual(again, specs) {
		t.Error("the same config gives different specs: every reload would restart")
	}
	cfg2, err := config.Parse("x.conf", []byte(strings.Replace(src, "priority 120", "priority 130", 1)))
	if err != nil {
		t.Fatal(err)
	}
	changed, _ := vrrpSpecs(cfg2)
	if reflect.DeepEqual(changed["vrrp_instance A"], specs["vrrp_instance A"]) || !reflect.DeepEqual(changed["vrrp_sync_group G"], specs["vrrp_sync_group G"]) {
		t.Error("a priority change of A must change A's spec and only A's")
	}
}

// getBody GETs url and returns the trimmed body of a 200 answer.
func getBody(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// prober sends a probe every 10ms and records when answers arrive.
type prober struct {
	mu      sync.Mutex
	answers []time.Time
}

func (pr *prober) answered() {
	pr.mu.Lock()
	pr.answers = append(pr.answers, time.Now())
	pr.mu.Unlock()
}

// countSince is the number of answers after t.
func (pr *prober) countSince(t time.Time) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, a := range pr.answers {
		if a.After(t) {
			n++
		}
	}
	return n
}

// gap is the longest silence that began at or after the last answer
// before the event.
func (pr *prober) gap(event time.Time) time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	start := 0
	for i, a := range pr.answers {
		if !a.After(event) {
			start = i
		}
	}
	var g time.Duration
	for i := start; i+1 < len(pr.answers); i++ {
		g = max(g, pr.answers[i+1].Sub(pr.answers[i]))
	}
	return g
}

// run sends with send every 10ms and reads with recv (which must time out
// by itself) until ctx ends; recv reports whether it read an answer.
func (pr *prober) run(ctx context.Context, send func(seq int) error, recv func() bool) {
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			send(seq)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		for ctx.Err() == nil {
			if recv() {
				pr.answered()
			}
		}
	}()
}

// pingVIP probes the VIP with ICMP echo from the client: whichever
// director holds the address answers, xlbd or keepalived.
func pingVIP(tb testing.TB, ctx context.Context, p *testenv.Pair) *prober {
	tb.Helper()
	c, err := p.Client.ListenPacket("ip4:icmp", p.Client.Addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	vip := &net.IPAddr{IP: net.ParseIP(pairVIP)}
	id := os.Getpid() & 0xffff
	pr := &prober{}
	buf := make([]byte, 1500)
	pr.run(ctx, func(seq int) error {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq & 0xffff, Data: []byte("xlb")}}
		b, err := m.Marshal(nil)
		if err == nil {
			_, err = c.WriteTo(b, vip)
		}
		return err
	}, func() bool {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := c.ReadFrom(buf)
		if err != nil || from.String() != pairVIP {
			return false
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			return false
		}
		e, ok := m.Body.(*icmp.Echo)
		return ok && e.ID == id
	})
	return pr
}

// udpVIP probes the virtual service VIP:53 (UDP echo on the reals, DR):
// only a director whose data plane serves the VIP answers.
func udpVIP(tb testing.TB, ctx context.Context, p *testenv.Pair) *prober {
	tb.Helper()
	c, err := p.Client.ListenPacket("udp4", p.Client.Addr.String()+":0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	dst := &net.UDPAddr{IP: net.ParseIP(pairVIP), Port: 53}
	pr := &prober{}
	buf := make([]byte, 1500)
	pr.run(ctx, func(seq int) error {
		_, err := c.WriteTo([]byte("probe "+strconv.Itoa(seq)), dst)
		return err
	}, func() bool {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _, err := c.ReadFrom(buf)
		return err == nil
	})
	return pr
}

// gapRun is one failover of a pair of directors running impl.
type gapRun struct {
	ping, service time.Duration // service: xlbd only
}

// failoverGap builds a pair, makes director1 (priority 150) master over
// director2 (100), fails director1 as event says, and measures how long
// the VIP went unanswered.
func failoverGap(b *testing.B, impl, event, advert string) gapRun {
	b.Helper()
	p := testenv.StartPair(b, testenv.PairOptions{Reals: 1})
	if _, err := p.Reals[0].ServeUDPEcho(53); err != nil {
		b.Fatal(err)
	}
	udpService := fmt.Sprintf("virtual_server %s 53 {\n    lvs_sched rr\n    lvs_method DR\n    protocol UDP\n    real_server %s 53 {\n        weight 1\n    }\n}\n", pairVIP, p.Reals[0].Addr)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	var (
		fail     func()
		newMastr func() int
		waitNew  func(from int)
		from     int
		withSvc  bool
	)
	switch impl {
	case "xlbd":
		a := startPairXlbd(b, p, 0, vrrpBlock(150, advert, "version 3")+udpService)
		bx := startPairXlbd(b, p, 1, vrrpBlock(100, advert, "version 3")+udpService)
		waitAfter(b, "director1", a, 0, "VI_1 BACKUP -> MASTER (priority 150", 15*time.Second)
		waitAfter(b, "director2", bx, 0, "VI_1 INIT -> BACKUP", 15*time.Second)
		newMastr = func() int { return mark(bx) }
		waitNew = func(from int) { waitAfter(b, "director2", bx, from, "VI_1 BACKUP -> MASTER", 15*time.Second) }
		fail = func() {
			switch event {
			case "stop":
				a.Signal(syscall.SIGTERM)
			case "crash":
				a.killed = true
				a.Signal(syscall.SIGKILL)
				p.SetCarrier(p.Directors[0], false)
			case "link":
				p.SetCarrier(p.Directors[0], false)
			}
		}
		withSvc = true
	case "keepalived":
		a := startKeepalived(b, p.Directors[0], kaConf(150, advert, "version 3"))
		k := startKeepalived(b, p.Directors[1], kaConf(100, advert, "version 3"))
		if err := a.WaitLog("(VI_1) Entering MASTER STATE", 15*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := k.WaitLog("(VI_1) Entering BACKUP STATE", 15*time.Second); err != nil {
			b.Fatal(err)
		}
		newMastr = func() int { return mark(k) }
		waitNew = func(from int) {
			waitAfter(b, "keepalived on director2", k, from, "(VI_1) Entering MASTER STATE", 15*time.Second)
		}
		fail = func() {
			switch event {
			case "stop":
				a.Signal(syscall.SIGTERM)
			case "crash":
				a.killVRRP()
				a.Signal(syscall.SIGKILL)
				p.SetCarrier(p.Directors[0], false)
			case "link":
				p.SetCarrier(p.Directors[0], false)
			}
		}
	}
	ping := pingVIP(b, ctx, p)
	var svc *prober
	if withSvc {
		svc = udpVIP(b, ctx, p)
	}
	settled := func(pr *prober, since time.Time) bool { return pr == nil || pr.countSince(since) >= 20 }
	waitUntil := func(what string, cond func() bool) {
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("%s %s: %s within 15s", impl, event, what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	start := time.Now()
	waitUntil("answers before the failure", func() bool { return settled(ping, start) && settled(svc, start) })

	from = newMastr()
	at := time.Now()
	fail()
	waitNew(from)
	after := time.Now()
	waitUntil("answers after the failover", func() bool { return settled(ping, after) && settled(svc, after) })
	cancel()
	r := gapRun{ping: ping.gap(at)}
	if svc != nil {
		r.service = svc.gap(at)
	}
	return r
}

// BenchmarkVRRPFailoverGap measures how long the VIP goes unanswered when
// the master fails, for xlbd and for keepalived 2.2.7 on the same topology
// in the same run: a clean stop (priority 0), a crash (kill -9 and link
// loss together) and a link loss alone, with advert_int 1 and 0.1. The
// ping gap (any director holding the address answers) compares the two;
// xlbd's service gap is UDP through the virtual service, which only a
// director whose data plane serves the VIP answers.
//
//	go test -run '^$' -bench VRRPFailoverGap -benchtime 1x ./cmd/xlbd/
func BenchmarkVRRPFailoverGap(b *testing.B) {
	testenv.RequirePrivileged(b)
	if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
		b.Skip("keepalived is not installed: nothing to compare with")
	}
	for _, advert := range []string{"1", "0.1"} {
		for _, event := range []string{"stop", "crash", "link"} {
			b.Run(fmt.Sprintf("advert_int=%s/%s", advert, event), func(b *testing.B) {
				var x, k gapRun
				for range b.N {
					xr := failoverGap(b, "xlbd", event, advert)
					kr := failoverGap(b, "keepalived", event, advert)
					x.ping += xr.ping
					x.service += xr.service
					k.ping += kr.ping
				}
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
				b.ReportMetric(ms(x.ping), "xlbd-ms")
				b.ReportMetric(ms(x.service), "xlbd-service-ms")
				b.ReportMetric(ms(k.ping), "keepalived-ms")
				if k.ping > 0 {
					b.ReportMetric(float64(x.ping)/float64(k.ping), "xlbd/keepalived")
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// The Director serves every VIP without VRRP, none until an instance is
// master, and a master instance's addresses (announced and excluded) only.
func TestVRRPOwnership(t *testing.T) {
	src := `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    real_server 198.18.1.2 80 {
        weight 1
    }
}
virtual_server 198.18.0.101 80 {
    lvs_sched rr
    real_server 198.18.1.2 80 {
        weight 1
    }
}
virtual_server 198.18.0.102 80 {
    lvs_sched rr
    real_server 198.18.1.2 80 {
        weight 1
    }
}
`
	cfg, err := config.Parse("x.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st, err := control.Desired(cfg, control.Limits{MaxServices: 16, RingSize: 64, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	var applied *control.State
	d := control.NewDirector(func(s *control.State) error { applied = s; return nil }, nil)
	if err := d.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	served := func() string {
		var out []string
		for _, s := range applied.Services {
			out = append(out, s.Endpoint.Addr.String())
		}
		return strings.Join(out, " ")
	}
	s := newVRRPSubsystem(d, slog.New(slog.NewTextHandler(io.Discard, nil)))
	vi1 := []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")}
	vi2 := []netip.Addr{netip.MustParseAddr("198.18.0.102")}
	u := &vrrpUnit{}
	steps := []struct {
		desc    string
		do      func()
		enabled bool
		want    string
	}{
		{"no VRRP: every VIP", func() { s.setOwned() }, false, "198.18.0.100 198.18.0.101 198.18.0.102"},
		{"VRRP, all backup: none", func() { s.setOwned() }, true, ""},
		{"VI_1 master", func() { s.transition(u, vrrp.Transition{Instance: "VI_1", To: vrrp.StateMaster}, vi1) }, true, "198.18.0.100 198.18.0.101"},
		{"VI_2 master too", func() { s.transition(u, vrrp.Transition{Instance: "VI_2", To: vrrp.StateMaster}, vi2) }, true, "198.18.0.100 198.18.0.101 198.18.0.102"},
		{"VI_1 fault", func() { s.transition(u, vrrp.Transition{Instance: "VI_1", To: vrrp.StateFault}, vi1) }, true, "198.18.0.102"},
		{"VI_2 stopping", func() { s.transition(u, vrrp.Transition{Instance: "VI_2", To: vrrp.StateInit}, vi2) }, true, ""},
	}
	for _, step := range steps {
		s.enabled = step.enabled
		step.do()
		if got := served(); got != step.want {
			t.Errorf("%s: data plane serves %q, want %q", step.desc, got, step.want)
		}
	}
}

// SIGHUP with the vrrp_instance unchanged leaves it running untouched; a
// changed one restarts (priority 0 first), and the peer takes over.
func TestIntegrationVRRPReload(t *testing.T) {
	p := testenv.StartPair(t, testenv.PairOptions{Reals: 1})
	if _, err := p.Reals[0].ServeHTTP(80); err != nil {
		t.Fatal(err)
	}
	a := startPairXlbd(t, p, 0, vrrpBlock(150, "0.2", "version 3")+drService(p))
	b := startPairXlbd(t, p, 1, vrrpBlock(100, "0.2", "version 3")+drService(p))
	waitAfter(t, "director1", a, 0, "VI_1 BACKUP -> MASTER (priority 150", 10*time.Second)
	waitAfter(t, "director2", b, 0, "VI_1 INIT -> BACKUP", 10*time.Second)

	// A new virtual server, the same instance: no transition.
	ma := mark(a)
	other := strings.ReplaceAll(drService(p), " 80 {", " 8080 {")
	a.rewrite(t, vrrpBlock(150, "0.2", "version 3")+drService(p)+other)
	a.Signal(syscall.SIGHUP)
	waitAfter(t, "director1", a, ma, "configuration reloaded", 5*time.Second)
	if log := a.Log()[ma:]; strings.Contains(log, "VI_1 MASTER ->") || strings.Contains(log, "restarting") {
		t.Fatalf("a reload that left the vrrp_instance alone touched it:\n%s", log)
	}
	if !servesVIP(t, a) {
		t.Fatal("after the reload the MASTER no longer serves the VIP")
	}
	checkAnsweredByReals(t, p, getVIP(t, p, 2), 2)

	// Priority 150 -> 90: the instance restarts, gives up mastership and
	// comes back as backup behind director2.
	ma, mb := mark(a), mark(b)
	a.rewrite(t, vrrpBlock(90, "0.2", "version 3")+drService(p)+other)
	a.Signal(syscall.SIGHUP)
	waitAfter(t, "director1", a, ma, "vrrp: configuration changed: restarting vrrp_instance VI_1", 5*time.Second)
	waitAfter(t, "director1", a, ma, "VI_1 MASTER -> INIT (priority 150, stopping)", 5*time.Second)
	waitAfter(t, "director2", b, mb, "VI_1 BACKUP -> MASTER (priority 100, 198.18.0.1 gave up mastership (priority 0))", 5*time.Second)
	waitAfter(t, "director1", a, ma, "VI_1 INIT -> BACKUP (priority 90", 5*time.Second)
	if servesVIP(t, a) || !servesVIP(t, b) {
		t.Fatalf("after the restart director1 serves the VIP: %v, director2: %v; want false, true", servesVIP(t, a), servesVIP(t, b))
	}
	checkAnsweredByReals(t, p, getVIP(t, p, 2), 2)
}

// syncConf is a vrrp_sync_group of VI_1 (198.18.0.100) and VI_2
// (198.18.0.101) with a group notify program, VI_2 tracking a file with
// weight 0, and a DR service on each VIP.
func syncConf(p *testenv.Pair, prio int, track, notify string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_track_file f {\n    file %s\n    weight 0\n}\n", track)
	for i, vip := range []string{"198.18.0.100", "198.18.0.101"} {
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int 0.2\n    version 3\n", i+1, 51+i, prio)
		if i == 1 {
			b.WriteString("    track_file {\n        f\n    }\n")
		}
		fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s/32\n    }\n}\n", vip)
		fmt.Fprintf(&b, "virtual_server %s 80 {\n    lvs_sched rr\n    lvs_method DR\n    protocol TCP\n    real_server %s 80 {\n        weight 1\n    }\n}\n", vip, p.Reals[0].Addr)
	}
	fmt.Fprintf(&b, "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    notify %s\n}\n", notify)
	return b.String()
}

// A fault of one member of a sync group moves the whole group to the
// peer; the group's notify program sees the group change.
func TestIntegrationVRRPSyncGroup(t *testing.T) {
	p := testenv.StartPair(t, testenv.PairOptions{Reals: 1, VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")}})
	if _, err := p.Reals[0].ServeHTTP(80); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// One notify program per director, writing its own log.
	notifyA, notifyB := filepath.Join(dir, "a.sh"), filepath.Join(dir, "b.sh")
	for _, n := range []string{notifyA, notifyB} {
		if err := os.WriteFile(n, []byte("#!/bin/sh\necho \"$@\" >> "+n+".log\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	trackA, trackB := filepath.Join(dir, "a.track"), filepath.Join(dir, "b.track")
	a := startPairXlbd(t, p, 0, syncConf(p, 150, trackA, notifyA))
	b := startPairXlbd(t, p, 1, syncConf(p, 100, trackB, notifyB))
	for _, vi := range []string{"VI_1", "VI_2"} {
		waitAfter(t, "director1", a, 0, vi+" BACKUP -> MASTER (priority 150", 10*time.Second)
		waitAfter(t, "director2", b, 0, vi+" INIT -> BACKUP", 10*time.Second)
	}
	hc := p.Client.HTTPClient(2 * time.Second)
	for _, vip := range []string{"198.18.0.100", "198.18.0.101"} {
		if body, err := getBody(hc, "http://"+vip+"/"); err != nil || body != "real1" {
			t.Fatalf("GET via %s: %q, %v", vip, body, err)
		}
	}

	// VI_2's tracked file faults it on director1; VI_1 follows into FAULT
	// and director2 takes both.
	ma, mb := mark(a), mark(b)
	if err := os.WriteFile(trackA, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, "director1", a, ma, "VI_2 MASTER -> FAULT (priority 150, tracked file "+trackA+" failed)", 5*time.Second)
	waitAfter(t, "director1", a, ma, "VI_1 MASTER -> FAULT (priority 150, a member of sync group G is in fault)", 5*time.Second)
	for _, vi := range []string{"VI_1", "VI_2"} {
		waitAfter(t, "director2", b, mb, vi+" BACKUP -> MASTER (priority 100", 5*time.Second)
	}
	if servesVIP(t, a) {
		t.Error("director1 in FAULT serves a VIP")
	}
	for _, vip := range []string{"198.18.0.100", "198.18.0.101"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			body, err := getBody(hc, "http://"+vip+"/")
			if err == nil && body == "real1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET via %s after the group moved: %q, %v", vip, body, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wantNotify := func(file, want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			got, _ := os.ReadFile(file)
			if string(got) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s:\n%s\nwant:\n%s", file, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wantNotify(notifyA+".log", "GROUP G BACKUP 0\nGROUP G MASTER 0\nGROUP G FAULT 0\n")
	wantNotify(notifyB+".log", "GROUP G BACKUP 0\nGROUP G MASTER 0\n")
}

// VRRP scripts run as keepalived would run them: their own user, else
// script_user, else keepalived_script when it exists, else as xlbd.
func TestVRRPRunAs(t *testing.T) {
	users := map[string]*user.User{
		"alice":             {Uid: "1001", Gid: "1001"},
		"keepalived_script": {Uid: "990", Gid: "990"},
	}
	groups := map[string]*user.Group{"ops": {Gid: "2000"}}
	lookup := func(withKS bool) func(string) (*user.User, error) {
		return func(n string) (*user.User, error) {
			if u := users[n]; u != nil && (withKS || n != "keepalived_script") {
				return u, nil
			}
			return nil, user.UnknownUserError(n)
		}
	}
	lookupGroup := func(n string) (*user.Group, error) {
		if g := groups[n]; g != nil {
			return g, nil
		}
		return nil, user.UnknownGroupError(n)
	}
	for _, tc := range []struct {
		desc          string
		global, group string // script_user USER GROUP
		script        *config.Script
		withKS        bool
		want          *vrrp.RunAs
		wantErr       bool
	}{
		{"nothing named, no keepalived_script: xlbd's user", "", "", &config.Script{Cmd: "x"}, false, nil, false},
		{"nothing named: keepalived_script", "", "", &config.Script{Cmd: "x"}, true, &vrrp.RunAs{UID: 990, GID: 990}, false},
		{"script_user with group", "alice", "ops", &config.Script{Cmd: "x"}, true, &vrrp.RunAs{UID: 1001, GID: 2000}, false},
		{"the script's user wins", "keepalived_script", "", &config.Script{Cmd: "x", User: "alice"}, true, &vrrp.RunAs{UID: 1001, GID: 1001}, false},
		{"unknown user", "", "", &config.Script{Cmd: "x", User: "bob"}, true, nil, true},
		{"unknown group", "alice", "nogroup", &config.Script{Cmd: "x"}, true, nil, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.Global.ScriptUser, cfg.Global.ScriptGroup = tc.global, tc.group
			// scriptUser (shared with health checking) looks the default
			// user up on this system: skip rows it cannot see.
			if tc.global == "" && tc.script.User == "" {
				if _, err := user.Lookup("keepalived_script"); (err == nil) != tc.withKS {
					t.Skip("this system's keepalived_script user does not match the row")
				}
			}
			got, err := vrrpRunAs(cfg, tc.script, lookup(tc.withKS), lookupGroup)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("vrrpRunAs = %+v, %v; want %+v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// IPv6: xlbd and keepalived elect over VRRPv3 from link-local sources, the
// master answers neighbour solicitations for the VIP and xlbd forwards it.
func TestIntegrationVRRPIPv6(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	p := testenv.StartPair(t, testenv.PairOptions{Reals: 1, VIPs: []netip.Addr{vip}})
	if _, err := p.Reals[0].ServeHTTP(80); err != nil {
		t.Fatal(err)
	}
	xd, kd := p.Directors[0], p.Directors[1]
	block := func(prio int) string { return vrrpBlockFor(vip.String()+"/128", prio, "0.2") }
	svc := fmt.Sprintf("virtual_server %s 80 {\n    lvs_sched rr\n    lvs_method DR\n    protocol TCP\n    real_server %s 80 {\n        weight 1\n    }\n}\n", vip, p.Reals[0].Addr6)
	k := startKeepalived(t, kd, kaGlobal+block(100))
	if err := k.WaitLog("(VI_1) Entering MASTER STATE", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mk := mark(k)
	x := startPairXlbd(t, p, 0, block(150)+svc)
	waitAfter(t, "xlbd", x, 0, "VI_1 BACKUP -> MASTER (priority 150, preempting fe80::", 10*time.Second)
	waitAfter(t, "keepalived", k, mk, "(VI_1) Entering BACKUP STATE", 5*time.Second)
	url := "http://[" + vip.String() + "]/"
	hc := p.Client.HTTPClient(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		body, err := getBody(hc, url)
		if err == nil && body == "real1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s through xlbd: %q, %v\n%s", url, body, err, pairState(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := conns(t, x); got < 1 {
		t.Errorf("xlbd scheduled %d connections for the IPv6 VIP, want at least 1", got)
	}

	// xlbd stops: priority 0, keepalived takes the address.
	mk = mark(k)
	if err := x.Stop(5 * time.Second); err != nil {
		t.Fatalf("xlbd stop: %v", err)
	}
	waitAfter(t, "keepalived", k, mk, "(VI_1) Entering MASTER STATE", 5*time.Second)
	out, err := kd.Command("ip", "-6", "-o", "addr", "show", "dev", testenv.EndpointIf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " "+vip.String()+"/128") {
		t.Errorf("keepalived MASTER does not hold %s: %v\n%s", vip, err, out)
	}
	out, _ = xd.Command("ip", "-6", "-o", "addr", "show", "dev", testenv.EndpointIf).CombinedOutput()
	if strings.Contains(string(out), " "+vip.String()+"/128") {
		t.Errorf("the stopped xlbd left %s on eth0:\n%s", vip, out)
	}
}
