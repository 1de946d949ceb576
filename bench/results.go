package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Results is everything one run measured; bench/results.json holds it.
type Results struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	// Calls is the BPF_PROG_TEST_RUN calls per per-packet case.
	Calls   int       `json:"calls_per_case"`
	Program []GoBench `json:"program"`
	// ProgramSize is the XDP program's size as the kernel holds it.
	ProgramSize []GoBench       `json:"program_size,omitempty"`
	E2E         *E2EResults     `json:"end_to_end,omitempty"`
	Control     *ControlResults `json:"control,omitempty"`
	// Sweep is xlbd's connection table sweeper (BenchmarkSweep).
	Sweep   []GoBench `json:"sweep,omitempty"`
	Health  []GoBench `json:"health"`
	VRRP    []GoBench `json:"vrrp"`
	Targets []Target  `json:"targets"`
	// Errors lists the parts that failed; their figures are missing.
	Errors []string `json:"errors,omitempty"`
}

// Machine are the facts of the machine the figures come from.
type Machine struct {
	Kernel string `json:"kernel"`
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	MemMB  int    `json:"mem_mb"`
	// LLC is the size of CPU 0's last-level cache, as sysfs gives it ("32768K").
	LLC string `json:"llc,omitempty"`
	Go  string `json:"go"`
}

func machineFacts() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	var kb int
	fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%d", &kb)
	m.MemMB = kb / 1024
	m.LLC = lastLevelCache()
	return m
}

// lastLevelCache is the size of CPU 0's highest-level cache; "" if sysfs
// does not say.
func lastLevelCache() string {
	var size string
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	best := -1
	for _, d := range dirs {
		level, err := os.ReadFile(filepath.Join(d, "level"))
		if err != nil {
			continue
		}
		var l int
		if _, err := fmt.Sscanf(string(level), "%d", &l); err != nil || l <= best {
			continue
		}
		if s, err := os.ReadFile(filepath.Join(d, "size")); err == nil {
			best, size = l, strings.TrimSpace(string(s))
		}
	}
	return size
}

// procField is the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Target is one target of issue 8 and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Met is nil when the run did not measure it.
	Met *bool `json:"met"`
}

func (r *Results) program(name string) (GoBench, bool) {
	for _, b := range r.Program {
		if b.Name == name {
			return b, true
		}
	}
	return GoBench{}, false
}

// nftablesTarget is the packet rate xlb is to reach, as a multiple of
// nftables DNAT's.
const nftablesTarget = 3.5

// targets checks the run's figures against issue 8's targets.
func targets(r *Results) []Target {
	var ts []Target
	add := func(name, want string, got string, met *bool) {
		ts = append(ts, Target{Name: name, Want: want, Got: got, Met: met})
	}
	le := func(v, limit float64) *bool { b := v <= limit; return &b }
	ge := func(v, limit float64) *bool { b := v >= limit; return &b }
	for _, c := range []struct {
		name, bench string
		limit       float64
		// references are cases that bound this one from below, shown beside it.
		references []string
	}{
		{"non-VIP above floor", "BenchmarkXDP/non-VIP_pass", 15, nil},
		{"DR established above floor", "BenchmarkXDP/DR_established", 40, nil},
		{"NAT established above floor", "BenchmarkXDP/NAT_established", 60, nil},
		{"NAT reply above floor", "BenchmarkXDP/NAT_reply", 60, nil},
		{"new flow, 1M flows, above floor", "BenchmarkXDP/new_flow_DR_rr,_1M_flows", 250,
			[]string{"BenchmarkXDP/table_only,_1M_flows", "BenchmarkXDP/bucket_only,_1M_flows"}},
	} {
		want := fmt.Sprintf("median <= %.0f ns", c.limit)
		if b, ok := r.program(c.bench); ok {
			v := b.Metrics["above-floor-ns"]
			got := fmt.Sprintf("%.0f ns (median %.0f, floor %.0f", v, b.Metrics["median-ns"], b.Metrics["floor-ns"])
			for _, name := range c.references {
				if ref, ok := r.program(name); ok {
					got += fmt.Sprintf("; %s: %.0f ns", strings.ReplaceAll(strings.TrimPrefix(name, "BenchmarkXDP/"), "_", " "), ref.Metrics["above-floor-ns"])
				}
			}
			add(c.name, want, got+")", le(v, c.limit))
		} else {
			add(c.name, want, "not measured", nil)
		}
	}
	if e := r.E2E; e != nil {
		floor, nft := e.pps("xdp-floor"), e.pps("nftables-dnat")
		for _, c := range []struct {
			name, setup string
			ofFloor     float64
		}{{"xlb DR pps vs floor", "xlb-dr", 0.95}, {"xlb NAT pps vs floor", "xlb-nat", 0.90}} {
			v := e.pps(c.setup)
			if r := e.ppsRatio(c.setup, "xdp-floor"); r > 0 {
				add(c.name, fmt.Sprintf(">= %.0f%% of the XDP floor", c.ofFloor*100), fmt.Sprintf("%.1f%% (median of the rounds' ratios; medians %.0f / %.0f pps)", 100*r, v, floor), ge(r, c.ofFloor))
			} else {
				add(c.name, fmt.Sprintf(">= %.0f%% of the XDP floor", c.ofFloor*100), "not measured", nil)
			}
			if r := e.ppsRatio(c.setup, "nftables-dnat"); r > 0 {
				add(c.name[:len(c.name)-len("vs floor")]+"vs nftables DNAT", fmt.Sprintf(">= %.1fx", nftablesTarget), fmt.Sprintf("%.2fx (medians %.0f / %.0f pps)", r, v, nft), ge(r, nftablesTarget))
			} else {
				add(c.name[:len(c.name)-len("vs floor")]+"vs nftables DNAT", fmt.Sprintf(">= %.1fx", nftablesTarget), "not measured", nil)
			}
		}
		x := e.cps("xlb-nat")
		for _, c := range []struct {
			name, peer string
			ratio      float64
		}{{"TCP conn/s vs nftables DNAT", "nftables-dnat", 1.1}, {"TCP conn/s vs HAProxy", "haproxy", 2}} {
			if r := e.cpsRatio("xlb-nat", c.peer); r > 0 {
				add(c.name, fmt.Sprintf(">= %.1fx", c.ratio), fmt.Sprintf("%.2fx (median of the rounds' ratios; medians %.0f / %.0f conn/s)", r, x, e.cps(c.peer)), ge(r, c.ratio))
			} else {
				add(c.name, fmt.Sprintf(">= %.1fx", c.ratio), "not measured", nil)
			}
		}
	}
	if c := r.Control; c != nil && c.ApplyMs > 0 {
		add(fmt.Sprintf("apply %dx%d", c.Services, c.RealsPerService), "< 1 s", fmt.Sprintf("%.0f ms", c.ApplyMs), le(c.ApplyMs, 999.999))
		only := c.Touched.OnlyChanged && len(c.Touched.Services) == 1
		add("one-real change touches only its service", "only that service's entries",
			fmt.Sprintf("services %v, real ids %v", c.Touched.Services, c.Touched.Reals), &only)
	}
	return ts
}
