package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

const steerConf = `virtual_server 198.18.0.100 80 {
    lvs_sched wrr
    protocol TCP
    real_server 198.18.1.2 80 {
        weight 1
    }
    real_server 198.18.1.3 80 {
        weight 2
    }
}
virtual_server 198.18.0.100 53 {
    lvs_sched rr
    protocol UDP
    real_server 198.18.1.2 53 {
        weight 1
    }
}
virtual_server 198.18.0.100 53 {
    lvs_sched rr
    protocol TCP
    real_server 198.18.1.2 53 {
        weight 1
    }
}
`

// fakeDataplane is the maps a test sets by hand: what the control socket
// and the metrics read.
type fakeDataplane struct {
	mu       sync.Mutex
	services map[loader.Endpoint]loader.Service
	reals    map[uint32]loader.Real
	conns    map[uint32]loader.ConnCounts
	stats    map[uint32]loader.RealCounters
}

func (f *fakeDataplane) Services() (map[loader.Endpoint]loader.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.services, nil
}
func (f *fakeDataplane) Reals() (map[uint32]loader.Real, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reals, nil
}
func (f *fakeDataplane) RealConns(id uint32) (loader.ConnCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[id], nil
}
func (f *fakeDataplane) RealStats(id uint32) (loader.RealCounters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats[id], nil
}

var (
	epWeb = loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.100"), Port: 80, Proto: loader.ProtoTCP}
)

func newFakeDataplane() *fakeDataplane {
	a2, a3 := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")
	return &fakeDataplane{
		services: map[loader.Endpoint]loader.Service{epWeb: {ID: 0, Sched: loader.SchedWRR}},
		reals: map[uint32]loader.Real{
			0: {Addr: a2, Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 1},
			1: {Addr: a3, Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 2},
			// 198.18.1.2:80 before a reload changed it: its flows count.
			2: {Addr: a2, Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 1, Removed: true},
		},
		conns: map[uint32]loader.ConnCounts{0: {Active: 2, Inactive: 1}, 1: {Active: 4}, 2: {Active: 1}},
		stats: map[uint32]loader.RealCounters{
			0: {Conns: 10, PacketsIn: 100, BytesIn: 6000, PacketsOut: 90, BytesOut: 50000},
			1: {Conns: 20, PacketsIn: 200, BytesIn: 12000},
			2: {Conns: 3, PacketsIn: 30, BytesIn: 1800},
		},
	}
}

// steerDirector is a Director over steerConf whose applied states the test
// reads.
type steerDirector struct {
	*control.Director
	mu      sync.Mutex
	applied *control.State
}

func (d *steerDirector) weightOf(t *testing.T, ep loader.Endpoint, real string) int {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.applied.Services {
		if s.Endpoint != ep {
			continue
		}
		for _, r := range s.Reals {
			if r.AddrPort().String() == real {
				return r.Weight
			}
		}
	}
	t.Fatalf("%s of %s not applied", real, ep)
	return 0
}

