package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xlbproject/xlb/testenv"
)

// stream is a long-lived TCP connection through a VIP to an echo server:
// one goroutine writes a known byte sequence at a steady, bounded rate, the
// other reads the echo and checks every byte against the sequence, so a
// reset, a lost, a repeated or a reordered byte is an error.
type stream struct {
	conn       *net.TCPConn
	sent, recv atomic.Int64

	stop     chan struct{}
	wrDone   chan struct{}
	rdDone   chan struct{}
	mu       sync.Mutex
	err      error // first error of either side
	finished bool
}

const (
	streamChunk     = 512
	streamInterval  = 2 * time.Millisecond
	streamMaxChunks = 60000 // 30 MB at most, about two minutes at this rate
	streamStall     = 5 * time.Second
)

// streamByte is byte off of the sequence.
func streamByte(off int64) byte { return byte(off % 251) }

func startStream(t *testing.T, client *testenv.Host, addr string) *stream {
	t.Helper()
	c, err := client.DialContext(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	s := &stream{conn: c.(*net.TCPConn), stop: make(chan struct{}), wrDone: make(chan struct{}), rdDone: make(chan struct{})}
	t.Cleanup(func() {
		s.halt()
		s.conn.Close()
		<-s.rdDone
	})
	go s.write()
	go s.read()
	return s
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *stream) error() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stream) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		s.finished = true
		close(s.stop)
	}
}

func (s *stream) write() {
	defer close(s.wrDone)
	buf := make([]byte, streamChunk)
	tick := time.NewTicker(streamInterval)
	defer tick.Stop()
	for range streamMaxChunks {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		off := s.sent.Load()
		for i := range buf {
			buf[i] = streamByte(off + int64(i))
		}
		s.conn.SetWriteDeadline(time.Now().Add(streamStall))
		n, err := s.conn.Write(buf)
		s.sent.Add(int64(n))
		if err != nil {
			s.fail(fmt.Errorf("write after %d bytes: %w", s.sent.Load(), err))
			return
		}
	}
}

func (s *stream) read() {
	defer close(s.rdDone)
	buf := make([]byte, 64<<10)
	for {
		s.conn.SetReadDeadline(time.Now().Add(streamStall))
		n, err := s.conn.Read(buf)
		off := s.recv.Load()
		for i := range n {
			if buf[i] != streamByte(off+int64(i)) {
				s.fail(fmt.Errorf("echo byte %d is %d, want %d: bytes were lost, repeated or reordered", off+int64(i), buf[i], streamByte(off+int64(i))))
				return
			}
		}
		s.recv.Add(int64(n))
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			s.fail(fmt.Errorf("read after %d bytes: %w", s.recv.Load(), err))
			return
		}
	}
}

