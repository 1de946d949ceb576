package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

var (
	binDir  string // holds xlbd and xlb, built once by TestMain
	pinSeq  atomic.Int32
	vipHTTP = "198.18.0.100:80"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xlbd-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, pkg := range []string{".", "../xlb"} {
		name := filepath.Base(pkg)
		if pkg == "." {
			name = "xlbd"
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// xlbd is a running daemon on a topology's director.
type xlbd struct {
	*testenv.Daemon
	file   string
	pinDir string
	killed bool // by the test: its exit status says nothing
}

// rewrite replaces the daemon's config file (send SIGHUP to apply it).
func (x *xlbd) rewrite(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(x.file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startXlbd writes conf and runs xlbd with it on the director, attached to
// both director interfaces; it returns once xlbd is forwarding.
func startXlbd(t *testing.T, topo *testenv.Topology, conf string) *xlbd {
	t.Helper()
	file := filepath.Join(t.TempDir(), "xlb.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbtest-%d-%d", os.Getpid(), pinSeq.Add(1))
	d, err := topo.Director.StartDaemon(filepath.Join(binDir, "xlbd"), "-f", file, "--bpffs", pinDir,
		"-i", testenv.DirectorFrontIf, "-i", testenv.DirectorLANIf, "--flow-table-size", "65536")
	if err != nil {
		t.Fatal(err)
	}
	x := &xlbd{Daemon: d, file: file, pinDir: pinDir}
	t.Cleanup(func() {
		if err := d.Stop(5 * time.Second); err != nil && !x.killed {
			t.Errorf("xlbd did not stop cleanly: %v\n%s", err, d.Log())
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

// xlb runs the CLI against the daemon's pins.
func (x *xlbd) xlb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "xlb"), append([]string{"--bpffs", x.pinDir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xlb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// serveHTTP starts an HTTP server naming itself on port 80 of every real.
func serveHTTP(t *testing.T, topo *testenv.Topology) {
	t.Helper()
	for _, r := range topo.Reals {
		if _, err := r.ServeHTTP(80); err != nil {
			t.Fatal(err)
		}
	}
}

// getMany sends n requests, each on a new TCP connection, and counts which
// real answered.
func getMany(t *testing.T, client *testenv.Host, url string, n int) map[string]int {
	t.Helper()
	hc := client.HTTPClient(3 * time.Second)
	seen := make(map[string]int)
	for i := range n {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("request %d of %d to %s: %v", i+1, n, url, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: read body: %v", i+1, err)
		}
		seen[strings.TrimSpace(string(body))]++
	}
	return seen
}

func checkEvenSpread(t *testing.T, seen map[string]int, reals []*testenv.Host, n, tolerance int) {
	t.Helper()
	want := n / len(reals)
	total := 0
	for _, r := range reals {
		got := seen[r.Name]
		total += got
		if got < want-tolerance || got > want+tolerance {
			t.Errorf("%s answered %d of %d requests, want %d±%d (all: %v)", r.Name, got, n, want, tolerance, seen)
		}
	}
	if total != n {
		t.Errorf("reals answered %d of %d requests; answers: %v", total, n, seen)
	}
}

func vsConf(method, proto string, port int, reals []*testenv.Host, realPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "! xlbd integration test\nvirtual_server 198.18.0.100 %d {\n    lvs_sched rr\n    lvs_method %s\n    protocol %s\n", port, method, proto)
	for _, r := range reals {
		fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n    }\n", r.Addr, realPort)
	}
	b.WriteString("}\n")
	return b.String()
}

func TestIntegrationHTTPRoundRobin(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			serveHTTP(t, topo)
			x := startXlbd(t, topo, vsConf(method, "TCP", 80, topo.Reals, 80))

			const n = 100
			seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", n)
			checkEvenSpread(t, seen, topo.Reals, n, 2)

			// The data plane, not the kernel, did the work: xlb list shows
			// every connection on a real.
			checkListedConns(t, x.xlb(t, "list"), topo.Reals, 80, n/2)
		})
	}
}

// listedConns reads the Conns column (connections scheduled in all) of
// `xlb list` per real address:port.
func listedConns(out string) map[string]int { return listedColumn(out, "Conns") }

// listedColumn reads the column named col of `xlb list`'s real lines per
// real address:port, found by the header line.
func listedColumn(out, col string) map[string]int {
	got := make(map[string]int)
	idx := -1
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "->" {
			continue
		}
		if f[1] == "RemoteAddress:Port" {
			idx = slices.Index(f, col)
			continue
		}
		if idx > 0 && idx < len(f) {
			var c int
			fmt.Sscan(f[idx], &c)
			got[f[1]] += c
		}
	}
	return got
}

// checkListedConns checks that `xlb list` shows want connections on port
// of every real.
func checkListedConns(t *testing.T, out string, reals []*testenv.Host, port, want int) {
	t.Helper()
	got := listedConns(out)
	for _, r := range reals {
		ap := fmt.Sprintf("%s:%d", r.Addr, port)
		if got[ap] != want {
			t.Errorf("xlb list shows %d connections on %s, want %d:\n%s", got[ap], ap, want, out)
		}
	}
}

func TestIntegrationUDP(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			for _, r := range topo.Reals {
				if _, err := r.ServeUDPEcho(53); err != nil {
					t.Fatal(err)
				}
			}
			x := startXlbd(t, topo, vsConf(method, "UDP", 53, topo.Reals, 53))

			const n = 20
			for i := range n {
				msg := fmt.Sprintf("query %d", i)
				got := udpExchange(t, topo.Client, "198.18.0.100:53", msg)
				if got.payload != msg {
					t.Fatalf("datagram %d: echo %q, want %q", i, got.payload, msg)
				}
				if got.from != "198.18.0.100:53" {
					t.Fatalf("datagram %d: answer from %s, want the VIP 198.18.0.100:53", i, got.from)
				}
			}
			checkListedConns(t, x.xlb(t, "list"), topo.Reals, 53, n/2)
		})
	}
}

type udpAnswer struct{ payload, from string }

// udpExchange sends msg from a new socket (a new flow) and waits for one answer.
// udpSourcePort gives each udpExchange a port of its own: an ephemeral
// port the kernel hands out again would be an established flow to the
// data plane, not a new one.
var udpSourcePort atomic.Uint32

func udpExchange(t *testing.T, client *testenv.Host, addr, msg string) udpAnswer {
	t.Helper()
	udpSourcePort.CompareAndSwap(0, 42000)
	pc, err := client.ListenPacket("udp4", fmt.Sprintf("198.18.0.2:%d", udpSourcePort.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dst, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 3; attempt++ {
		if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			return udpAnswer{string(buf[:n]), from.String()}
		}
	}
	t.Fatalf("no UDP answer from %s to %q after 3 tries", addr, msg)
	return udpAnswer{}
}

// A long-lived connection keeps its real while new connections rotate.
func TestIntegrationLongLivedFlowKeepsReal(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			serveHTTP(t, topo)
			startXlbd(t, topo, vsConf(method, "TCP", 80, topo.Reals, 80))

			conn, err := topo.Client.DialContext(context.Background(), "tcp4", vipHTTP)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			rd := bufio.NewReader(conn)
			ask := func() string {
				t.Helper()
				conn.SetDeadline(time.Now().Add(3 * time.Second))
				fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
				resp, err := http.ReadResponse(rd, nil)
				if err != nil {
					t.Fatalf("long-lived connection: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return strings.TrimSpace(string(b))
			}
			first := ask()
			for round := range 10 {
				seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", 2)
				if len(seen) != 2 {
					t.Errorf("round %d: two new connections went to %v, want one to each real", round, seen)
				}
				if got := ask(); got != first {
					t.Fatalf("round %d: long-lived connection answered by %s, it started on %s", round, got, first)
				}
			}
		})
	}
}

// A service whose reals all have weight 0 takes no connection: its packets
// are dropped and counted, in total and on the interface they came in on,
// the director's client-facing one, as xlb stats and the metrics say.
func TestIntegrationNoUsableReal(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 1})
	serveHTTP(t, topo)
	conf := strings.Replace(vsConf("NAT", "TCP", 80, topo.Reals, 80), "weight 1", "weight 0", 1)
	const metricsAddr = "127.0.0.1:9410" // inside the director's namespace
	x := startXlbdArgs(t, topo, conf, "--metrics-addr", metricsAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if c, err := topo.Client.DialContext(ctx, "tcp4", vipHTTP); err == nil {
		c.Close()
		t.Fatal("connection to a service with no usable real succeeded")
	}
	reason := loader.DropNoReal.String()
	out := x.xlb(t, "stats")
	t.Logf("xlb stats:\n%s", out)
	total := statsValue(out, "", reason)
	front := statsValue(out, testenv.DirectorFrontIf, reason)
	if total < 1 {
		t.Errorf("no packet counted as %q in the totals:\n%s", reason, out)
	}
	if front != total {
		t.Errorf("%s counted %d packets as %q, the totals %d: the client's SYNs came in on it\n%s",
			testenv.DirectorFrontIf, front, reason, total, out)
	}
	if lan := statsValue(out, testenv.DirectorLANIf, reason); lan > 0 {
		t.Errorf("%s, the reals' side, counted %d packets as %q:\n%s", testenv.DirectorLANIf, lan, reason, out)
	}
	only := x.xlb(t, "stats", "--interface", testenv.DirectorFrontIf)
	if got := statsValue(only, testenv.DirectorFrontIf, reason); got != front || strings.Contains(only, "\n"+testenv.DirectorLANIf+" ") {
		t.Errorf("xlb stats --interface %s shows %d packets as %q (want %d) or other interfaces:\n%s",
			testenv.DirectorFrontIf, got, reason, front, only)
	}

	// The metrics agree, per interface.
	resp, err := topo.Director.HTTPClient(3 * time.Second).Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	series := fmt.Sprintf(`xlb_datapath_packets_total{interface=%q,reason=%q}`, testenv.DirectorFrontIf, reason)
	if got := metricValue(string(b), series); got != float64(front) {
		t.Errorf("%s = %v, xlb stats says %d", series, got, front)
	}
}

