package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Checker probes one real server once.
//
// Check returns nil when the server is healthy and an error whose text is
// the reason when it is not. It must return by the context's deadline (the
// Monitor sets it from connect_timeout) and must release every resource it
// opened (sockets, processes) before returning.
type Checker interface {
	Check(ctx context.Context) (Result, error)
}

// Result is what a successful check reports besides "up".
type Result struct {
	// Weight is the weight a dynamic checker (MISC_CHECK with
	// misc_dynamic) asks for; valid when WeightSet.
	Weight    int
	WeightSet bool
}

// CheckerFunc adapts a function to the Checker interface.
type CheckerFunc func(ctx context.Context) (Result, error)

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) (Result, error) { return f(ctx) }

// Errors a checker returns, to be matched with errors.Is.
var (
	// ErrBodyTooLarge: the HTTP body exceeded the checker's size cap.
	ErrBodyTooLarge = errors.New("body too large")
	// ErrNotSupported: the check cannot run on this platform.
	ErrNotSupported = errors.New("not supported on this platform")
)

// TimeoutError is returned when a check did not finish within its budget
// (connect_timeout, or misc_timeout for MISC_CHECK). errors.Is(err,
// context.DeadlineExceeded) holds for it.
type TimeoutError struct {
	// After is the budget the check had.
	After time.Duration
}

func (e *TimeoutError) Error() string { return "timeout after " + e.After.String() }

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// Is makes errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, os.ErrDeadlineExceeded) true.
func (e *TimeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

type budgetKey struct{}

// WithTimeout is context.WithTimeout that also records d, so that a check
// that runs out of time says "timeout after d" with the configured value
// rather than the time left when it started. The Monitor uses it for
// connect_timeout.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	dl, _ := ctx.Deadline()
	return context.WithValue(ctx, budgetKey{}, recordedBudget{d, dl}), cancel
}

type recordedBudget struct {
	d        time.Duration
	deadline time.Time
}

// budget is how long a check started at start may run under ctx.
func budget(ctx context.Context, start time.Time) time.Duration {
	if b, ok := ctx.Value(budgetKey{}).(recordedBudget); ok {
		if dl, ok := ctx.Deadline(); ok && dl.Equal(b.deadline) {
			return b.d // the recorded timeout is the one that bound the check
		}
	}
	d := time.Since(start)
	if dl, ok := ctx.Deadline(); ok {
		d = dl.Sub(start)
	}
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// cause turns an error from the standard library into the short words an
// operator reads: a timeout becomes "timeout after 3s", a socket error the
// errno text ("connection refused"), without the "dial tcp ...:" noise.
func cause(ctx context.Context, start time.Time, err error) error {
	if err == nil {
		return nil
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return context.Canceled
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return &TimeoutError{After: budget(ctx, start)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errClosed
	}
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// Endpoint is where a network checker connects: keepalived's connect_ip,
// connect_port, bindto, bind_port and bind_if.
type Endpoint struct {
	// Addr is connect_ip:connect_port (the daemon fills in the real
	// server's address and port when the config leaves them out).
	Addr netip.AddrPort
	// BindTo is the source address (bindto); the zero value lets the
	// kernel choose.
	BindTo netip.Addr
	// BindPort is the source port (bind_port); 0 lets the kernel choose.
	BindPort uint16
	// BindIf is the interface the probe leaves by (bind_if,
	// SO_BINDTODEVICE; Linux only); empty: the route decides.
	BindIf string
}

// sockoptError is a failure to set up the probe's socket (bind_if), kept
// whole by dial so that the reason names the option.
type sockoptError struct {
	op  string
	err error
}

func (e *sockoptError) Error() string { return e.op + ": " + e.err.Error() }
func (e *sockoptError) Unwrap() error { return e.err }

// dial connects to e.Addr before ctx's deadline and arms the
// deadline on the connection, so every later read and write is bounded by
// the same budget.
func (e Endpoint) dial(ctx context.Context, network string, start time.Time) (net.Conn, error) {
	if !e.Addr.IsValid() {
		return nil, fmt.Errorf("connect: no address")
	}
	d := net.Dialer{}
	if e.BindTo.IsValid() || e.BindPort != 0 {
		src := e.BindTo
		if !src.IsValid() {
			src = netip.IPv4Unspecified()
			if e.Addr.Addr().Is6() && !e.Addr.Addr().Is4In6() {
				src = netip.IPv6Unspecified()
			}
		}
		switch network {
		case "udp":
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, e.BindPort))
		default:
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, e.BindPort))
		}
	}
	if e.BindIf != "" || e.BindPort != 0 {
		d.Control = e.control
	}
	c, err := d.DialContext(ctx, network, e.Addr.String())
	if err != nil {
		var se *sockoptError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("connect %s: %w", e.Addr, se)
		}
		return nil, fmt.Errorf("connect %s: %w", e.Addr, cause(ctx, start, err))
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			c.Close()
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	return c, nil
}
