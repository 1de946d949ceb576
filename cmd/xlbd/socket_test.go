package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
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
	reasons  map[loader.Reason]loader.Counters
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
func (f *fakeDataplane) ReasonStats() (map[loader.Reason]loader.Counters, error) {
	return f.reasons, nil
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
		reasons: map[loader.Reason]loader.Counters{loader.DropNoReal: {Packets: 7, Bytes: 420}},
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