// statsValue is the packets (or, with --rate, packets per second) xlb
// stats' output shows for reason, in the totals when iface is "" or else
// on that interface; -1 when it has no such line.
func statsValue(out, iface, reason string) int {
	totals, perIf, _ := strings.Cut(out, "\n\n")
	table, prefix := totals, reason
	if iface != "" {
		table, prefix = perIf, iface
	}
	for _, line := range strings.Split(table, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if iface != "" && ok {
			rest, ok = strings.CutPrefix(strings.TrimLeft(rest, " "), reason)
		}
		if !ok {
			continue
		}
		var n int
		if _, err := fmt.Sscan(rest, &n); err == nil {
			return n
		}
	}
	return -1
}

// One director runs a NAT and a DR virtual server side by side, as an
// operator's config would, and wrr follows the weights.
func TestIntegrationNATAndDRTogether(t *testing.T) {
	nat, dr := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")
	topo := testenv.Start(t, testenv.Options{Reals: 2, DR: true, VIPs: []netip.Addr{nat, dr}})
	serveHTTP(t, topo)
	conf := fmt.Sprintf(`global_defs {
    xdp_interface eth0 eth1
}
virtual_server %s 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server %s 80 { weight 1 }
    real_server %s 80 { weight 1 }
}
virtual_server %s 80 {
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    real_server %s 80 { weight 3 }
    real_server %s 80 { weight 1 }
}
`, nat, topo.Reals[0].Addr, topo.Reals[1].Addr, dr, topo.Reals[0].Addr, topo.Reals[1].Addr)
	startXlbd(t, topo, conf)

	checkEvenSpread(t, getMany(t, topo.Client, "http://"+nat.String()+"/", 20), topo.Reals, 20, 1)
	seen := getMany(t, topo.Client, "http://"+dr.String()+"/", 40)
	if seen["real1"] < 29 || seen["real1"] > 31 || seen["real1"]+seen["real2"] != 40 {
		t.Errorf("wrr 3:1 over 40 DR connections answered %v, want about real1=30 real2=10", seen)
	}
}