func newSteerDirector(t *testing.T) (*steerDirector, *config.Config, *control.State) {
	t.Helper()
	cfg, err := config.Parse("steer.conf", []byte(steerConf))
	if err != nil {
		t.Fatal(err)
	}
	st, err := control.Desired(cfg, control.Limits{MaxServices: 16, RingSize: 16, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	sd := &steerDirector{}
	sd.Director = control.NewDirector(func(s *control.State) error {
		sd.mu.Lock()
		defer sd.mu.Unlock()
		sd.applied = s
		return nil
	}, nil)
	if err := sd.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	return sd, cfg, st
}

// runCLI runs the built xlb with args and returns its output and status.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "xlb"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The xlb CLI steers a Director through the control socket: weights and
// drains reach the applied state, bad requests get one-line errors, a
// reload ends runtime weights.
func TestControlSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "xlbsock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "xlbd.sock")
	sd, cfg, st := newSteerDirector(t)
	dp := newFakeDataplane()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := startControlSocket(sock, sd.Director, dp, subsystems{&healthChecker{}, &vrrpSubsystem{}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("control socket mode %v, want a socket with 0600", fi.Mode())
	}
	if _, err := startControlSocket(sock, sd.Director, dp, nil, log); err == nil || !strings.Contains(err.Error(), "another xlbd") {
		t.Errorf("a second server on the same socket: %v, want 'another xlbd is listening'", err)
	}

	steps := []struct {
		desc       string
		args       []string
		code       int
		want       string // in stdout (code 0) or stderr
		weight     int    // applied weight of 198.18.1.2:80 afterwards
		weightUDP  int    // of 198.18.1.2:53 UDP
		skipWeight bool
	}{
		{"set a weight", []string{"weight", "198.18.0.100:80", "198.18.1.2:80", "7"}, 0,
			"real 198.18.1.2:80 of VS 198.18.0.100:80: weight 7 (configured 1) until the next reload: the configuration file rules again", 7, 1, false},
		{"back to the configured weight", []string{"weight", "198.18.0.100:80", "198.18.1.2:80", "config"}, 0,
			"back to the configured weight 1", 1, 1, false},
		{"unknown VIP", []string{"weight", "198.18.0.200:80", "198.18.1.2:80", "3"}, 1,
			"no virtual service 198.18.0.200:80 in xlbd's configuration (see xlb list)", 1, 1, false},
		{"unknown real", []string{"weight", "198.18.0.100:80", "198.18.1.9:80", "3"}, 1,
			"198.18.1.9:80 is not a real server of TCP 198.18.0.100:80 (see xlb list)", 1, 1, false},
		{"TCP and UDP on one VIP:port", []string{"weight", "198.18.0.100:53", "198.18.1.2:53", "3"}, 1,
			"say which with --proto TCP or --proto UDP", 1, 1, false},
		{"--proto picks one", []string{"weight", "--proto", "udp", "198.18.0.100:53", "198.18.1.2:53", "3"}, 0,
			"weight 3 (configured 1)", 1, 3, false},
		{"out of range is refused before asking", []string{"weight", "198.18.0.100:80", "198.18.1.2:80", "65536"}, 2,
			"want a whole number from 0 to 65535", 1, 3, false},
		{"drain without waiting", []string{"drain", "--wait=false", "198.18.0.100:80", "198.18.1.2:80"}, 0,
			"weight 0 (configured 1) until the next reload", 0, 3, false},
		{"drain gives up after its timeout, saying what is left", []string{"drain", "--timeout", "50ms", "--interval", "20ms", "198.18.0.100:80", "198.18.1.2:80"}, 1,
			"still has 3 active and 1 inactive connections after 50ms; it stays at weight 0", 0, 3, false},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			out, errOut, code := runCLI(t, append([]string{"--socket", sock}, s.args...)...)
			if code != s.code {
				t.Fatalf("exit status %d, want %d; stdout %q stderr %q", code, s.code, out, errOut)
			}
			where := out
			if code != 0 {
				where = errOut
				if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 1 {
					t.Errorf("error of %d lines, want one (and a usage hint):\n%s", n+1, errOut)
				}
			}
			if !strings.Contains(where, s.want) {
				t.Errorf("output %q does not say %q", where, s.want)
			}
			if got := sd.weightOf(t, epWeb, "198.18.1.2:80"); got != s.weight {
				t.Errorf("applied weight of 198.18.1.2:80 %d, want %d", got, s.weight)
			}
			udp := loader.Endpoint{Addr: epWeb.Addr, Port: 53, Proto: loader.ProtoUDP}
			if got := sd.weightOf(t, udp, "198.18.1.2:53"); got != s.weightUDP {
				t.Errorf("applied weight of UDP 198.18.1.2:53 %d, want %d", got, s.weightUDP)
			}
		})
	}

	t.Run("drain reports when the connections reach 0", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(binDir, "xlb"), "--socket", sock, "drain", "--all", "--interval", "20ms", "--timeout", "20s", "198.18.0.100:80", "198.18.1.2:80")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The connections end while xlb waits.
		dp.mu.Lock()
		dp.conns[0], dp.conns[2] = loader.ConnCounts{}, loader.ConnCounts{}
		dp.mu.Unlock()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("xlb drain: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "drained: real 198.18.1.2:80 of 198.18.0.100:80 has no active connections (0 inactive entries left") {
			t.Errorf("xlb drain did not report the end:\n%s", out.String())
		}
	})

	t.Run("health and vrrp say whether the subsystems report", func(t *testing.T) {
		for _, what := range []string{"health", "vrrp"} {
			var sub subsystem = &healthChecker{}
			if what == "vrrp" {
				sub = &vrrpSubsystem{}
			}
			out, errOut, code := runCLI(t, "--socket", sock, what)
			if _, reports := sub.(statusReporter); reports {
				if code != 0 || out == "" {
					t.Errorf("xlb %s: status %d, stdout %q, stderr %q", what, code, out, errOut)
				}
				continue
			}
			if want := "this xlbd's " + what + " subsystem does not report its status yet"; code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("xlb %s: status %d, stderr %q, want 1 and %q", what, code, errOut, want)
			}
		}
	})

	t.Run("a reload ends runtime weights", func(t *testing.T) {
		if err := sd.SetConfig(cfg, st); err != nil {
			t.Fatal(err)
		}
		if got := sd.weightOf(t, epWeb, "198.18.1.2:80"); got != 1 {
			t.Errorf("after a reload the weight is %d, want the configured 1", got)
		}
	})

	t.Run("unknown request", func(t *testing.T) {
		resp := srv.do(ctlRequest{Cmd: "frobnicate"})
		if resp.OK || !strings.Contains(resp.Error, `unknown command "frobnicate"`) {
			t.Errorf("answer %+v", resp)
		}
	})

	srv.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after Close: %v", err)
	}
	if _, errOut, code := runCLI(t, "--socket", sock, "health"); code != 1 || !strings.Contains(errOut, "no xlbd listening on "+sock) {
		t.Errorf("without a daemon: status %d, stderr %q", code, errOut)
	}
}

