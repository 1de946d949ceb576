package health

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one check outcome fed to the tracker and what it must answer.
type step struct {
	fail      bool
	weight    int // with dynamic set: Result{Weight, WeightSet}
	dynamic   bool
	wantEvent string // "", "up", "down", "weight N"
	wantNext  time.Duration
}

func TestTrackerSequences(t *testing.T) {
	const loop, retry = 10 * time.Second, 2 * time.Second
	ok := func(wantEvent string, next time.Duration) step { return step{wantEvent: wantEvent, wantNext: next} }
	ko := func(wantEvent string, next time.Duration) step {
		return step{fail: true, wantEvent: wantEvent, wantNext: next}
	}
	dyn := func(w int, wantEvent string) step {
		return step{dynamic: true, weight: w, wantEvent: wantEvent, wantNext: loop}
	}
	tests := []struct {
		desc  string
		opts  LoopOptions
		steps []step
	}{
		{
			desc:  "retry 0: first failure is down, one success is up",
			opts:  LoopOptions{Retry: 0},
			steps: []step{ok("", loop), ko("down", loop), ko("", loop), ok("up", loop)},
		},
		{
			desc: "retry 2: down after 3 failures in a row, retries after delay_before_retry",
			opts: LoopOptions{Retry: 2},
			steps: []step{
				ko("", retry), ko("", retry), ko("down", loop),
				ko("", loop), // down stays down at delay_loop pace
				ok("up", loop),
			},
		},
		{
			desc: "retry 2: a success between failures resets the count",
			opts: LoopOptions{Retry: 2},
			steps: []step{
				ko("", retry), ko("", retry), ok("", loop),
				ko("", retry), ko("", retry), ko("down", loop),
			},
		},
		{
			desc:  "alpha starts down; one success is up",
			opts:  LoopOptions{Alpha: true, Retry: 1},
			steps: []step{ko("", loop), ok("up", loop), ko("", retry), ko("down", loop)},
		},
		{
			desc: "rise 3 fall 2 override retry",
			opts: LoopOptions{Alpha: true, Retry: 5, Rise: 3, Fall: 2},
			steps: []step{
				ok("", retry), ok("", retry), ko("", loop), // the failure resets rise
				ok("", retry), ok("", retry), ok("up", loop),
				ko("", retry), ok("", loop), ko("", retry), ko("down", loop),
			},
		},
		{
			desc: "misc_dynamic weight changes while up are events",
			opts: LoopOptions{Retry: 0},
			steps: []step{
				dyn(5, "weight 5"), dyn(5, ""), ok("", loop), // exit 0 keeps the weight
				dyn(7, "weight 7"),
				ko("down", loop),
				dyn(7, "up"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			o := tt.opts
			o.DelayLoop, o.DelayBeforeRetry, o.ConnectTimeout = loop, retry, time.Second
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			tr := newTracker(o)
			for i, s := range tt.steps {
				var err error
				if s.fail {
					err = fmt.Errorf("HTTP status 500, want 200-299")
				}
				ev, emit, next := tr.observe(Result{Weight: s.weight, WeightSet: s.dynamic}, err)
				got := ""
				if emit {
					switch {
					case !ev.Up:
						got = "down"
						if ev.Reason != "HTTP status 500, want 200-299" {
							t.Errorf("step %d: down reason %q, want the check's error", i, ev.Reason)
						}
					case strings.HasPrefix(ev.Reason, "dynamic weight"):
						got = fmt.Sprintf("weight %d", ev.Weight)
					default:
						got = "up"
					}
				}
				if got != s.wantEvent {
					t.Errorf("step %d (fail=%v): event %q, want %q", i, s.fail, got, s.wantEvent)
				}
				if next != s.wantNext {
					t.Errorf("step %d (fail=%v): next check in %v, want %v", i, s.fail, next, s.wantNext)
				}
			}
		})
	}
}

func TestLoopOptionsValidate(t *testing.T) {
	good := LoopOptions{DelayLoop: time.Second, ConnectTimeout: time.Second}
	tests := []struct {
		desc string
		mod  func(*LoopOptions)
		ok   bool
	}{
		{"defaults", func(o *LoopOptions) { *o = DefaultLoopOptions() }, true},
		{"minimal", func(*LoopOptions) {}, true},
		{"zero delay_loop", func(o *LoopOptions) { o.DelayLoop = 0 }, false},
		{"zero connect_timeout", func(o *LoopOptions) { o.ConnectTimeout = 0 }, false},
		{"negative retry", func(o *LoopOptions) { o.Retry = -1 }, false},
		{"negative rise", func(o *LoopOptions) { o.Rise = -1 }, false},
		{"negative fall", func(o *LoopOptions) { o.Fall = -1 }, false},
		{"negative warmup", func(o *LoopOptions) { o.Warmup = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			o := good
			tt.mod(&o)
			err := o.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", o, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadOptions) {
				t.Errorf("error %v does not wrap ErrBadOptions", err)
			}
		})
	}
}
