package health

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWorkers is the number of checks a Monitor runs at once when
// MonitorOptions.Workers is 0. It also bounds the sockets and processes
// the checkers hold open at any time.
const DefaultWorkers = 256

// Target is one checker scheduled by a Monitor.
type Target struct {
	// Name identifies the target in events, e.g.
	// "198.18.1.2:80 of 198.18.0.100:80 HTTP_GET". Unique per Monitor.
	Name    string
	Checker Checker
	Options LoopOptions
}

// MonitorOptions configure a Monitor.
type MonitorOptions struct {
	// Workers is the number of checks run at once (default
	// DefaultWorkers).
	Workers int
	// OnEvent, when set, receives every event. Calls are serialised; a
	// slow callback delays the checks of the worker that calls it.
	OnEvent func(Event)
	// EventBuffer is the capacity of the Events channel used when OnEvent
	// is nil (default 1024).
	EventBuffer int
	// Int64N returns a random number in [0, n) for warmup; default
	// math/rand/v2.Int64N. Tests set it to be deterministic.
	Int64N func(n int64) int64
}

// Stats are counters of a Monitor since it was created.
type Stats struct {
	Checks   uint64 // checks run
	Failures uint64 // checks that failed
	// MaxLag is the longest a due check waited for a free worker: above
	// a few milliseconds the Monitor has more targets than it can check
	// at their delay_loop.
	MaxLag time.Duration
}

// Status is the current state of one target.
type Status struct {
	Up        bool
	Weight    int
	WeightSet bool
}

// Errors of the Monitor, to be matched with errors.Is.
var (
	// ErrDuplicateTarget is returned by Add for a name already added.
	ErrDuplicateTarget = errors.New("duplicate target")
	// ErrUnknownTarget is returned by Replace for a name not added.
	ErrUnknownTarget = errors.New("unknown target")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("monitor already running")
)

// Monitor schedules checks of many targets on a bounded pool of workers and
// reports their state changes.
type Monitor struct {
	opts   MonitorOptions
	events chan Event
	wake   chan struct{}
	evMu   sync.Mutex

	mu      sync.Mutex
	queue   entryHeap
	entries map[string]*entry

	checks, failures atomic.Uint64
	maxLag           atomic.Int64
	started          atomic.Bool
}

type entry struct {
	target    Target
	tr        tracker
	due       time.Time
	index     int // in the heap; -1 when not queued (running, suspended or removed)
	running   bool
	removed   bool
	suspended bool
}

// NewMonitor returns a Monitor with no targets.
func NewMonitor(opts MonitorOptions) *Monitor {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 1024
	}
	if opts.Int64N == nil {
		opts.Int64N = rand.Int64N
	}
	m := &Monitor{
		opts:    opts,
		wake:    make(chan struct{}, 1),
		entries: make(map[string]*entry),
	}
	if opts.OnEvent == nil {
		m.events = make(chan Event, opts.EventBuffer)
	}
	return m
}

// Events returns the channel events are sent to when MonitorOptions.OnEvent
// is nil, or nil. A worker waits for the reader when the channel is full.
// The channel is closed when Run returns.
func (m *Monitor) Events() <-chan Event { return m.events }

// Add schedules a target; its first check runs at once, or after a random
// part of its warmup. Add may be called before or while Run runs.
func (m *Monitor) Add(t Target) error {
	if t.Checker == nil {
		return fmt.Errorf("add target %q: no checker", t.Name)
	}
	if err := t.Options.Validate(); err != nil {
		return fmt.Errorf("add target %q: %w", t.Name, err)
	}
	due := time.Now()
	if t.Options.Warmup > 0 {
		due = due.Add(time.Duration(m.opts.Int64N(int64(t.Options.Warmup))))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[t.Name]; ok {
		return fmt.Errorf("add target %q: %w", t.Name, ErrDuplicateTarget)
	}
	e := &entry{target: t, tr: newTracker(t.Options), due: due}
	m.entries[t.Name] = e
	heap.Push(&m.queue, e)
	m.poke()
	return nil
}

// Replace swaps the checker and options of a target, keeping its state (up
// or down, dynamic weight) so that a configuration reload does not flap it;
// the counts toward retry, rise and fall start again. A check in flight
// finishes with the old checker. The next check keeps its time unless the
// new delay_loop brings it closer.
func (m *Monitor) Replace(t Target) error {
	if t.Checker == nil {
		return fmt.Errorf("replace target %q: no checker", t.Name)
	}
	if err := t.Options.Validate(); err != nil {
		return fmt.Errorf("replace target %q: %w", t.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[t.Name]
	if !ok {
		return fmt.Errorf("replace target %q: %w", t.Name, ErrUnknownTarget)
	}
	e.target = t
	e.tr.opts = t.Options
	e.tr.fails, e.tr.oks = 0, 0
	if e.index >= 0 {
		if soon := time.Now().Add(t.Options.DelayLoop); soon.Before(e.due) {
			e.due = soon
			heap.Fix(&m.queue, e.index)
			m.poke()
		}
	}
	return nil
}

// Remove stops checking a target. A check of it in flight finishes but
// reports nothing. It reports whether the target existed.
func (m *Monitor) Remove(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return false
	}
	delete(m.entries, name)
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&m.queue, e.index)
	}
	return true
}

