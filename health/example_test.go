package health_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/xlbproject/xlb/health"
)

// A Monitor with one TCP_CHECK target: it comes up (alpha), then goes down
// when its server stops listening.
func ExampleMonitor() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())

	m := health.NewMonitor(health.MonitorOptions{Workers: 4})
	opts := health.DefaultLoopOptions()
	opts.DelayLoop = 20 * time.Millisecond
	opts.DelayBeforeRetry = 10 * time.Millisecond
	opts.Alpha = true
	err = m.Add(health.Target{
		Name:    "real 1",
		Checker: &health.TCPCheck{Endpoint: health.Endpoint{Addr: addr}},
		Options: opts,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go m.Run(ctx)

	ev := <-m.Events()
	fmt.Println(ev.Target, "up:", ev.Up, "-", ev.Reason)
	ln.Close()
	ev = <-m.Events()
	_, reason, _ := strings.Cut(ev.Reason, ": ") // drop "connect 127.0.0.1:PORT"
	fmt.Println(ev.Target, "up:", ev.Up, "-", reason)
	// Output:
	// real 1 up: true - check succeeded
	// real 1 up: false - connection refused
}