// Bad input stops xlbd before it touches the system, with the position or
// the name of what is wrong.
func TestBadInputExitsBeforeAttaching(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    lvs_metod NAT\n    real_server 198.18.1.2 80 { weight 70000 }\n}\n"), 0o644)
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte("virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    real_server 198.18.1.2 80 { weight 1 }\n}\n"), 0o644)
	pinDir := filepath.Join(dir, "never-created")

	for _, tc := range []struct {
		desc string
		args []string
		want []string
	}{
		{"config errors, all of them, with positions", []string{"-f", bad}, []string{bad + ":3:5:", "lvs_metod", bad + ":4:", "weight"}},
		{"unknown interface", []string{"-f", good, "-i", "xlbnosuch0"}, []string{`interface "xlbnosuch0": no such interface`}},
		{"missing file", []string{"-f", filepath.Join(dir, "absent.conf")}, []string{"absent.conf"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "xlbd"), append(tc.args, "--bpffs", pinDir)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("xlbd %v: %v, want exit status 1; output:\n%s", tc.args, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("xlbd %v output lacks %q:\n%s", tc.args, w, out)
				}
			}
			if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("xlbd created %s although it refused to start", pinDir)
			}
		})
	}
}

// keepAlive is a long-lived HTTP/1.1 connection to a VIP.
type keepAlive struct {
	conn net.Conn
	rd   *bufio.Reader
}

