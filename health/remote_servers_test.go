//go:build linux

package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchServerEnv makes this test binary an HTTP server process for
// BenchmarkMonitorHTTP10kRemote instead of running tests.
const benchServerEnv = "XLB_HEALTH_BENCH_SERVERS"

func TestMain(m *testing.M) {
	if n := os.Getenv(benchServerEnv); n != "" {
		serveForBenchmark(n)
		return
	}
	os.Exit(m.Run())
}

// serveForBenchmark runs n HTTP servers on loopback, prints their
// addresses, one a line, then serves until its standard input closes.
func serveForBenchmark(n string) {
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a number of servers\n", benchServerEnv, n)
		os.Exit(2)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello world")) })
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go http.Serve(l, handler)
		fmt.Println(l.Addr())
	}
	io.Copy(io.Discard, os.Stdin)
}

// remoteHTTPServers starts n HTTP servers in a child process pinned to the
// last CPU, and pins this process's threads to the others: the checks are
// measured on their own core, as a director checks reals on other machines.
func remoteHTTPServers(b *testing.B, n int) []netip.AddrPort {
	b.Helper()
	cpus := runtime.NumCPU()
	if cpus < 2 {
		b.Skip("needs 2 CPUs: one for the checker, one for the servers")
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("taskset", "-c", strconv.Itoa(cpus-1), exe)
	cmd.Env = append(os.Environ(), benchServerEnv+"="+strconv.Itoa(n), "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start server process (%s): %v", filepath.Base(exe), err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child serves until its standard input closes
		cmd.Wait()
	})
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(sc.Text()))
		if err != nil {
			b.Fatalf("server process said %q: %v", sc.Text(), err)
		}
		addrs = append(addrs, ap)
	}
	if len(addrs) < n {
		b.Fatalf("server process gave %d of %d addresses", len(addrs), n)
	}
	pinThreads(b, cpus-1)
	return addrs
}

// pinThreads keeps every thread of this process (and those it starts
// later, which inherit it) off CPU busy.
func pinThreads(b *testing.B, busy int) {
	b.Helper()
	var set unix.CPUSet
	for c := range runtime.NumCPU() {
		if c != busy {
			set.Set(c)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			b.Fatalf("pin thread %d: %v", tid, err)
		}
	}
}

// BenchmarkMonitorHTTP10kRemote: 10,000 HTTP_GET targets (status and MD5
// digest) at delay_loop 1s, the checker on one core and the servers in
// another process on another: checks/s near 10000 means one core keeps up.
// Run with -cpu 1.
func BenchmarkMonitorHTTP10kRemote(b *testing.B) {
	addrs := remoteHTTPServers(b, 8)
	digest := md5hex("hello world")
	benchMonitor(b, 10000, time.Second, func(i int) Checker {
		return &HTTPGet{Endpoint: Endpoint{Addr: addrs[i%len(addrs)]}, URLs: []URL{{Path: "/", Digest: digest}}}
	})
}