// Suspend stops checking a target, keeping its state, until Resume
// (keepalived's ha_suspend while the VIP is elsewhere). A check in flight
// finishes and is recorded. It reports whether the target exists.
func (m *Monitor) Suspend(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return false
	}
	e.suspended = true
	if e.index >= 0 {
		heap.Remove(&m.queue, e.index)
	}
	return true
}

// Resume checks a suspended target again, at once; the counts toward
// retry, rise and fall start again. It reports whether the target exists.
func (m *Monitor) Resume(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return false
	}
	if !e.suspended {
		return true
	}
	e.suspended = false
	e.tr.fails, e.tr.oks = 0, 0
	if e.index < 0 && !e.running {
		e.due = time.Now()
		heap.Push(&m.queue, e)
		m.poke()
	}
	return true
}

// Status returns the current state of a target.
func (m *Monitor) Status(name string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return Status{}, false
	}
	return Status{Up: e.tr.up, Weight: e.tr.weight, WeightSet: e.tr.weightSet}, true
}

// Stats returns the Monitor's counters.
func (m *Monitor) Stats() Stats {
	return Stats{
		Checks:   m.checks.Load(),
		Failures: m.failures.Load(),
		MaxLag:   time.Duration(m.maxLag.Load()),
	}
}

func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run checks the targets until ctx is done, then waits for the checks in
// flight (each bounded by its connect_timeout) and returns ctx's error.
// Run may be called once.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	if m.events != nil {
		defer close(m.events)
	}
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range m.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				m.runOne(ctx, e)
			}
		}()
	}
	m.schedule(ctx, work)
	close(work)
	wg.Wait()
	return ctx.Err()
}

// schedule hands due entries to the workers until ctx is done.
func (m *Monitor) schedule(ctx context.Context, work chan<- *entry) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.mu.Lock()
		var (
			e    *entry
			due  time.Time
			wait = time.Hour
		)
		now := time.Now()
		if len(m.queue) > 0 {
			if top := m.queue[0]; !top.due.After(now) {
				e = heap.Pop(&m.queue).(*entry)
				e.running = true
				due = e.due
			} else {
				wait = top.due.Sub(now)
			}
		}
		m.mu.Unlock()

		if e != nil {
			select {
			case work <- e:
				if lag := time.Since(due); lag > time.Duration(m.maxLag.Load()) {
					m.maxLag.Store(int64(lag))
				}
				continue
			case <-ctx.Done():
				m.mu.Lock()
				e.running = false
				m.mu.Unlock()
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-m.wake:
			timer.Stop() // Go 1.23+: no stale tick survives Stop or Reset
		case <-ctx.Done():
			return
		}
	}
}

// runOne runs one check of e, records it and queues e again.
func (m *Monitor) runOne(ctx context.Context, e *entry) {
	m.mu.Lock()
	t := e.target
	m.mu.Unlock()
	cctx, cancel := WithTimeout(ctx, t.Options.ConnectTimeout)
	res, err := safeCheck(cctx, t.Checker)
	cancel()
	if ctx.Err() != nil {
		m.mu.Lock()
		e.running = false
		m.mu.Unlock()
		return // shutting down: the result says nothing about the server
	}
	m.checks.Add(1)
	if err != nil {
		m.failures.Add(1)
	}

	m.mu.Lock()
	ev, emit, next := e.tr.observe(res, err)
	removed := e.removed
	if removed {
		e.running = false
	}
	m.mu.Unlock()
	if removed {
		return
	}
	if emit {
		ev.Target = t.Name
		ev.Time = time.Now()
		if !m.emit(ctx, ev) {
			m.mu.Lock()
			e.running = false
			m.mu.Unlock()
			return
		}
	}

	m.mu.Lock()
	e.running = false
	switch {
	case e.removed:
	case e.suspended:
		// Resume queues it.
	default:
		e.due = time.Now().Add(next)
		heap.Push(&m.queue, e)
		m.poke()
	}
	m.mu.Unlock()
}

func (m *Monitor) emit(ctx context.Context, ev Event) bool {
	if m.opts.OnEvent != nil {
		m.evMu.Lock()
		defer m.evMu.Unlock()
		m.opts.OnEvent(ev)
		return true
	}
	select {
	case m.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// safeCheck runs c, turning a panic into a failed check.
func safeCheck(ctx context.Context, c Checker) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, fmt.Errorf("checker panic: %v", p)
		}
	}()
	return c.Check(ctx)
}

// entryHeap orders entries by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