func dialKeepAlive(t *testing.T, client *testenv.Host, addr string) *keepAlive {
	t.Helper()
	conn, err := client.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keepAlive{conn: conn, rd: bufio.NewReader(conn)}
}

// ask sends one request on the connection and returns the real that answered.
func (k *keepAlive) ask(t *testing.T) string {
	t.Helper()
	k.conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
	resp, err := http.ReadResponse(k.rd, nil)
	if err != nil {
		t.Fatalf("long-lived connection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// SIGHUP applies a changed file in place; an invalid file changes nothing;
// a long-lived connection survives both.
func TestIntegrationReload(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	x := startXlbd(t, topo, vsConf("NAT", "TCP", 80, topo.Reals[:1], 80))

	long := dialKeepAlive(t, topo.Client, vipHTTP)
	if got := long.ask(t); got != "real1" {
		t.Fatalf("with one real, answered by %s", got)
	}
	if seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", 4); seen["real1"] != 4 {
		t.Fatalf("with one real, answers %v", seen)
	}

	// Add real2: new connections alternate, the long one stays on real1.
	x.rewrite(t, vsConf("NAT", "TCP", 80, topo.Reals, 80))
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitLog("configuration reloaded", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 10), topo.Reals, 10, 1)
	if got := long.ask(t); got != "real1" {
		t.Fatalf("after reload the long-lived connection was answered by %s, it started on real1", got)
	}

	// An invalid file: reported, nothing changes.
	x.rewrite(t, "virtual_server 198.18.0.100 80 {\n    lvs_sched nosuch\n}\n")
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitLog("configuration not reloaded", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.Log(), "xlb.conf:2:15") {
		t.Errorf("the reload error does not carry the position:\n%s", x.Log())
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 10), topo.Reals, 10, 1)
	if got := long.ask(t); got != "real1" {
		t.Fatalf("after a bad reload the long-lived connection was answered by %s", got)
	}
}

// After kill -9 the pinned data plane keeps forwarding; a new xlbd adopts it
// without moving the established connection.
func TestIntegrationRestartKeepsFlows(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	conf := vsConf("NAT", "TCP", 80, topo.Reals, 80)
	x := startXlbd(t, topo, conf)

	long := dialKeepAlive(t, topo.Client, vipHTTP)
	first := long.ask(t)
	x.killed = true
	if err := x.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	x.Wait(5 * time.Second)

	if got := long.ask(t); got != first {
		t.Fatalf("with xlbd killed, the long-lived connection was answered by %s, it started on %s", got, first)
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 10), topo.Reals, 10, 1)

	// A new xlbd on the same pins.
	d, err := topo.Director.StartDaemon(filepath.Join(binDir, "xlbd"), "-f", x.file, "--bpffs", x.pinDir,
		"-i", testenv.DirectorFrontIf, "-i", testenv.DirectorLANIf, "--flow-table-size", "65536")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(5 * time.Second)
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Log(), "adopted data plane state") {
		t.Errorf("the new xlbd did not adopt the pinned state:\n%s", d.Log())
	}
	if strings.Contains(d.Log(), "virtual server updated") {
		t.Errorf("the new xlbd rewrote a service that did not change:\n%s", d.Log())
	}
	if got := long.ask(t); got != first {
		t.Fatalf("after the restart the long-lived connection was answered by %s, it started on %s", got, first)
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 10), topo.Reals, 10, 1)
	// Counters continued across the restart: 1 + 10 + 10 connections.
	out := x.xlb(t, "list")
	total := 0
	for _, c := range listedConns(out) {
		total += c
	}
	if total != 21 {
		t.Errorf("xlb list counts %d connections, want 21 (counters must survive the restart):\n%s", total, out)
	}
}

