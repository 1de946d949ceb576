package vrrp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWeightEffect(t *testing.T) {
	tests := []struct {
		desc    string
		up      bool
		weight  int
		reverse bool
		want    Effect
	}{
		{"weight 0 up", true, 0, false, Effect{}},
		{"weight 0 down is fault", false, 0, false, Effect{Fault: true}},
		{"positive weight added while up", true, 10, false, Effect{Delta: 10}},
		{"positive weight nothing while down", false, 10, false, Effect{}},
		{"negative weight nothing while up", true, -20, false, Effect{}},
		{"negative weight subtracted while down", false, -20, false, Effect{Delta: -20}},
		{"reverse: positive weight added while down", false, 10, true, Effect{Delta: 10}},
		{"reverse: weight 0 fault while up", true, 0, true, Effect{Fault: true}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := WeightEffect(tt.up, tt.weight, tt.reverse); got != tt.want {
				t.Fatalf("WeightEffect(%v, %d, %v) = %+v, want %+v", tt.up, tt.weight, tt.reverse, got, tt.want)
			}
		})
	}
}

func TestFileEffect(t *testing.T) {
	tests := []struct {
		desc    string
		value   int64
		weight  int
		reverse bool
		want    Effect
	}{
		{"weight 0 value 0", 0, 0, false, Effect{}},
		{"weight 0 non-zero is fault", 3, 0, false, Effect{Fault: true}},
		{"value times weight", 3, 5, false, Effect{Delta: 15}},
		{"negative value", -2, 10, false, Effect{Delta: -20}},
		{"reverse negates", 3, 5, true, Effect{Delta: -15}},
		{"-254 or less is fault", -254, 1, false, Effect{Fault: true}},
		{"large positive clamps", 1000, 1, false, Effect{Delta: 254}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := FileEffect(tt.value, tt.weight, tt.reverse); got != tt.want {
				t.Fatalf("FileEffect(%d, %d, %v) = %+v, want %+v", tt.value, tt.weight, tt.reverse, got, tt.want)
			}
		})
	}
}

func TestEffectivePriority(t *testing.T) {
	tests := []struct {
		desc      string
		base      uint8
		effects   []Effect
		wantPrio  uint8
		wantFault bool
	}{
		{"no trackers", 100, nil, 100, false},
		{"sum of deltas", 100, []Effect{{Delta: 10}, {Delta: -30}}, 80, false},
		{"clamped to 254", 250, []Effect{{Delta: 10}}, 254, false},
		{"clamped to 1", 10, []Effect{{Delta: -50}}, 1, false},
		{"owner keeps 255", 255, []Effect{{Delta: -50}}, 255, false},
		{"any fault", 100, []Effect{{Delta: 5}, {Fault: true}}, 105, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p, f := EffectivePriority(tt.base, tt.effects)
			if p != tt.wantPrio || f != tt.wantFault {
				t.Fatalf("EffectivePriority(%d, %v) = %d, %v; want %d, %v", tt.base, tt.effects, p, f, tt.wantPrio, tt.wantFault)
			}
		})
	}
}

// collect runs a tracker until it has reported n effects (or 5s passed).
func collect(t *testing.T, tr Tracker, n int) []Effect {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []Effect
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, func(e Effect) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e)
			if len(got) == n {
				cancel()
			}
		})
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) < n {
		t.Fatalf("%s reported %v, want %d effects", tr.Name(), got, n)
	}
	return got
}

func TestScriptTracker(t *testing.T) {
	dir := t.TempDir()
	// The script fails while the flag file exists.
	flag := filepath.Join(dir, "fail")
	tr := &ScriptTracker{Script: "chk", Args: []string{"/bin/sh", "-c", "test ! -e " + flag},
		Interval: 10 * time.Millisecond, Rise: 2, Fall: 3, Weight: -20}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reports := make(chan Effect, 10)
	go tr.Run(ctx, func(e Effect) { reports <- e })
	next := func(want Effect, what string) time.Time {
		t.Helper()
		select {
		case e := <-reports:
			if e != want {
				t.Fatalf("%s: effect %+v, want %+v", what, e, want)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no report", what)
		}
		return time.Now()
	}
	next(Effect{}, "initial state (up)")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next(Effect{Delta: -20}, "after fall=3 failures")
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("went down after %v, want at least 3 runs 10ms apart", d)
	}
	os.Remove(flag)
	next(Effect{}, "after rise=2 successes")
}

