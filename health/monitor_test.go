package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script is a fake checker that answers from a list, then repeats the last.
type script struct {
	mu    sync.Mutex
	steps []error
	n     int
	times []time.Time
}

func (s *script) Check(ctx context.Context) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	i := min(s.n, len(s.steps)-1)
	s.n++
	return Result{}, s.steps[i]
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

var errFake = errors.New("HTTP status 503, want 200-299")

func fastOptions() LoopOptions {
	return LoopOptions{DelayLoop: 5 * time.Millisecond, ConnectTimeout: 200 * time.Millisecond, DelayBeforeRetry: time.Millisecond}
}

// collect runs m until want events arrived or 5 s passed.
func collect(t *testing.T, m *Monitor, want int) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var evs []Event
	for len(evs) < want {
		select {
		case ev := <-m.Events():
			evs = append(evs, ev)
		case <-ctx.Done():
			t.Errorf("got %d events before timeout, want %d: %+v", len(evs), want, evs)
			want = 0
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run returned %v", err)
	}
	return evs
}

func TestMonitorRetrySequence(t *testing.T) {
	// up (no event), fail, fail, fail -> down (retry 2), fail, ok -> up.
	s := &script{steps: []error{nil, errFake, errFake, errFake, errFake, nil}}
	m := NewMonitor(MonitorOptions{Workers: 2})
	o := fastOptions()
	o.Retry = 2
	o.DelayBeforeRetry = 20 * time.Millisecond
	o.DelayLoop = 300 * time.Millisecond
	if err := m.Add(Target{Name: "198.18.1.2:80", Checker: s, Options: o}); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, m, 2)
	if len(evs) != 2 {
		t.FailNow()
	}
	if evs[0].Up || evs[0].Reason != errFake.Error() || evs[0].Target != "198.18.1.2:80" {
		t.Errorf("first event %+v, want down with reason %q", evs[0], errFake)
	}
	if !evs[1].Up {
		t.Errorf("second event %+v, want up", evs[1])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < 6 {
		t.Fatalf("%d checks ran, want at least 6", s.n)
	}
	// Gaps: after the success delay_loop; between retries delay_before_retry;
	// after down delay_loop.
	wantGap := []time.Duration{o.DelayLoop, o.DelayBeforeRetry, o.DelayBeforeRetry, o.DelayLoop, o.DelayLoop}
	for i, w := range wantGap {
		gap := s.times[i+1].Sub(s.times[i])
		if gap < w || gap > w+150*time.Millisecond { // generous: a loaded machine is late, never early
			t.Errorf("gap before check %d is %v, want about %v", i+2, gap, w)
		}
	}
}

func TestMonitorAlphaAndStatus(t *testing.T) {
	s := &script{steps: []error{errFake, errFake, nil}}
	m := NewMonitor(MonitorOptions{})
	o := fastOptions()
	o.Alpha = true
	if err := m.Add(Target{Name: "a", Checker: s, Options: o}); err != nil {
		t.Fatal(err)
	}
	if st, ok := m.Status("a"); !ok || st.Up {
		t.Fatalf("status before first check = %+v, %v; want down (alpha)", st, ok)
	}
	evs := collect(t, m, 1)
	if len(evs) != 1 || !evs[0].Up || evs[0].Reason != "check succeeded" {
		t.Fatalf("events %+v, want one up event", evs)
	}
	if n := s.calls(); n < 3 {
		t.Errorf("%d checks before up, want 3", n)
	}
	if st, _ := m.Status("a"); !st.Up {
		t.Errorf("status after up event = %+v", st)
	}
}

