package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fdCount is the number of open file descriptors of this process.
func fdCount(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// fdPeak samples the fd count every millisecond until stop is called, and
// returns the peak.
func fdPeak(tb testing.TB) (stop func() int) {
	var (
		peak atomic.Int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	peak.Store(int64(fdCount(tb)))
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n := int64(fdCount(tb)); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return int(peak.Load()) }
}

// acceptServers starts n loopback listeners that accept and close.
func acceptServers(tb testing.TB, n int) []netip.AddrPort {
	tb.Helper()
	var addrs []netip.AddrPort
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		tb.Cleanup(func() { ln.Close(); <-done })
		ap, _ := netip.ParseAddrPort(ln.Addr().String())
		addrs = append(addrs, ap)
	}
	return addrs
}

// countingChecker counts the checks of each target.
type countingChecker struct {
	Checker
	n atomic.Int32
}

func (c *countingChecker) Check(ctx context.Context) (Result, error) {
	c.n.Add(1)
	return c.Checker.Check(ctx)
}

func TestMonitorManyTCPTargetsBoundedFDs(t *testing.T) {
	const targets, workers = 2000, 64
	addrs := acceptServers(t, 8)
	m := NewMonitor(MonitorOptions{Workers: workers})
	checkers := make([]*countingChecker, targets)
	o := LoopOptions{DelayLoop: 200 * time.Millisecond, ConnectTimeout: 2 * time.Second, Warmup: 200 * time.Millisecond}
	for i := range targets {
		checkers[i] = &countingChecker{Checker: &TCPCheck{Endpoint: Endpoint{Addr: addrs[i%len(addrs)]}}}
		if err := m.Add(Target{Name: fmt.Sprint(i), Checker: checkers[i], Options: o}); err != nil {
			t.Fatal(err)
		}
	}
	base := fdCount(t)
	stopFD := fdPeak(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var downs atomic.Int32
	go func() {
		for ev := range m.Events() {
			if !ev.Up {
				downs.Add(1)
				t.Logf("unexpected down: %+v", ev)
			}
		}
	}()
	runDone := make(chan struct{})
	go func() { m.Run(ctx); close(runDone) }()
	// Wait until every target has been checked twice.
	for ctx.Err() == nil {
		all := true
		for _, c := range checkers {
			if c.n.Load() < 2 {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-runDone
	peak := stopFD()
	for i, c := range checkers {
		if c.n.Load() < 2 {
			t.Fatalf("target %d checked %d times in 20s, want 2", i, c.n.Load())
		}
	}
	if d := downs.Load(); d > 0 {
		t.Errorf("%d targets reported down against listening servers", d)
	}
	// Each in-flight check holds one client socket; the servers in this
	// process hold the accepted side briefly. Goroutine-per-target would
	// show thousands here.
	if extra := peak - base; extra > 2*workers+16 {
		t.Errorf("peak fds %d above the %d before the run, want at most %d (2 per worker)", extra, base, 2*workers+16)
	}
	st := m.Stats()
	t.Logf("%d checks, %d failures, peak extra fds %d, max lag %v", st.Checks, st.Failures, peak-base, st.MaxLag)
}

// benchMonitor runs b.N checks of targets built by mk against the monitor
// and reports checks per second, peak extra fds and the worst lag.
func benchMonitor(b *testing.B, targets int, delay time.Duration, mk func(i int) Checker) {
	m := NewMonitor(MonitorOptions{})
	o := LoopOptions{DelayLoop: delay, ConnectTimeout: 5 * time.Second, Warmup: delay}
	for i := range targets {
		if err := m.Add(Target{Name: fmt.Sprint(i), Checker: mk(i), Options: o}); err != nil {
			b.Fatal(err)
		}
	}
	var downs atomic.Int64
	go func() {
		for ev := range m.Events() {
			if !ev.Up {
				downs.Add(1)
			}
		}
	}()
	base := fdCount(b)
	stopFD := fdPeak(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	runDone := make(chan struct{})
	go func() { m.Run(ctx); close(runDone) }()
	for m.Stats().Checks < uint64(b.N) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-runDone
	peak := stopFD()
	st := m.Stats()
	if st.Checks < uint64(b.N) {
		b.Fatalf("only %d of %d checks in 60s", st.Checks, b.N)
	}
	if downs.Load() > 0 || st.Failures > 0 {
		b.Fatalf("%d failed checks, %d down events against healthy servers", st.Failures, downs.Load())
	}
	b.ReportMetric(float64(st.Checks)/el.Seconds(), "checks/s")
	b.ReportMetric(float64(peak-base), "peak_fds")
	b.ReportMetric(float64(st.MaxLag.Milliseconds()), "max_lag_ms")
}

// BenchmarkMonitorTCP10k: 10,000 TCP_CHECK targets at delay_loop 1s
// (warmup 1s spreads them), the scale the daemon must hold on one core;
// checks/s near 10000 means it keeps up. Run with -cpu 1.
func BenchmarkMonitorTCP10k(b *testing.B) {
	addrs := acceptServers(b, 16)
	benchMonitor(b, 10000, time.Second, func(i int) Checker {
		return &TCPCheck{Endpoint: Endpoint{Addr: addrs[i%len(addrs)]}}
	})
}

// BenchmarkMonitorTCPSaturated: 1,000 TCP_CHECK targets at delay_loop 1ms,
// so the workers never idle: the most checks per second the machine does.
func BenchmarkMonitorTCPSaturated(b *testing.B) {
	addrs := acceptServers(b, 16)
	benchMonitor(b, 1000, time.Millisecond, func(i int) Checker {
		return &TCPCheck{Endpoint: Endpoint{Addr: addrs[i%len(addrs)]}}
	})
}

// BenchmarkMonitorHTTP10k: 10,000 HTTP_GET targets (status and MD5 digest)
// at delay_loop 1s against loopback net/http servers.
func BenchmarkMonitorHTTP10k(b *testing.B) {
	var addrs []netip.AddrPort
	for range 8 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello world"))
		}))
		b.Cleanup(srv.Close)
		ap, _ := netip.ParseAddrPort(srv.Listener.Addr().String())
		addrs = append(addrs, ap)
	}
	digest := md5hex("hello world")
	benchMonitor(b, 10000, time.Second, func(i int) Checker {
		return &HTTPGet{Endpoint: Endpoint{Addr: addrs[i%len(addrs)]}, URLs: []URL{{Path: "/", Digest: digest}}}
	})
}