func TestScriptTrackerWeightZeroFault(t *testing.T) {
	got := collect(t, &ScriptTracker{Script: "false", Args: []string{"/bin/false"}, Interval: 10 * time.Millisecond}, 2)
	if want := []Effect{{}, {Fault: true}}; !slices.Equal(got, want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
	got = collect(t, &ScriptTracker{Script: "missing", Args: []string{"/nonexistent/xlb-check"}, Interval: 10 * time.Millisecond, Weight: 5}, 2)
	if want := []Effect{{Delta: 5}, {}}; !slices.Equal(got, want) {
		t.Fatalf("missing program: effects %v, want %v", got, want)
	}
}

func TestFileTracker(t *testing.T) {
	tests := []struct {
		desc    string
		content string // "" with missing=true: no file
		missing bool
		weight  int
		want    Effect
	}{
		{"value 2 weight 5", "2\n", false, 5, Effect{Delta: 10}},
		{"value -1 weight 30", "-1", false, 30, Effect{Delta: -30}},
		{"weight 0 non-zero", "7 trailing words\n", false, 0, Effect{Fault: true}},
		{"missing file is 0", "", true, 0, Effect{}},
		{"garbage is 0", "abc", false, 0, Effect{}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if !tt.missing {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := collect(t, &FileTracker{Path: path, Weight: tt.weight}, 1)
			if got[0] != tt.want {
				t.Fatalf("effect %+v, want %+v", got[0], tt.want)
			}
		})
	}
}

func TestProcessTracker(t *testing.T) {
	proc := t.TempDir()
	mk := func(pid int, comm, cmdline string) {
		d := filepath.Join(proc, fmt.Sprint(pid))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o644)
	}
	mk(1, "init", "/sbin/init\x00")
	mk(10, "haproxy", "/usr/sbin/haproxy\x00-f\x00cfg\x00")
	mk(11, "haproxy", "/usr/sbin/haproxy\x00-f\x00cfg\x00")
	mk(12, "python3", "/usr/bin/xlb-agent\x00")
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)
	tests := []struct {
		desc         string
		name         string
		quorum, qmax int
		weight       int
		want         Effect
	}{
		{"running", "haproxy", 0, 0, 0, Effect{}},
		{"not running is fault", "nginx", 0, 0, 0, Effect{Fault: true}},
		{"argv0 base name", "xlb-agent", 0, 0, -10, Effect{}},
		{"quorum 3 not met", "haproxy", 3, 0, -10, Effect{Delta: -10}},
		{"quorum max exceeded", "haproxy", 1, 1, 0, Effect{Fault: true}},
		{"positive weight while up", "haproxy", 2, 2, 15, Effect{Delta: 15}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := collect(t, &ProcessTracker{Process: tt.name, Quorum: tt.quorum, QuorumMax: tt.qmax, Weight: tt.weight, Proc: proc}, 1)
			if got[0] != tt.want {
				t.Fatalf("effect %+v, want %+v", got[0], tt.want)
			}
		})
	}
	if n, err := CountProcesses("", "xlb-no-such-process"); err != nil || n != 0 {
		t.Fatalf("CountProcesses on /proc = %d, %v; want 0, nil", n, err)
	}
}