func TestMonitorConnectTimeoutBoundsCheck(t *testing.T) {
	hang := CheckerFunc(func(ctx context.Context) (Result, error) {
		<-ctx.Done()
		return Result{}, &TimeoutError{After: budget(ctx, time.Now().Add(-30*time.Millisecond))}
	})
	m := NewMonitor(MonitorOptions{})
	o := fastOptions()
	o.ConnectTimeout = 30 * time.Millisecond
	if err := m.Add(Target{Name: "hang", Checker: hang, Options: o}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	evs := collect(t, m, 1)
	if len(evs) != 1 || evs[0].Up || !strings.HasPrefix(evs[0].Reason, "timeout after") {
		t.Fatalf("events %+v, want one down event with a timeout", evs)
	}
	if el := time.Since(start); el < 30*time.Millisecond || el > 2*time.Second {
		t.Errorf("down after %v, want about connect_timeout 30ms", el)
	}
}

func TestMonitorCallbackDynamicWeightAndPanic(t *testing.T) {
	var n atomic.Int32
	dyn := CheckerFunc(func(ctx context.Context) (Result, error) {
		switch n.Add(1) {
		case 1:
			return Result{Weight: 3, WeightSet: true}, nil
		case 2:
			panic("boom")
		default:
			return Result{}, nil
		}
	})
	got := make(chan Event, 10)
	m := NewMonitor(MonitorOptions{OnEvent: func(e Event) { got <- e }})
	if m.Events() != nil {
		t.Error("Events() is not nil with a callback")
	}
	if err := m.Add(Target{Name: "dyn", Checker: dyn, Options: fastOptions()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go m.Run(ctx)
	want := []string{"up w3 dynamic weight 3", "down w3 checker panic: boom", "up w3 check succeeded"}
	for i, w := range want {
		select {
		case e := <-got:
			s := fmt.Sprintf("%s w%d %s", map[bool]string{true: "up", false: "down"}[e.Up], e.Weight, e.Reason)
			if s != w {
				t.Errorf("event %d = %q, want %q", i, s, w)
			}
		case <-ctx.Done():
			t.Fatalf("event %d did not arrive", i)
		}
	}
}

func TestMonitorWorkersBoundConcurrency(t *testing.T) {
	const workers, targets = 3, 30
	var cur, peak atomic.Int32
	slow := CheckerFunc(func(ctx context.Context) (Result, error) {
		c := cur.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		cur.Add(-1)
		return Result{}, nil
	})
	m := NewMonitor(MonitorOptions{Workers: workers})
	for i := range targets {
		if err := m.Add(Target{Name: fmt.Sprint(i), Checker: slow, Options: fastOptions()}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go m.Run(ctx)
	deadline := time.Now().Add(4 * time.Second)
	for m.Stats().Checks < 3*targets && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if c := m.Stats().Checks; c < 3*targets {
		t.Fatalf("%d checks ran, want at least %d", c, 3*targets)
	}
	if p := peak.Load(); p != workers {
		t.Errorf("peak concurrent checks %d, want %d workers", p, workers)
	}
}

func TestMonitorAddRemoveWarmup(t *testing.T) {
	m := NewMonitor(MonitorOptions{Int64N: func(n int64) int64 { return n - 1 }})
	o := fastOptions()
	o.Warmup = 150 * time.Millisecond
	warm := &script{steps: []error{nil}}
	gone := &script{steps: []error{nil}}
	if err := m.Add(Target{Name: "warm", Checker: warm, Options: o}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Target{Name: "gone", Checker: gone, Options: fastOptions()}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Target{Name: "gone", Checker: gone, Options: fastOptions()}); !errors.Is(err, ErrDuplicateTarget) {
		t.Errorf("second Add of the same name = %v, want ErrDuplicateTarget", err)
	}
	if err := m.Add(Target{Name: "bad", Checker: gone}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Add with zero options = %v, want ErrBadOptions", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	go m.Run(ctx)
	deadline := time.Now().Add(3 * time.Second)
	for gone.calls() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !m.Remove("gone") || m.Remove("gone") {
		t.Error("Remove did not report true then false")
	}
	n := gone.calls()
	for warm.calls() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	warm.mu.Lock()
	first := warm.times[0].Sub(start)
	warm.mu.Unlock()
	if first < 140*time.Millisecond {
		t.Errorf("first check of a warmup 150ms target after %v, want about 150ms", first)
	}
	time.Sleep(30 * time.Millisecond)
	if after := gone.calls(); after > n+1 {
		t.Errorf("removed target checked %d more times", after-n)
	}
}

func TestBudget(t *testing.T) {
	start := time.Now()
	ctx, cancel := WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	time.Sleep(5 * time.Millisecond) // the check starts late: still "3s"
	if got := budget(ctx, time.Now()); got != 3*time.Second {
		t.Errorf("budget under WithTimeout(3s) = %v, want 3s", got)
	}
	inner, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if got := budget(inner, start); got < 490*time.Millisecond || got > 510*time.Millisecond {
		t.Errorf("budget under a tighter plain deadline = %v, want about 500ms", got)
	}
	if got := (&TimeoutError{After: 3 * time.Second}).Error(); got != "timeout after 3s" {
		t.Errorf("TimeoutError text %q", got)
	}
}

func TestMonitorReplaceKeepsState(t *testing.T) {
	m := NewMonitor(MonitorOptions{})
	down := &script{steps: []error{errFake}}
	up := &script{steps: []error{nil}}
	if err := m.Add(Target{Name: "r", Checker: down, Options: fastOptions()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go m.Run(ctx)
	if ev := <-m.Events(); ev.Up {
		t.Fatalf("first event %+v, want down", ev)
	}
	if err := m.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	o := fastOptions()
	o.Rise = 2
	if err := m.Replace(Target{Name: "r", Checker: up, Options: o}); err != nil {
		t.Fatal(err)
	}
	if err := m.Replace(Target{Name: "x", Checker: up, Options: o}); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("Replace of an unknown target = %v, want ErrUnknownTarget", err)
	}
	select {
	case ev := <-m.Events():
		if !ev.Up || ev.Reason != "2 checks succeeded in a row" {
			t.Errorf("event after Replace %+v, want up after rise 2", ev)
		}
	case <-ctx.Done():
		t.Fatal("no up event after Replace")
	}
	if up.calls() < 2 {
		t.Errorf("new checker ran %d times, want 2", up.calls())
	}
}

// A suspended target is not checked and keeps its state; Resume checks it
// again at once.
func TestMonitorSuspendResume(t *testing.T) {
	m := NewMonitor(MonitorOptions{})
	var ok atomic.Bool
	var calls atomic.Int64
	flaky := CheckerFunc(func(ctx context.Context) (Result, error) {
		calls.Add(1)
		if ok.Load() {
			return Result{}, nil
		}
		return Result{}, errFake
	})
	var others atomic.Int64
	other := CheckerFunc(func(ctx context.Context) (Result, error) { others.Add(1); return Result{}, nil })
	for _, tg := range []Target{{Name: "r", Checker: flaky, Options: fastOptions()}, {Name: "o", Checker: other, Options: fastOptions()}} {
		if err := m.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go m.Run(ctx)
	if ev := <-m.Events(); ev.Up || ev.Target != "r" {
		t.Fatalf("first event %+v, want r down", ev)
	}
	if !m.Suspend("r") || m.Suspend("nosuch") {
		t.Fatal("Suspend reports the wrong existence")
	}
	// Let a check in flight at Suspend finish, then watch the other target
	// run 20 more checks.
	waitN := func(c *atomic.Int64, n int64) {
		t.Helper()
		for c.Load() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("counter at %d, want %d", c.Load(), n)
			case <-time.After(time.Millisecond):
			}
		}
	}
	waitN(&others, others.Load()+2)
	before := calls.Load()
	ok.Store(true) // would bring it up, if it were checked
	waitN(&others, others.Load()+20)
	if got := calls.Load(); got != before {
		t.Errorf("suspended target checked %d more times", got-before)
	}
	if st, _ := m.Status("r"); st.Up {
		t.Error("suspended target changed state")
	}
	if !m.Resume("r") || m.Resume("nosuch") {
		t.Fatal("Resume reports the wrong existence")
	}
	select {
	case ev := <-m.Events():
		if !ev.Up || ev.Target != "r" {
			t.Errorf("event after Resume %+v, want r up", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event after Resume")
	}
}
