package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Effect is what one tracker does to an instance: force Fault, or add Delta
// (possibly negative) to the configured priority.
type Effect struct {
	Fault bool
	Delta int
}

// Tracker watches one thing (an interface, a script, a file, a process) and
// reports its Effect whenever it changes. Run calls report from its own
// goroutine until ctx ends.
type Tracker interface {
	Name() string
	Run(ctx context.Context, report func(Effect))
}

// WeightEffect is keepalived's rule for up/down trackers (track_interface,
// track_script, track_process): weight 0 puts the instance in Fault while
// down; a positive weight is added while up; a negative weight is added
// while down. Reverse swaps up and down.
func WeightEffect(up bool, weight int, reverse bool) Effect {
	if reverse {
		up = !up
	}
	switch {
	case weight == 0:
		return Effect{Fault: !up}
	case weight > 0 && up, weight < 0 && !up:
		return Effect{Delta: weight}
	}
	return Effect{}
}

// FileEffect is keepalived's rule for vrrp_track_file: with weight 0 any
// non-zero value is a Fault; otherwise value*weight is added (negated with
// reverse), and a result of -254 or less is a Fault.
func FileEffect(value int64, weight int, reverse bool) Effect {
	if weight == 0 {
		return Effect{Fault: value != 0}
	}
	d := value * int64(weight)
	if reverse {
		d = -d
	}
	if d <= -254 {
		return Effect{Fault: true}
	}
	return Effect{Delta: int(min(max(d, -254), 254))}
}

// EffectivePriority combines tracker effects with the configured priority
// the way keepalived does: the sum is clamped to 1..254, an address owner
// (255) keeps 255, and any Fault wins.
func EffectivePriority(base uint8, effects []Effect) (prio uint8, fault bool) {
	sum := 0
	for _, e := range effects {
		fault = fault || e.Fault
		sum += e.Delta
	}
	if base == PriorityOwner {
		return base, fault
	}
	return uint8(min(max(int(base)+sum, 1), 254)), fault
}

type trackUpdate struct {
	idx int
	e   Effect
}

type trackerSet struct {
	ts      []Tracker
	effects []Effect
}

func newTrackerSet(ts []Tracker) *trackerSet {
	return &trackerSet{ts: ts, effects: make([]Effect, len(ts))}
}

func (s *trackerSet) start(ctx context.Context, ch chan<- trackUpdate) {
	for i, t := range s.ts {
		go t.Run(ctx, func(e Effect) {
			select {
			case ch <- trackUpdate{idx: i, e: e}:
			case <-ctx.Done():
			}
		})
	}
}

func (s *trackerSet) update(u trackUpdate) { s.effects[u.idx] = u.e }

// faultReason names the trackers that force Fault.
func (s *trackerSet) faultReason() string {
	var names []string
	for i, e := range s.effects {
		if e.Fault {
			names = append(names, s.ts[i].Name())
		}
	}
	if len(names) == 0 {
		return "a tracker failed"
	}
	return "tracked " + strings.Join(names, ", ") + " failed"
}

func (s *trackerSet) effective(base uint8) (uint8, bool) {
	return EffectivePriority(base, s.effects)
}

