package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
)

// statusServer serves HTTP on loopback, answering every request with the
// status code it holds (200 at first); it stops with the test.
func statusServer(t *testing.T) (status *atomic.Int32, port uint16) {
	t.Helper()
	status = new(atomic.Int32)
	status.Store(200)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return status, netip.MustParseAddrPort(l.Addr().String()).Port()
}

// Status reports each checker's last conclusion and reason, for `xlb health`.
func TestHealthStatus(t *testing.T) {
	status, port := statusServer(t)

	cfg, st := parseDesired(t, fmt.Sprintf(`virtual_server 127.0.0.1 80 {
    lvs_sched rr
    delay_loop 0.1
    warmup 0
    retry 0
    real_server 127.0.0.1 8080 {
        HTTP_GET {
            url {
                path /
            }
            connect_port %d
        }
    }
}
`, port))
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(func(*control.State) error { return nil }, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	h := sub.(*healthChecker)

	status.Store(500)
	var got []checkerStatus
	waitFor(t, "the checker reports down", 5*time.Second, func() bool {
		got = h.Status().([]checkerStatus)
		return len(got) == 1 && !got[0].Up
	}, &logs)
	want := checkerStatus{VirtualServer: "TCP 127.0.0.1:80", Real: "127.0.0.1:8080", Checker: "HTTP_GET", Up: false}
	if got[0].VirtualServer != want.VirtualServer || got[0].Real != want.Real || got[0].Checker != want.Checker {
		t.Errorf("status %+v, want %+v", got[0], want)
	}
	if !strings.Contains(got[0].LastReason, "HTTP status 500") || got[0].LastChange == nil {
		t.Errorf("status %+v lacks the reason (HTTP status 500) or the time of the change", got[0])
	}
	b, err := json.Marshal(h.Status())
	if err != nil || !strings.Contains(string(b), `"checker":"HTTP_GET"`) {
		t.Errorf("status JSON %s, %v", b, err)
	}
}