// xlbd runs under `ip netns exec`, which remounts /sys and so hides bpffs:
// it mounts one itself and forwards.
func TestIntegrationUnderIPNetnsExec(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	file := filepath.Join(t.TempDir(), "xlb.conf")
	conf := "global_defs {\n    xdp_interface eth0 eth1\n}\n" + vsConf("NAT", "TCP", 80, topo.Reals, 80)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// ip is the daemon's parent here; the topology's Close stops it by PID.
	d, err := topo.LAN.StartDaemon("ip", "netns", "exec", topo.Director.NSName, filepath.Join(binDir, "xlbd"), "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Log(), "mounted one") {
		t.Errorf("xlbd did not say it mounted bpffs:\n%s", d.Log())
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 20), topo.Reals, 20, 1)
}

// A real removed from the config gets no new connections, and an established
// one to it keeps working (NAT replies are still rewritten).
func TestIntegrationRemovedRealKeepsFlows(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			serveHTTP(t, topo)
			x := startXlbd(t, topo, vsConf(method, "TCP", 80, topo.Reals, 80))

			long := dialKeepAlive(t, topo.Client, vipHTTP)
			gone := long.ask(t)
			var stays *testenv.Host
			for _, r := range topo.Reals {
				if r.Name != gone {
					stays = r
				}
			}
			x.rewrite(t, vsConf(method, "TCP", 80, []*testenv.Host{stays}, 80))
			if err := x.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			if err := x.WaitLog("real server removed", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", 6); seen[stays.Name] != 6 {
				t.Errorf("after removing %s, new connections went to %v, want all to %s", gone, seen, stays.Name)
			}
			for range 3 {
				if got := long.ask(t); got != gone {
					t.Fatalf("the established connection to the removed %s was answered by %s", gone, got)
				}
			}
		})
	}
}

// A pinned map whose layout no longer fits (here: another connection table
// size, and scheduling rings of an older layout) is reset, and xlbd says
// which and what that costs; the others are adopted. The services are
// adopted unchanged, yet their rings are written again: new connections
// are scheduled as before.
func TestIntegrationIncompatibleMapReset(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	x := startXlbd(t, topo, vsConf("NAT", "TCP", 80, topo.Reals, 80))
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 4), topo.Reals, 4, 0)
	x.killed = true
	if err := x.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	x.Wait(5 * time.Second)
	pinOldLayoutRings(t, x.pinDir)

	d, err := topo.Director.StartDaemon(filepath.Join(binDir, "xlbd"), "-f", x.file, "--bpffs", x.pinDir,
		"-i", testenv.DirectorFrontIf, "-i", testenv.DirectorLANIf, "--flow-table-size", "32768")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(5 * time.Second)
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	log := d.Log()
	if !strings.Contains(log, "pinned map reset") || !strings.Contains(log, "map=flows") || !strings.Contains(log, "MaxEntries: 65536 changed to 32768") {
		t.Errorf("xlbd did not say it reset the connection table:\n%s", log)
	}
	if !strings.Contains(log, "map=svc_rings") || !strings.Contains(log, "inner ValueSize: 4 changed to 64") {
		t.Errorf("xlbd did not say it reset the scheduling rings:\n%s", log)
	}
	if strings.Contains(log, "map=real_stats") {
		t.Errorf("xlbd reset a compatible map:\n%s", log)
	}
	checkEvenSpread(t, getMany(t, topo.Client, "http://"+vipHTTP+"/", 10), topo.Reals, 10, 1)
	// Counters were adopted: 4 + 10 connections.
	total := 0
	for _, c := range listedConns(x.xlb(t, "list")) {
		total += c
	}
	if total != 14 {
		t.Errorf("xlb list counts %d connections, want 14 (real counters adopted)", total)
	}
}