// flowing waits until the echo has grown by at least want bytes, and fails
// on any error of the stream.
func (s *stream) flowing(t *testing.T, step string, want int64) {
	t.Helper()
	from := s.recv.Load()
	deadline := time.Now().Add(streamStall)
	for s.recv.Load() < from+want {
		if err := s.error(); err != nil {
			t.Fatalf("%s: the long-lived stream broke: %v", step, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the long-lived stream stalled: %d bytes echoed in %v, want %d (sent %d, echoed %d in all)",
				step, s.recv.Load()-from, streamStall, want, s.sent.Load(), s.recv.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s: stream flowing, %d bytes sent, %d echoed", step, s.sent.Load(), s.recv.Load())
}

// finish stops writing, half-closes, reads the echo to its end and checks
// that every byte sent came back.
func (s *stream) finish(t *testing.T) {
	t.Helper()
	s.halt()
	<-s.wrDone
	if err := s.conn.CloseWrite(); err != nil {
		t.Fatalf("close the stream's write side: %v", err)
	}
	select {
	case <-s.rdDone:
	case <-time.After(2 * streamStall):
		t.Fatalf("the echo did not end after the write side closed (sent %d, echoed %d)", s.sent.Load(), s.recv.Load())
	}
	if err := s.error(); err != nil {
		t.Fatalf("the long-lived stream broke: %v", err)
	}
	if s.sent.Load() != s.recv.Load() {
		t.Fatalf("sent %d bytes, %d came back", s.sent.Load(), s.recv.Load())
	}
	t.Logf("stream complete: %d bytes each way, every byte in order", s.sent.Load())
}

// progTag is the tag (hash of the instructions) of the XDP program the
// pinned link of ifname runs.
func progTag(t *testing.T, pinDir, ifname string) string {
	t.Helper()
	l, err := link.LoadPinnedLink(filepath.Join(pinDir, "links", ifname), nil)
	if err != nil {
		t.Fatalf("load the pinned link of %s: %v", ifname, err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatalf("link info of %s: %v", ifname, err)
	}
	prog, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		t.Fatalf("program %d of %s: %v", info.Program, ifname, err)
	}
	defer prog.Close()
	pi, err := prog.Info()
	if err != nil {
		t.Fatalf("program info: %v", err)
	}
	return pi.Tag
}

// buildNextXlbd builds an xlbd whose BPF program differs from the one this
// package was built with, as a new version's would: the same source
// compiled for another BPF instruction set (-mcpu=v4 instead of v3), so the
// instructions and the program's tag differ while maps and behaviour stay.
// The object replaces loader's embedded one through go build -overlay.
func buildNextXlbd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	obj := filepath.Join(dir, "xlb_bpfel.o")
	for _, c := range [][]string{
		{"clang-19", "-O2", "-g", "-Wall", "-mcpu=v4", "-target", "bpfel", "-I/usr/include/x86_64-linux-gnu", "-c", "../../bpf/xlb.c", "-o", obj},
		{"llvm-strip-19", "-g", obj},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s (install clang-19 and llvm-19: make deps): %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	embedded, err := filepath.Abs("../../loader/xlb_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {embedded: obj}})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xlbd-next")
	if out, err := exec.Command("go", "build", "-overlay", overlayFile, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build xlbd with the other BPF object: %v\n%s", err, out)
	}
	return bin
}

// streamConf has a wrr HTTP service on port 80 (to see where new
// connections go) and an rr echo service on port 7 (for the stream).
func streamConf(reals []*testenv.Host, httpWeights, echoWeights []int) string {
	var b strings.Builder
	b.WriteString("! xlbd upgrade test\nvirtual_server 198.18.0.100 80 {\n    lvs_sched wrr\n    lvs_method NAT\n    protocol TCP\n")
	for i, w := range httpWeights {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight %d\n    }\n", reals[i].Addr, w)
	}
	b.WriteString("}\nvirtual_server 198.18.0.100 7 {\n    lvs_sched wrr\n    lvs_method NAT\n    protocol TCP\n")
	for i, w := range echoWeights {
		fmt.Fprintf(&b, "    real_server %s 7 {\n        weight %d\n    }\n", reals[i].Addr, w)
	}
	b.WriteString("}\n")
	return b.String()
}

// checkWeights sends n new connections to the HTTP service and checks they
// follow the weights of real1 and real2 (wrr: exact up to one connection).
func checkWeights(t *testing.T, step string, topo *testenv.Topology, w1, w2, n int) {
	t.Helper()
	seen := getMany(t, topo.Client, "http://"+vipHTTP+"/", n)
	want1 := n * w1 / (w1 + w2)
	if seen["real1"] < want1-1 || seen["real1"] > want1+1 || seen["real1"]+seen["real2"] != n {
		t.Errorf("%s: %d new connections answered %v, want real1=%d real2=%d (weights %d:%d)", step, n, seen, want1, n-want1, w1, w2)
	}
}

// A long-lived TCP stream through the VIP keeps flowing, with no reset and
// no lost byte, across a reload that adds a real and changes weights, a
// reload of an invalid file, kill -9 and a restart, and an upgrade to an
// xlbd whose program differs; new connections follow the configuration
// after each.
func TestIntegrationStreamAcrossReloadRestartUpgrade(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	for _, r := range topo.Reals {
		if _, err := r.ServeTCPEcho(7); err != nil {
			t.Fatal(err)
		}
	}
	// Let the test not depend on the compiler after the stream started.
	next := buildNextXlbd(t)

	x := startXlbd(t, topo, streamConf(topo.Reals, []int{1}, []int{1}))
	s := startStream(t, topo.Client, "198.18.0.100:7")
	s.flowing(t, "start", 64<<10)
	checkWeights(t, "start", topo, 1, 0, 4)

	// (a) SIGHUP adding real2 and changing the weights of both services.
	x.rewrite(t, streamConf(topo.Reals, []int{1, 3}, []int{2, 1}))
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitLog("configuration reloaded", 5*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, x.Log())
	}
	s.flowing(t, "(a) reload adding a real", 64<<10)
	checkWeights(t, "(a) reload adding a real", topo, 1, 3, 40)

	// (b) SIGHUP with an invalid file: reported, nothing changes.
	good := streamConf(topo.Reals, []int{1, 3}, []int{2, 1})
	x.rewrite(t, strings.Replace(good, "lvs_sched wrr", "lvs_sched nosuch", 1))
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitLog("configuration not reloaded", 5*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, x.Log())
	}
	if !strings.Contains(x.Log(), "xlb.conf:3:15") {
		t.Errorf("the rejected reload does not name the position of the error:\n%s", x.Log())
	}
	s.flowing(t, "(b) invalid reload", 64<<10)
	checkWeights(t, "(b) invalid reload", topo, 1, 3, 40)
	x.rewrite(t, good)

	// (c) kill -9: the pinned data plane forwards on its own; a new xlbd
	// adopts it.
	x.killed = true
	if err := x.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	x.Wait(5 * time.Second)
	s.flowing(t, "(c) xlbd killed", 64<<10)
	args := []string{"-f", x.file, "--bpffs", x.pinDir, "-i", testenv.DirectorFrontIf, "-i", testenv.DirectorLANIf, "--flow-table-size", "65536"}
	d, err := topo.Director.StartDaemon(filepath.Join(binDir, "xlbd"), args...)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Log())
	}
	if !strings.Contains(d.Log(), "adopted data plane state") {
		t.Errorf("the restarted xlbd did not adopt the pinned state:\n%s", d.Log())
	}
	s.flowing(t, "(c) restarted", 64<<10)
	checkWeights(t, "(c) restarted", topo, 1, 3, 40)
	before := progTag(t, x.pinDir, testenv.DirectorFrontIf)

	// (d) upgrade: stop this xlbd (the data plane stays) and start a build
	// whose program differs; it replaces the program through the pinned
	// links and keeps the maps.
	if err := d.Stop(5 * time.Second); err != nil {
		t.Fatalf("xlbd did not stop on SIGTERM: %v\n%s", err, d.Log())
	}
	if !strings.Contains(d.Log(), "data plane left running") {
		t.Errorf("xlbd stopped without saying it left the data plane running:\n%s", d.Log())
	}
	s.flowing(t, "(d) old xlbd stopped", 64<<10)
	d2, err := topo.Director.StartDaemon(next, args...)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.WaitLog("xlbd running", 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d2.Log())
	}
	if !strings.Contains(d2.Log(), "replaced program on interface in place") || !strings.Contains(d2.Log(), "adopted data plane state") {
		t.Errorf("the new xlbd did not replace the program in place and adopt the maps:\n%s", d2.Log())
	}
	after := progTag(t, x.pinDir, testenv.DirectorFrontIf)
	if after == before {
		t.Errorf("the program on %s has the same tag %s after the upgrade: it was not replaced by the new version", testenv.DirectorFrontIf, after)
	}
	t.Logf("program tag on %s: %s before the upgrade, %s after", testenv.DirectorFrontIf, before, after)
	s.flowing(t, "(d) upgraded", 64<<10)
	checkWeights(t, "(d) upgraded", topo, 1, 3, 40)

	s.finish(t)
	if err := d2.Stop(5 * time.Second); err != nil {
		t.Errorf("the upgraded xlbd did not stop on SIGTERM: %v\n%s", err, d2.Log())
	}
}
