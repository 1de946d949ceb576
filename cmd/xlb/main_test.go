package main

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlbproject/xlb/loader"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeDP is a data plane held in memory: two services, three reals, one
// removed real, and a few connection table entries.
type fakeDP struct {
	services map[loader.Endpoint]loader.Service
	reals    map[uint32]loader.Real
	stats    map[uint32]loader.RealCounters
	conns    map[uint32]loader.ConnCounts
	// reasons are the pass and drop counters by interface: eth2 was
	// attached but counted nothing.
	reasons map[string]map[loader.Reason]loader.Counters
	flows   []loader.Flow
	// reads counts the snapshots (Services, ReasonStatsByInterface): from
	// the second on every counter doubles, so rates are not zero.
	reads int
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var (
	epHTTP = loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.100"), Port: 80, Proto: loader.ProtoTCP}
	epDNS  = loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.100"), Port: 53, Proto: loader.ProtoUDP}
	ep6    = loader.Endpoint{Addr: netip.MustParseAddr("2001:db8::100"), Port: 443, Proto: loader.ProtoTCP}
)

func newFakeDP() *fakeDP {
	return &fakeDP{
		services: map[loader.Endpoint]loader.Service{
			epHTTP: {ID: 0, Sched: loader.SchedWRR},
			epDNS:  {ID: 1, Sched: loader.SchedSH, HashPort: true, PersistTimeout: 300, PersistPrefix: 24},
			ep6:    {ID: 2, Sched: loader.SchedMH},
		},
		reals: map[uint32]loader.Real{
			0: {Addr: netip.MustParseAddr("198.18.1.3"), Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 1},
			1: {Addr: netip.MustParseAddr("198.18.1.2"), Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 3},
			2: {Addr: netip.MustParseAddr("198.18.1.2"), Port: 53, Method: loader.MethodDR, ServiceID: 1, Weight: 1},
			3: {Addr: netip.MustParseAddr("198.18.1.9"), Port: 80, Method: loader.MethodNAT, ServiceID: 0, Weight: 1, Removed: true},
			4: {Addr: netip.MustParseAddr("2001:db8:1::2"), Port: 443, Method: loader.MethodDR, ServiceID: 2, Weight: 100},
		},
		stats: map[uint32]loader.RealCounters{
			0: {Conns: 10, PacketsIn: 100, BytesIn: 6000, PacketsOut: 80, BytesOut: 90000},
			1: {Conns: 30, PacketsIn: 300, BytesIn: 18000, PacketsOut: 240, BytesOut: 270000},
			2: {Conns: 5, PacketsIn: 5, BytesIn: 400},
			3: {Conns: 7, PacketsIn: 7, BytesIn: 7},
			4: {},
		},
		conns: map[uint32]loader.ConnCounts{0: {Active: 2, Inactive: 1}, 1: {Active: 6}, 2: {Inactive: 5}, 4: {Active: -1}},
		reasons: map[string]map[loader.Reason]loader.Counters{
			"eth1": {loader.PassNoService: {Packets: 100, Bytes: 6400}},
			"eth0": {
				loader.PassNoService: {Packets: 900, Bytes: 57600},
				loader.DropNoReal:    {Packets: 3, Bytes: 180},
			},
			"eth2":                 {},
			loader.OtherInterfaces: {loader.PassNotIP: {Packets: 4, Bytes: 240}},
		},
		flows: []loader.Flow{
			{Src: ap("198.18.2.10:40000"), Dst: ap("198.18.0.100:80"), Proto: loader.ProtoTCP, State: loader.StateEstablished, RealID: 1, Idle: 10 * time.Second},
			{Src: ap("198.18.1.2:80"), Dst: ap("198.18.2.10:40000"), Proto: loader.ProtoTCP, Reply: true, VIP: ap("198.18.0.100:80"), RealID: 1},
			{Src: ap("198.18.2.11:40001"), Dst: ap("198.18.0.100:80"), Proto: loader.ProtoTCP, State: loader.StateTimeWait, RealID: 0, Idle: 30 * time.Second},
			{Src: ap("198.18.3.1:5353"), Dst: ap("198.18.0.100:53"), Proto: loader.ProtoUDP, State: loader.StateUDP, RealID: 2, Idle: 400 * time.Second},
			{Src: ap("198.18.3.2:5353"), Dst: ap("198.18.0.100:53"), Proto: loader.ProtoUDP, State: loader.StateUDP, RealID: 99},
		},
	}
}

func (f *fakeDP) Services() (map[loader.Endpoint]loader.Service, error) {
	f.reads++
	return f.services, nil
}
func (f *fakeDP) Reals() (map[uint32]loader.Real, error) { return f.reals, nil }

// RealStats doubles the counters from the second snapshot on: a rate over
// the interval equals the first reading per interval.
func (f *fakeDP) RealStats(id uint32) (loader.RealCounters, error) {
	c := f.stats[id]
	if f.reads > 1 {
		c.Add(c)
	}
	return c, nil
}
func (f *fakeDP) RealConns(id uint32) (loader.ConnCounts, error) { return f.conns[id], nil }
func (f *fakeDP) ReasonStatsByInterface() (map[string]map[loader.Reason]loader.Counters, error) {
	f.reads++
	out := make(map[string]map[loader.Reason]loader.Counters)
	for name, counts := range f.reasons {
		out[name] = make(map[loader.Reason]loader.Counters)
		for _, r := range loader.Reasons() {
			c := counts[r]
			if f.reads > 1 {
				c.Packets, c.Bytes = 2*c.Packets, 2*c.Bytes
			}
			out[name][r] = c
		}
	}
	return out, nil
}
func (f *fakeDP) ScanFlows(visit func(*loader.Flow) bool) (int, int, error) {
	for i := range f.flows {
		fl := f.flows[i]
		if visit(&fl) {
			return i, 0, errors.New("the CLI must never delete an entry")
		}
	}
	return len(f.flows), 0, nil
}
func (f *fakeDP) Close() error { return nil }

// runXlb runs the CLI on a fake data plane and returns stdout, stderr and
// the exit status.
func runXlb(t *testing.T, dp dataplane, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &env{stdout: &out, stderr: &errb, open: func(dir string) (dataplane, error) {
		if dp == nil {
			return openPinned(dir)
		}
		return dp, nil
	},
		sleep: func(d time.Duration) { clock = clock.Add(d) },
		now:   func() time.Time { return clock },
	}
	code := run(e, args)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// goldenCase is a command line whose output must equal a golden file.
type goldenCase struct {
	desc string
	args []string
	file string
}

// runGolden runs each case against the fake data plane: it must succeed
// and print its golden file.
func runGolden(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			out, errOut, code := runXlb(t, newFakeDP(), tc.args...)
			if code != 0 {
				t.Fatalf("exit status %d, want 0; stderr:\n%s", code, errOut)
			}
			golden(t, tc.file, out)
		})
	}
}