// svcConf is one virtual server on vip:port with the given scheduler,
// method, extra directives and reals (their address of vip's family,
// port 80) with weights.
func svcConf(vip string, port int, sched, method, extra string, reals []*testenv.Host, weights []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtual_server %s %d {\n    lvs_sched %s\n    lvs_method %s\n    protocol TCP\n%s", vip, port, sched, method, extra)
	for i, r := range reals {
		addr := r.Addr
		if strings.Contains(vip, ":") {
			addr = r.Addr6
		}
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight %d\n    }\n", addr, weights[i])
	}
	b.WriteString("}\n")
	return b.String()
}

// wlc with weights 3:1: each connection is closed after its answer, so the
// reals' InActConn grow and wlc keeps them at 3:1.
func TestIntegrationWLCWeights(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	x := startXlbd(t, topo, svcConf("198.18.0.100", 80, "wlc", "NAT", "", topo.Reals, []int{3, 1}))
	const n = 100
	seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", n)
	if seen["real1"] < 72 || seen["real1"] > 78 || seen["real1"]+seen["real2"] != n {
		t.Errorf("wlc 3:1 over %d connections: %v, want real1 75±3 and real2 the rest", n, seen)
	}
	// xlb list shows the connections the data plane tracks.
	out := x.xlb(t, "list")
	tracked := 0
	for _, c := range listedColumn(out, "InActConn") {
		tracked += c
	}
	for _, c := range listedColumn(out, "ActiveConn") {
		tracked += c
	}
	if tracked != n {
		t.Errorf("xlb list shows %d connections (ActiveConn + InActConn), want %d:\n%s", tracked, n, out)
	}
}

// sh and mh keep a client on one real across its connections; rr with
// persistence_timeout does too, and a /24 granularity covers the client.
func TestIntegrationClientStickiness(t *testing.T) {
	for _, tc := range []struct{ desc, sched, extra string }{
		{"sh", "sh", ""},
		{"mh", "mh", "    mh_table_size 251\n"},
		{"rr with persistence", "rr", "    persistence_timeout 60\n    persistence_granularity 255.255.255.0\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 3})
			serveHTTP(t, topo)
			startXlbd(t, topo, svcConf("198.18.0.100", 80, tc.sched, "NAT", tc.extra, topo.Reals, []int{1, 1, 1}))
			const n = 20
			seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", n)
			if len(seen) != 1 {
				t.Errorf("%d connections from one client went to %v, want all to one real", n, seen)
			}
		})
	}
}

// Quiescing a real (weight 0 by a reload) stops new connections to it; a
// connection it already has keeps working.
func TestIntegrationQuiesceLiveConnection(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			serveHTTP(t, topo)
			x := startXlbd(t, topo, svcConf("198.18.0.100", 80, "wlc", method, "", topo.Reals, []int{1, 1}))
			long := dialKeepAlive(t, topo.Client, vipHTTP)
			first := long.ask(t)
			weights := []int{1, 1}
			if first == "real1" {
				weights[0] = 0
			} else {
				weights[1] = 0
			}
			x.rewrite(t, svcConf("198.18.0.100", 80, "wlc", method, "", topo.Reals, weights))
			if err := x.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			if err := x.WaitLog("configuration reloaded", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", 10); seen[first] != 0 {
				t.Errorf("after quiescing %s, new connections went to %v", first, seen)
			}
			for i := range 3 {
				if got := long.ask(t); got != first {
					t.Fatalf("request %d on the live connection answered by %s, it started on the quiesced %s", i, got, first)
				}
			}
		})
	}
}

// IPv6 VIP and reals, NAT and DR, with real HTTP clients and servers.
func TestIntegrationIPv6(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR", VIPs: []netip.Addr{vip}})
			serveHTTP(t, topo)
			x := startXlbd(t, topo, svcConf(vip.String(), 80, "rr", method, "", topo.Reals, []int{1, 1}))
			const n = 20
			url := "http://" + netip.AddrPortFrom(vip, 80).String() + "/"
			checkEvenSpread(t, getMany(t, topo.Client, url, n), topo.Reals, n, 1)
			seen := listedConns(x.xlb(t, "list"))
			for _, r := range topo.Reals {
				if ap := netip.AddrPortFrom(r.Addr6, 80).String(); seen[ap] != n/2 {
					t.Errorf("xlb list shows %d connections on %s, want %d", seen[ap], ap, n/2)
				}
			}
		})
	}
}

