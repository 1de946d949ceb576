package loader_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
)

// BenchmarkSweep times xlbd's sweeper (control.Sweeper.Sweep) over a
// connection table of xlbd's default size: empty, holding 500,000 NAT
// flows (a forward and a reply entry each) and 1,000,000 established DR
// flows. No entry is old enough to expire, so each sweep does the same
// work. It reports the process's CPU time and the wall time per sweep,
// and the share of one CPU the sweeper takes at that cost, paced as xlbd
// paces it (control.SweepPeriod).
func BenchmarkSweep(b *testing.B) {
	h := newBenchHarness(b, goldenState(nil, nil))
	b.Run("empty table", func(b *testing.B) { timeSweeps(b, h) })
	h.fillFlows(b, vipNAT, 80, fillSize/2, 512)
	b.Run("500k NAT flows", func(b *testing.B) { timeSweeps(b, h) })

	h = newBenchHarness(b, goldenState(nil, nil))
	h.fillFlows(b, vipRR, 80, fillSize, 512)
	h.fillFlowsWith(b, vipRR, 80, fillSize, 512, ack)
	b.Run("1M DR flows", func(b *testing.B) { timeSweeps(b, h) })
}

// timeSweeps runs b.N sweeps of h's connection table.
func timeSweeps(b *testing.B, h *xdpHarness) {
	sw := control.NewSweeper(h.dp, control.DefaultTimeouts(), nil)
	var entries int
	cpu0 := processCPU(b)
	start := time.Now()
	for range b.N {
		res, err := sw.Sweep()
		if err != nil {
			b.Fatalf("sweep: %v", err)
		}
		if res.Expired != 0 {
			b.Fatalf("sweep expired %d entries, want none", res.Expired)
		}
		entries = res.Flows
	}
	wall := time.Since(start) / time.Duration(b.N)
	cpu := (processCPU(b) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/sweep")
	b.ReportMetric(float64(wall.Microseconds())/1000, "wall-ms/sweep")
	period := control.SweepPeriod(control.DefaultSweepInterval, wall)
	b.ReportMetric(100*float64(cpu)/float64(period), "cpu-%")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