func TestGolden(t *testing.T) {
	runGolden(t, []goldenCase{
		{"list as ipvsadm -Ln with the totals", []string{"--bpffs", "/x", "list"}, "list.out"},
		{"default command is list", []string{"--bpffs", "/x"}, "list.out"},
		{"list --stats", []string{"--bpffs", "/x", "list", "--stats"}, "list-stats.out"},
		{"list --rate", []string{"--bpffs", "/x", "list", "--rate", "--interval", "10ms"}, "list-rate.out"},
		{"list -t filter", []string{"--bpffs", "/x", "list", "-t", "198.18.0.100:80"}, "list-t.out"},
		{"list -u filter", []string{"list", "--bpffs", "/x", "-u", "198.18.0.100:53", "--stats"}, "list-u.out"},
		{"list --sort inactive", []string{"--bpffs", "/x", "list", "--sort", "inactive"}, "list-sort-inactive.out"},
		{"list -o json", []string{"list", "-o", "json"}, "list.json"},
		{"conns", []string{"conns"}, "conns.out"},
		{"conns --vip --real", []string{"conns", "--vip", "198.18.0.100:80", "--real", "198.18.1.2"}, "conns-vip-real.out"},
		{"conns --client prefix", []string{"conns", "--client", "198.18.3.0/24"}, "conns-client.out"},
		{"conns --count", []string{"conns", "--count", "--vip", "198.18.0.100"}, "conns-count.out"},
	})
}