func TestSocketFor(t *testing.T) {
	for _, tc := range []struct{ pinDir, want string }{
		{"/sys/fs/bpf/xlb", "/run/xlb/xlbd.sock"},
		{"/sys/fs/bpf/xlb/", "/run/xlb/xlbd.sock"},
		{"/sys/fs/bpf/xlbtest-1-2", "/run/xlb/xlbtest-1-2.sock"},
	} {
		if got := socketFor(tc.pinDir); got != tc.want {
			t.Errorf("socketFor(%q) = %q, want %q", tc.pinDir, got, tc.want)
		}
	}
}

// startXlbdArgs is startXlbd with extra xlbd arguments.
func startXlbdArgs(t *testing.T, topo *testenv.Topology, conf string, extra ...string) *xlbd {
	t.Helper()
	file := filepath.Join(t.TempDir(), "xlb.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlbtest-%d-%d", os.Getpid(), pinSeq.Add(1))
	args := append([]string{"-f", file, "--bpffs", pinDir, "-i", testenv.DirectorFrontIf, "-i", testenv.DirectorLANIf,
		"--flow-table-size", "65536"}, extra...)
	d, err := topo.Director.StartDaemon(filepath.Join(binDir, "xlbd"), args...)
	if err != nil {
		t.Fatal(err)
	}
	x := &xlbd{Daemon: d, file: file, pinDir: pinDir}
	t.Cleanup(func() {
		if err := d.Stop(5 * time.Second); err != nil {
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

// xlbFails runs the CLI against the daemon expecting exit status 1 and
// returns its stderr.
func (x *xlbd) xlbFails(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"--bpffs", x.pinDir}, args...)...)
	if code != 1 {
		t.Fatalf("xlb %v: exit status %d, want 1\nstdout %s\nstderr %s", args, code, out, errOut)
	}
	return errOut
}

// metricLine returns the value of the sample whose line starts with
// series, or -1.
func metricValue(scrape, series string) float64 {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// The operator's view of a live director: counters that match the
// requests sent, the connection table, a drain under a live connection,
// runtime weights that a reload ends, and the metrics.
func TestIntegrationCLI(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	const metricsAddr = "127.0.0.1:9410" // inside the director's namespace
	x := startXlbdArgs(t, topo, vsConf("NAT", "TCP", 80, topo.Reals, 80), "--metrics-addr", metricsAddr)
	url := "http://" + vipHTTP + "/"

	const n = 10
	getMany(t, topo.Client, url, n)

	// xlb list --stats: the service line counts every connection sent.
	out := x.xlb(t, "list", "--stats", "-t", vipHTTP)
	var conns, inPkts, outPkts int
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "TCP  "+vipHTTP+" ") {
			fmt.Sscan(strings.TrimPrefix(line, "TCP  "+vipHTTP), &conns, &inPkts, &outPkts)
		}
	}
	if conns != n || inPkts < 3*n || outPkts < 2*n {
		t.Errorf("xlb list --stats: Conns %d InPkts %d OutPkts %d, want %d connections of at least 3 packets in and 2 out:\n%s", conns, inPkts, outPkts, n, out)
	}
	var doc struct {
		Services []struct {
			Stats struct {
				Conns     int `json:"conns"`
				InPackets int `json:"in_packets"`
			} `json:"stats"`
			Reals []struct {
				Address string `json:"address"`
				Weight  int    `json:"weight"`
				Active  int    `json:"active_conns"`
				Stats   struct {
					Conns int `json:"conns"`
				} `json:"stats"`
			} `json:"reals"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(x.xlb(t, "list", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Services) != 1 || doc.Services[0].Stats.Conns != n || len(doc.Services[0].Reals) != 2 ||
		doc.Services[0].Reals[0].Stats.Conns+doc.Services[0].Reals[1].Stats.Conns != n {
		t.Errorf("xlb list -o json does not count %d connections on 2 reals: %+v", n, doc)
	}

	// A live connection shows in xlb conns, ESTABLISHED on its real.
	k := dialKeepAlive(t, topo.Client, vipHTTP)
	first := k.ask(t)
	var busy, other *testenv.Host
	for _, r := range topo.Reals {
		if r.Name == first {
			busy = r
		} else {
			other = r
		}
	}
	if busy == nil || other == nil {
		t.Fatalf("the long-lived connection was answered by %q, not a real", first)
	}
	busyAP := busy.Addr.String() + ":80"
	out = x.xlb(t, "conns", "--vip", vipHTTP, "--real", busyAP, "--client", topo.Client.Addr.String())
	if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, busyAP) {
		t.Errorf("xlb conns does not show the live connection ESTABLISHED on %s:\n%s", busyAP, out)
	}
	all := x.xlb(t, "conns", "--vip", vipHTTP)
	var counted int
	fmt.Sscan(x.xlb(t, "conns", "--vip", vipHTTP, "--count"), &counted)
	if lines := strings.Count(all, "\n") - 2; counted != lines || counted < 1 {
		t.Errorf("xlb conns --count says %d, the listing has %d entries:\n%s", counted, lines, all)
	}

	// Drain under the live connection: it keeps its real, new connections
	// go to the other, and xlb drain says what is left when it gives up.
	errOut := x.xlbFails(t, "drain", "--timeout", "1s", "--interval", "200ms", vipHTTP, busyAP)
	if !strings.Contains(errOut, "still has 1 active") || !strings.Contains(errOut, "stays at weight 0") {
		t.Errorf("xlb drain with a live connection: %q, want 'still has 1 active ... stays at weight 0'", errOut)
	}
	if w := listedWeights(x.xlb(t, "list"))[busyAP]; w != "0" {
		t.Errorf("xlb list shows weight %q for the drained real, want 0", w)
	}
	if seen := getMany(t, topo.Client, url, 6); seen[other.Name] != 6 {
		t.Errorf("new connections during the drain went to %v, want all 6 to %s", seen, other.Name)
	}
	if got := k.ask(t); got != first {
		t.Errorf("the live connection moved from %s to %s during the drain", first, got)
	}
	k.conn.Close()
	out = x.xlb(t, "drain", "--timeout", "20s", "--interval", "100ms", vipHTTP, busyAP)
	if !strings.Contains(out, "drained: real "+busyAP) {
		t.Errorf("xlb drain after the connection closed:\n%s", out)
	}

	// Metrics agree with xlb list.
	hc := topo.Director.HTTPClient(3 * time.Second)
	scrape := func() string {
		t.Helper()
		resp, err := hc.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := scrape()
	svcSeries := `xlb_service_connections_total{port="80",proto="TCP",vip="198.18.0.100"}`
	if got := metricValue(m, svcSeries); got != n+1+6 {
		t.Errorf("%s = %v, want %d", svcSeries, got, n+1+6)
	}
	wSeries := fmt.Sprintf(`xlb_real_weight{port="80",proto="TCP",real="%s",vip="198.18.0.100"}`, busyAP)
	if got := metricValue(m, wSeries); got != 0 {
		t.Errorf("%s = %v, want 0 (drained)", wSeries, got)
	}

	// A runtime weight lasts until the next reload.
	out = x.xlb(t, "weight", vipHTTP, other.Addr.String()+":80", "5")
	if !strings.Contains(out, "until the next reload") {
		t.Errorf("xlb weight does not say the configuration rules at the next reload: %q", out)
	}
	if w := listedWeights(x.xlb(t, "list"))[other.Addr.String()+":80"]; w != "5" {
		t.Errorf("xlb list shows weight %q after xlb weight 5", w)
	}
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitLog("configuration reloaded", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ws := listedWeights(x.xlb(t, "list"))
	if ws[busyAP] != "1" || ws[other.Addr.String()+":80"] != "1" {
		t.Errorf("after a reload the weights are %v, want the configured 1", ws)
	}
	if got := metricValue(scrape(), `xlb_config_reloads_total{result="success"}`); got != 1 {
		t.Errorf("xlb_config_reloads_total{result=\"success\"} = %v, want 1", got)
	}
	if errOut := x.xlbFails(t, "weight", vipHTTP, "198.18.1.99:80", "1"); !strings.Contains(errOut, "198.18.1.99:80 is not a real server of TCP "+vipHTTP) {
		t.Errorf("weight of an unknown real: %q", errOut)
	}
}
