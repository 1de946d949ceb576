package health

import (
	"errors"
	"fmt"
	"time"
)

// keepalived's defaults for the loop options.
const (
	DefaultDelayLoop        = 60 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultRetry            = 1
	DefaultDelayBeforeRetry = 1 * time.Second
)

// LoopOptions are the scheduling options of one checker, as keepalived
// names them.
type LoopOptions struct {
	// DelayLoop is the time between checks (delay_loop).
	DelayLoop time.Duration
	// ConnectTimeout bounds one whole check: connect, request and
	// response (connect_timeout; for MISC_CHECK use misc_timeout).
	ConnectTimeout time.Duration
	// Retry is how many failed checks in a row are retried, while the
	// target is up, before it is declared down: down after Retry+1
	// failures in a row (retry, alias nb_get_retry).
	Retry int
	// DelayBeforeRetry is the wait before a retry (delay_before_retry);
	// it is also the wait between the successes counted by Rise.
	DelayBeforeRetry time.Duration
	// Rise, when above 0, is the number of successes in a row that bring
	// a down target up (default 1).
	Rise int
	// Fall, when above 0, is the number of failures in a row that bring
	// an up target down; it replaces Retry+1.
	Fall int
	// Warmup delays the first check by a random time in [0, Warmup).
	Warmup time.Duration
	// Alpha starts the target down: it needs Rise successes to come up.
	// Without it a target starts up.
	Alpha bool
}

// DefaultLoopOptions returns keepalived's defaults: delay_loop 60s,
// connect_timeout 5s, retry 1, delay_before_retry 1s.
func DefaultLoopOptions() LoopOptions {
	return LoopOptions{
		DelayLoop:        DefaultDelayLoop,
		ConnectTimeout:   DefaultConnectTimeout,
		Retry:            DefaultRetry,
		DelayBeforeRetry: DefaultDelayBeforeRetry,
	}
}

// ErrBadOptions is wrapped by the error of Validate.
var ErrBadOptions = errors.New("bad loop options")

// Validate reports an option that cannot be used.
func (o LoopOptions) Validate() error {
	switch {
	case o.DelayLoop <= 0:
		return fmt.Errorf("%w: delay_loop %v must be above 0", ErrBadOptions, o.DelayLoop)
	case o.ConnectTimeout <= 0:
		return fmt.Errorf("%w: connect_timeout %v must be above 0", ErrBadOptions, o.ConnectTimeout)
	case o.Retry < 0:
		return fmt.Errorf("%w: retry %d must not be negative", ErrBadOptions, o.Retry)
	case o.DelayBeforeRetry < 0:
		return fmt.Errorf("%w: delay_before_retry %v must not be negative", ErrBadOptions, o.DelayBeforeRetry)
	case o.Rise < 0:
		return fmt.Errorf("%w: rise %d must not be negative", ErrBadOptions, o.Rise)
	case o.Fall < 0:
		return fmt.Errorf("%w: fall %d must not be negative", ErrBadOptions, o.Fall)
	case o.Warmup < 0:
		return fmt.Errorf("%w: warmup %v must not be negative", ErrBadOptions, o.Warmup)
	}
	return nil
}

func (o LoopOptions) rise() int {
	if o.Rise > 0 {
		return o.Rise
	}
	return 1
}

func (o LoopOptions) fall() int {
	if o.Fall > 0 {
		return o.Fall
	}
	return o.Retry + 1
}

// Event is a change of a target's state, or of its dynamic weight.
type Event struct {
	Target string
	Up     bool
	// Weight is the dynamic weight (misc_dynamic); valid when WeightSet.
	Weight    int
	WeightSet bool
	// Reason says why, in an operator's words: the failed check's error
	// ("HTTP status 500, want 200-299") or what brought it up.
	Reason string
	Time   time.Time
}

// tracker is the retry/rise/fall state machine of one target. It is pure:
// the Monitor feeds it results and sleeps for the delay it returns.
type tracker struct {
	opts      LoopOptions
	up        bool
	weight    int
	weightSet bool
	fails     int // failures in a row
	oks       int // successes in a row
}

func newTracker(o LoopOptions) tracker {
	return tracker{opts: o, up: !o.Alpha}
}

// observe records one check's outcome. It returns the event to report (if
// emit) and the delay until the next check.
func (t *tracker) observe(res Result, err error) (ev Event, emit bool, next time.Duration) {
	next = t.opts.DelayLoop
	if err != nil {
		t.oks = 0
		t.fails++
		if !t.up {
			return Event{}, false, next
		}
		if t.fails >= t.opts.fall() {
			t.up = false
			return Event{Up: false, Weight: t.weight, WeightSet: t.weightSet, Reason: err.Error()}, true, next
		}
		return Event{}, false, t.opts.DelayBeforeRetry
	}
	t.fails = 0
	t.oks++
	weightChanged := res.WeightSet && (!t.weightSet || res.Weight != t.weight)
	if res.WeightSet {
		t.weight, t.weightSet = res.Weight, true
	}
	if !t.up {
		if t.oks < t.opts.rise() {
			return Event{}, false, t.opts.DelayBeforeRetry
		}
		t.up = true
		reason := "check succeeded"
		if t.oks > 1 {
			reason = fmt.Sprintf("%d checks succeeded in a row", t.oks)
		}
		return Event{Up: true, Weight: t.weight, WeightSet: t.weightSet, Reason: reason}, true, next
	}
	if weightChanged {
		return Event{Up: true, Weight: t.weight, WeightSet: true, Reason: fmt.Sprintf("dynamic weight %d", t.weight)}, true, next
	}
	return Event{}, false, next
}