// Rates are per second: the fake's counters double between the samples,
// so over 2 s a rate is half the first reading.
func TestListRate(t *testing.T) {
	out, errOut, code := runXlb(t, newFakeDP(), "list", "--rate", "--interval", "2s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, errOut)
	}
	doc := decodeList(t, out)
	if doc.RateInterval == nil || *doc.RateInterval != 2 {
		t.Fatalf("rate_interval_seconds %v, want 2", doc.RateInterval)
	}
	found := false
	for _, s := range doc.Services {
		for _, r := range s.Reals {
			if r.Address != "198.18.1.2" || r.Port != 80 {
				continue
			}
			found = true
			want := jsonRate{CPS: 15, InPPS: 150, OutPPS: 120, InBPS: 9000, OutBPS: 135000}
			if r.Rate == nil || *r.Rate != want {
				t.Errorf("rate of 198.18.1.2:80 = %+v, want %+v", r.Rate, want)
			}
		}
		if s.Port == 80 && (s.Rate == nil || s.Rate.CPS != 20) {
			t.Errorf("service rate %+v, want CPS 20 (15 + 5)", s.Rate)
		}
	}
	if !found {
		t.Fatalf("no real 198.18.1.2:80 in %s", out)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		desc     string
		args     []string
		code     int
		wantErr  string
		noFakeDP bool
	}{
		{"unknown command", []string{"lsit"}, 2, `unknown command "lsit"`, false},
		{"--stats with --rate", []string{"list", "--stats", "--rate"}, 2, "exclude each other", false},
		{"bad -t", []string{"list", "-t", "198.18.0.100"}, 2, "want VIP:PORT", false},
		{"unknown VIP", []string{"list", "-t", "198.18.0.200:80"}, 1, "no virtual service TCP 198.18.0.200:80", false},
		{"UDP filter on a TCP service", []string{"list", "-u", "198.18.0.100:80"}, 1, "no virtual service UDP", false},
		{"bad sort key", []string{"list", "--sort", "colour"}, 2, `unknown --sort key "colour"`, false},
		{"bad output", []string{"list", "-o", "yaml"}, 2, "want table or json", false},
		{"bad conns filter", []string{"conns", "--vip", "nowhere"}, 2, "want ADDR, ADDR:PORT or PREFIX", false},
		{"stray argument", []string{"stats", "now"}, 2, `unexpected argument "now"`, false},
		{"stats of an unknown interface", []string{"stats", "--interface", "eth0,eth9"}, 1,
			`no reason counters for interface "eth9" (xlbd was never attached to it); known: eth0, eth1, eth2, (other)`, false},
		{"stats of an empty interface name", []string{"stats", "--interface", "eth0,"}, 2, `empty interface name in "eth0,"`, false},
		{"stats in yaml", []string{"stats", "-o", "yaml"}, 2, "want table or json", false},
		{"no pinned state", []string{"--bpffs", "/nonexistent/xlb", "list"}, 1, "no xlb data plane pinned at /nonexistent/xlb: start xlbd, or name the running one's directory with --bpffs DIR", true},
		{"weight out of range", []string{"weight", "198.18.0.100:80", "198.18.1.2:80", "70000"}, 2, "want a whole number from 0 to 65535", false},
		{"negative weight", []string{"weight", "198.18.0.100:80", "198.18.1.2:80", "-1"}, 2, "want a whole number from 0 to 65535", false},
		{"weight with a bad real", []string{"weight", "198.18.0.100:80", "198.18.1.2", "1"}, 2, "want ADDR:PORT", false},
		{"weight with a bad proto", []string{"weight", "--proto", "SCTP", "198.18.0.100:80", "198.18.1.2:80", "1"}, 2, "want TCP or UDP", false},
		{"drain missing the real", []string{"drain", "198.18.0.100:80"}, 2, "want 2 arguments", false},
		{"no daemon on the socket", []string{"--socket", "/nonexistent/xlbd.sock", "weight", "198.18.0.100:80", "198.18.1.2:80", "1"}, 1,
			"no xlbd listening on /nonexistent/xlbd.sock: start xlbd, or name its socket with --socket PATH", false},
		{"health without a daemon", []string{"health", "--socket", "/nonexistent/xlbd.sock"}, 1, "no xlbd listening", false},
		{"--bpffs alone selects the installation's socket", []string{"--bpffs", "/sys/fs/bpf/xlb-nowhere-test", "vrrp"}, 1,
			"no xlbd listening on /run/xlb/xlb-nowhere-test.sock", false},
		{"--socket wins over --bpffs", []string{"vrrp", "--bpffs", "/sys/fs/bpf/xlb-nowhere-test", "--socket", "/nonexistent/s.sock"}, 1,
			"no xlbd listening on /nonexistent/s.sock", false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var dp dataplane = newFakeDP()
			if tc.noFakeDP {
				dp = nil
			}
			out, errOut, code := runXlb(t, dp, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q does not say %q", errOut, tc.wantErr)
			}
			if first := strings.SplitN(strings.TrimSpace(errOut), "\n", 2)[0]; !strings.Contains(first, "xlb") && !strings.Contains(first, "invalid") {
				t.Errorf("the error's first line %q does not name xlb", first)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing on an error", out)
			}
		})
	}
}

// Every command answers --help with its usage and at least one example.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := runXlb(t, newFakeDP(), c.name, "--help")
			if code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			for _, want := range []string{"usage: xlb " + c.name, "Examples:", "  xlb ", "-bpffs"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("--help does not show %q:\n%s", want, errOut)
				}
			}
		})
	}
	out, _, code := runXlb(t, newFakeDP(), "help")
	if code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("xlb help: status %d, output:\n%s", code, out)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("xlb help does not list %s", c.name)
		}
	}
}