// Path MTU discovery through a NAT director: the director's link toward
// the reals has a smaller MTU (1400) than the client's and the real's
// (1500, the real advertising an MSS of 1460). The client's full-size
// segments do not fit; the director answers them with ICMP fragmentation
// needed quoting them as the client sent them (to the VIP, where the
// kernel would quote the rewritten packet, which the client does not
// know), the client lowers its path MTU and a 1 MiB echo exchange
// completes.
func TestIntegrationPMTUDThroughNAT(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 1})
	r := topo.Reals[0]
	if _, err := r.ServeTCPEcho(7); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    *testenv.Host
		args []string
	}{
		{topo.Director, []string{"link", "set", testenv.DirectorLANIf, "mtu", "1400"}},
		// The real sends at most 1400 bytes but advertises an MSS of 1460.
		{r, []string{"route", "replace", "default", "via", "198.18.1.1", "dev", testenv.EndpointIf, "mtu", "lock", "1400", "advmss", "1460"}},
	} {
		if out, err := c.h.Command("ip", c.args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: ip %s: %v\n%s", c.h.Name, strings.Join(c.args, " "), err, out)
		}
	}
	// GRO on the LAN port the real's segments enter would merge them into
	// frames the director's XDP program (no multi-buffer) cannot take.
	if err := topo.LAN.SetGRO("p1", false); err != nil {
		t.Fatal(err)
	}
	x := startXlbd(t, topo, "virtual_server 198.18.0.100 7 {\n    lvs_sched rr\n    lvs_method NAT\n    protocol TCP\n    real_server 198.18.1.2 7 {\n    }\n}\n")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := topo.Client.DialContext(ctx, "tcp4", "198.18.0.100:7")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	const size = 1 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		errc <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("echo of %d bytes through the director: %v\nxlb stats:\n%s", size, err, x.xlb(t, "stats"))
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the echo differs from what was sent")
	}
	tooBig := 0
	for _, line := range strings.Split(x.xlb(t, "stats"), "\n") {
		if strings.HasPrefix(line, "tx: too big") {
			f := strings.Fields(line)
			fmt.Sscan(f[len(f)-2], &tooBig)
		}
	}
	if tooBig == 0 {
		t.Errorf("the transfer completed but the director answered no packet as too big: the path MTU was not exercised")
	}
	t.Logf("%d packets answered with ICMP fragmentation needed", tooBig)
}

// An all-ports (port 0) persistent virtual server: a client's connections
// to two ports of the VIP go to one real, which serves both.
func TestIntegrationPersistenceAcrossPorts(t *testing.T) {
	for _, method := range []string{"NAT", "DR"} {
		t.Run(method, func(t *testing.T) {
			topo := testenv.Start(t, testenv.Options{Reals: 2, DR: method == "DR"})
			for _, r := range topo.Reals {
				for _, port := range []uint16{80, 8080} {
					if _, err := r.ServeHTTP(port); err != nil {
						t.Fatal(err)
					}
				}
			}
			conf := fmt.Sprintf("virtual_server 198.18.0.100 0 {\n    lvs_sched rr\n    lvs_method %s\n    persistence_timeout 60\n    protocol TCP\n", method)
			for _, r := range topo.Reals {
				conf += fmt.Sprintf("    real_server %s {\n    }\n", r.Addr)
			}
			conf += "}\n"
			startXlbd(t, topo, conf)
			seen := map[string]int{}
			for range 6 {
				for _, port := range []string{"80", "8080"} {
					for k, v := range getMany(t, topo.Client, "http://198.18.0.100:"+port+"/", 1) {
						seen[k] += v
					}
				}
			}
			if len(seen) != 1 {
				t.Errorf("12 connections of one client to ports 80 and 8080 went to %v, want all to one real", seen)
			}
		})
	}
}