// poll calls check every interval (and at once) until ctx ends, reporting
// the effect when it changes (and the first time).
func poll(ctx context.Context, interval time.Duration, check func(context.Context) Effect, report func(Effect)) {
	if interval <= 0 {
		interval = time.Second
	}
	var last Effect
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		e := check(ctx)
		if ctx.Err() != nil {
			return
		}
		if first || e != last {
			report(e)
			first, last = false, e
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// InterfaceTracker is track_interface: an interface that is down (not up
// and running) counts as a failure.
type InterfaceTracker struct {
	Interface string
	Weight    int
	Reverse   bool
	// Interval is how often the link state is read (default 200ms).
	Interval time.Duration
}

// Name implements Tracker.
func (t *InterfaceTracker) Name() string { return "interface " + t.Interface }

// Run implements Tracker.
func (t *InterfaceTracker) Run(ctx context.Context, report func(Effect)) {
	iv := t.Interval
	if iv == 0 {
		iv = 200 * time.Millisecond
	}
	poll(ctx, iv, func(context.Context) Effect {
		ifi, err := net.InterfaceByName(t.Interface)
		up := err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
		return WeightEffect(up, t.Weight, t.Reverse)
	}, report)
}

// ScriptTracker is vrrp_script: a program run every Interval without a
// shell; exit status 0 is success. After Fall consecutive failures it is
// down, after Rise consecutive successes up again.
type ScriptTracker struct {
	Script   string   // name for logs
	Args     []string // argv; Args[0] is the program
	Interval time.Duration
	// Timeout kills a run that takes longer (default Interval).
	Timeout    time.Duration
	Rise, Fall int // default 1
	Weight     int
	Reverse    bool
	// InitFail starts the script in the failed state (init_fail).
	InitFail bool
	// RunAs is the user the script runs as; nil: the daemon's.
	RunAs *RunAs
}

// Name implements Tracker.
func (t *ScriptTracker) Name() string { return "script " + t.Script }

// Run implements Tracker.
func (t *ScriptTracker) Run(ctx context.Context, report func(Effect)) {
	if len(t.Args) == 0 {
		report(WeightEffect(false, t.Weight, t.Reverse))
		return
	}
	iv := t.Interval
	if iv <= 0 {
		iv = time.Second
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = iv
	}
	rise, fall := max(t.Rise, 1), max(t.Fall, 1)
	up := !t.InitFail
	report(WeightEffect(up, t.Weight, t.Reverse))
	streak := 0 // consecutive results contradicting the current state
	tick := time.NewTicker(iv)
	defer tick.Stop()
	for {
		ok := runScript(ctx, t.Args, timeout, t.RunAs)
		if ctx.Err() != nil {
			return
		}
		if ok == up {
			streak = 0
		} else {
			streak++
			if (up && streak >= fall) || (!up && streak >= rise) {
				up, streak = ok, 0
				report(WeightEffect(up, t.Weight, t.Reverse))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func runScript(ctx context.Context, argv []string, timeout time.Duration, as *RunAs) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = as.sysProcAttr()
	cmd.WaitDelay = time.Second
	return cmd.Run() == nil
}

// FileTracker is vrrp_track_file: the file holds an integer (missing or
// unreadable counts as 0), applied with FileEffect.
type FileTracker struct {
	Path    string
	Weight  int
	Reverse bool
	// Interval is how often the file is read (default 1s).
	Interval time.Duration
}

// Name implements Tracker.
func (t *FileTracker) Name() string { return "file " + t.Path }

// Run implements Tracker.
func (t *FileTracker) Run(ctx context.Context, report func(Effect)) {
	poll(ctx, t.Interval, func(context.Context) Effect {
		v, _ := ReadTrackFile(t.Path)
		return FileEffect(v, t.Weight, t.Reverse)
	}, report)
}

// ReadTrackFile reads the integer at the start of a track file.
func ReadTrackFile(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read track file: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, nil
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse track file %s: %w", path, err)
	}
	return v, nil
}

// ProcessTracker is vrrp_track_process: up while at least Quorum (default 1)
// and at most QuorumMax (0: no limit) matching processes run. A process
// matches by its name (comm, or the base name of argv[0]; with FullCommand
// argv[0] exactly) and, when Args are given, by its parameters: exactly,
// or with ParamMatch "initial" as their beginning, "partial" anywhere.
// ForkDelay and TerminateDelay hold a change of the count's verdict back
// (up, down) until it has lasted that long.
type ProcessTracker struct {
	Process     string
	Args        []string
	ParamMatch  string
	FullCommand bool
	Quorum      int
	QuorumMax   int
	Weight      int
	Reverse     bool
	// ForkDelay and TerminateDelay (fork_delay, terminate_delay).
	ForkDelay, TerminateDelay time.Duration
	// Interval is how often /proc is scanned (default 1s).
	Interval time.Duration
	// Proc is the procfs root (default /proc).
	Proc string
}

// Name implements Tracker.
func (t *ProcessTracker) Name() string { return "process " + t.Process }

// Run implements Tracker.
func (t *ProcessTracker) Run(ctx context.Context, report func(Effect)) {
	iv := t.Interval
	if iv <= 0 {
		iv = time.Second
	}
	if t.ForkDelay > 0 || t.TerminateDelay > 0 {
		iv = min(iv, max(min(nonZero(t.ForkDelay, iv), nonZero(t.TerminateDelay, iv))/4, 10*time.Millisecond))
	}
	var (
		up, started bool
		since       time.Time // when the raw verdict began to differ from up
	)
	poll(ctx, iv, func(context.Context) Effect {
		n, err := t.count()
		q := max(t.Quorum, 1)
		raw := err == nil && n >= q && (t.QuorumMax == 0 || n <= t.QuorumMax)
		now := time.Now()
		switch {
		case !started:
			up, started = raw, true
		case raw == up:
			since = time.Time{}
		case since.IsZero():
			since = now
			fallthrough
		default:
			delay := t.TerminateDelay
			if raw {
				delay = t.ForkDelay
			}
			if now.Sub(since) >= delay {
				up, since = raw, time.Time{}
			}
		}
		return WeightEffect(up, t.Weight, t.Reverse)
	}, report)
}

func nonZero(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// count is the number of matching processes.
func (t *ProcessTracker) count() (int, error) {
	return countProcs(t.Proc, func(comm string, argv []string) bool {
		if len(argv) == 0 {
			return false
		}
		switch {
		case t.FullCommand:
			if argv[0] != t.Process {
				return false
			}
		case comm != t.Process && filepath.Base(argv[0]) != t.Process:
			return false
		}
		return matchParams(argv[1:], t.Args, t.ParamMatch)
	})
}

// matchParams applies keepalived's param_match: no want matches anything;
// "" needs have == want, "initial" want as have's beginning, "partial"
// want as a run of consecutive parameters anywhere in have.
func matchParams(have, want []string, mode string) bool {
	if len(want) == 0 {
		return true
	}
	switch mode {
	case "initial":
		return len(have) >= len(want) && slices.Equal(have[:len(want)], want)
	case "partial":
		for i := 0; i+len(want) <= len(have); i++ {
			if slices.Equal(have[i:i+len(want)], want) {
				return true
			}
		}
		return false
	}
	return slices.Equal(have, want)
}

var errNoProc = errors.New("no procfs")

// CountProcesses counts processes under proc (default /proc) whose comm or
// argv[0] base name is name.
func CountProcesses(proc, name string) (int, error) {
	return countProcs(proc, func(comm string, argv []string) bool {
		return comm == name || len(argv) > 0 && filepath.Base(argv[0]) == name
	})
}

// countProcs counts the processes under proc (default /proc) that match.
func countProcs(proc string, match func(comm string, argv []string) bool) (int, error) {
	if proc == "" {
		proc = "/proc"
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w: %w", proc, errNoProc, err)
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join(proc, e.Name())
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		cl, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		var argv []string
		if len(cl) > 0 {
			argv = strings.Split(strings.TrimSuffix(string(cl), "\x00"), "\x00")
		}
		if match(strings.TrimSpace(string(comm)), argv) {
			n++
		}
	}
	return n, nil
}