func TestInterfaceTracker(t *testing.T) {
	if got := collect(t, &InterfaceTracker{Interface: "lo"}, 1); got[0] != (Effect{}) {
		t.Fatalf("lo: effect %+v, want none (up)", got[0])
	}
	if got := collect(t, &InterfaceTracker{Interface: "xlb-missing0", Weight: -30}, 1); got[0] != (Effect{Delta: -30}) {
		t.Fatalf("missing interface: effect %+v, want -30", got[0])
	}
}

func TestNotifyArgs(t *testing.T) {
	got := NotifyArgs([]string{"/usr/local/bin/notify", "--x"}, "VI_1", "MASTER", 150)
	want := []string{"/usr/local/bin/notify", "--x", "INSTANCE", "VI_1", "MASTER", "150"}
	if !slices.Equal(got, want) {
		t.Fatalf("NotifyArgs = %q, want %q", got, want)
	}
}

func TestProcessTrackerParams(t *testing.T) {
	proc := t.TempDir()
	mk := func(pid int, comm string, argv ...string) {
		d := filepath.Join(proc, fmt.Sprint(pid))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.Join(argv, "\x00")+"\x00"), 0o644)
	}
	mk(10, "haproxy", "/usr/sbin/haproxy", "-f", "/etc/haproxy.cfg", "-D")
	mk(11, "haproxy", "/opt/haproxy/haproxy", "-f", "/etc/other.cfg")
	tests := []struct {
		desc   string
		tr     ProcessTracker
		wantUp bool
	}{
		{"exact parameters", ProcessTracker{Process: "haproxy", Args: []string{"-f", "/etc/other.cfg"}}, true},
		{"exact parameters, one missing", ProcessTracker{Process: "haproxy", Args: []string{"-f", "/etc/haproxy.cfg"}}, false},
		{"initial", ProcessTracker{Process: "haproxy", Args: []string{"-f", "/etc/haproxy.cfg"}, ParamMatch: "initial"}, true},
		{"initial, not at the start", ProcessTracker{Process: "haproxy", Args: []string{"/etc/haproxy.cfg"}, ParamMatch: "initial"}, false},
		{"partial", ProcessTracker{Process: "haproxy", Args: []string{"/etc/haproxy.cfg", "-D"}, ParamMatch: "partial"}, true},
		{"partial, out of order", ProcessTracker{Process: "haproxy", Args: []string{"-D", "-f"}, ParamMatch: "partial"}, false},
		{"full command", ProcessTracker{Process: "/opt/haproxy/haproxy", FullCommand: true}, true},
		{"full command needs the path", ProcessTracker{Process: "haproxy", FullCommand: true}, false},
		{"quorum 2 by name", ProcessTracker{Process: "haproxy", Quorum: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tr := tt.tr
			tr.Proc, tr.Weight = proc, 0
			got := collect(t, &tr, 1)
			if got[0].Fault == tt.wantUp {
				t.Fatalf("effect %+v, want up %v", got[0], tt.wantUp)
			}
		})
	}
}

// terminate_delay holds the down verdict back until the process has been
// gone that long.
func TestProcessTrackerTerminateDelay(t *testing.T) {
	proc := t.TempDir()
	d := filepath.Join(proc, "10")
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "comm"), []byte("haproxy\n"), 0o644)
	os.WriteFile(filepath.Join(d, "cmdline"), []byte("haproxy\x00"), 0o644)
	const delay = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	effects := make(chan Effect, 4)
	go (&ProcessTracker{Process: "haproxy", Proc: proc, Interval: 10 * time.Millisecond, TerminateDelay: delay}).Run(ctx, func(e Effect) { effects <- e })
	if e := <-effects; e.Fault {
		t.Fatalf("first effect %+v, want up", e)
	}
	gone := time.Now()
	os.RemoveAll(d)
	select {
	case e := <-effects:
		if !e.Fault {
			t.Fatalf("effect %+v, want fault (weight 0)", e)
		}
		if took := time.Since(gone); took < delay {
			t.Fatalf("down after %v, before terminate_delay %v", took, delay)
		}
	case <-ctx.Done():
		t.Fatal("no down verdict within 5s")
	}
}