// xlbd sweeps the connection table: flows idle past their timeout
// (lvs_timeouts udp 1) leave it and InActConn falls back to 0.
func TestIntegrationSweeperExpiresFlows(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	for _, r := range topo.Reals {
		if _, err := r.ServeUDPEcho(53); err != nil {
			t.Fatal(err)
		}
	}
	conf := "global_defs {\n    lvs_timeouts udp 1\n}\n" + vsConf("NAT", "UDP", 53, topo.Reals, 53)
	x := startXlbd(t, topo, conf)

	const n = 10
	for i := range n {
		if got := udpExchange(t, topo.Client, "198.18.0.100:53", fmt.Sprintf("q%d", i)); got.payload != fmt.Sprintf("q%d", i) {
			t.Fatalf("datagram %d: echo %q", i, got.payload)
		}
	}
	inact := func() int {
		total := 0
		for _, c := range listedColumn(x.xlb(t, "list"), "InActConn") {
			total += c
		}
		return total
	}
	if got := inact(); got != n {
		t.Fatalf("InActConn %d right after %d UDP flows, want %d", got, n, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for inact() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("InActConn still %d 10 s after the flows went idle (udp timeout 1 s):\n%s", inact(), x.xlb(t, "list"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A flow whose packets a CPU's flow cache serves is not expired while its
// packets come within its timeout: the cache refreshes the flow's idle time
// only once a second, and the sweeper allows for that. With lvs_timeouts
// udp 1 and a datagram every 800 ms, all handled by one CPU, the idle time
// the table shows reaches 1.6 s; without the allowance the sweeper expired
// the flow and its next datagram was scheduled again (round robin: to the
// other real).
func TestIntegrationSweeperKeepsCachedFlows(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2, DR: true})
	for _, r := range topo.Reals {
		if _, err := r.ServeUDPEcho(53); err != nil {
			t.Fatal(err)
		}
	}
	// DR: the replies bypass the data plane, so only the client's datagrams refresh the flow.
	x := startXlbd(t, topo, "global_defs {\n    lvs_timeouts udp 1\n}\n"+vsConf("DR", "UDP", 53, topo.Reals, 53))
	pc, err := topo.Client.ListenPacket("udp4", "198.18.0.2:41999")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// Sent from CPU 0, the datagrams meet the director's XDP program on
	// CPU 0 (veth), so one CPU's cache serves them all.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu0, was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Fatal(err)
	}
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &was)
	dst := &net.UDPAddr{IP: net.ParseIP("198.18.0.100"), Port: 53}
	buf := make([]byte, 64)
	const n = 11
	for i := range n {
		msg := fmt.Sprintf("q%d", i)
		if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		got, _, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:got]) != msg {
			t.Fatalf("datagram %d: echo %q, %v", i, buf[:got], err)
		}
		time.Sleep(800 * time.Millisecond)
	}
	total := 0
	for _, c := range listedConns(x.xlb(t, "list")) {
		total += c
	}
	if total != 1 {
		t.Errorf("%d datagrams of one flow, 800 ms apart, were scheduled as %d connections, want 1 (the sweeper expired a flow the flow cache served):\n%s",
			n, total, x.xlb(t, "list"))
	}
}

// pinOldLayoutRings replaces the pinned svc_rings with one an older xlb
// made, whose rings held one real id per value, holding one such ring:
// what xlbd finds when it upgrades from that version.
func pinOldLayoutRings(t *testing.T, pinDir string) {
	t.Helper()
	path := filepath.Join(pinDir, "svc_rings")
	cur, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: unix.BPF_F_INNER_MAP}
	outer := &ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: cur.MaxEntries(), Flags: cur.Flags(), InnerMap: inner}
	cur.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMap(outer)
	if err != nil {
		t.Fatalf("old svc_rings: %v", err)
	}
	defer m.Close()
	ring, err := ebpf.NewMap(inner)
	if err != nil {
		t.Fatalf("old ring: %v", err)
	}
	defer ring.Close()
	if err := m.Put(uint32(0), ring); err != nil {
		t.Fatalf("old ring into svc_rings: %v", err)
	}
	if err := m.Pin(path); err != nil {
		t.Fatalf("pin old svc_rings: %v", err)
	}
}
