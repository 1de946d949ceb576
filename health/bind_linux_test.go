package health

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// bindto, bind_port and bind_if set where a probe leaves from, and a fixed
// bind_port works check after check.
func TestEndpointBind(t *testing.T) {
	got := make(chan netip.AddrPort, 4)
	srv := rawServer(t, "tcp", func(c net.Conn) { got <- addrOf(t, c.RemoteAddr()) })

	// A port free now, to bind the probes to.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := addrOf(t, l.Addr()).Port()
	l.Close()

	for _, tc := range []struct {
		desc    string
		ep      Endpoint
		wantErr string
	}{
		{desc: "bindto and bind_port", ep: Endpoint{Addr: srv, BindTo: netip.MustParseAddr("127.0.0.1"), BindPort: port}},
		{desc: "the same bind_port again, the last connection in TIME_WAIT", ep: Endpoint{Addr: srv, BindTo: netip.MustParseAddr("127.0.0.1"), BindPort: port}},
		{desc: "bind_port alone and bind_if lo", ep: Endpoint{Addr: srv, BindPort: port, BindIf: "lo"}},
		{desc: "bind_if of a missing interface", ep: Endpoint{Addr: srv, BindIf: "xlbnosuch0"}, wantErr: "bind to interface xlbnosuch0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := (&TCPCheck{Endpoint: tc.ep}).Check(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("check: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			select {
			case from := <-got:
				if from.Port() != port {
					t.Errorf("probe came from port %d, want bind_port %d", from.Port(), port)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the server saw no connection")
			}
		})
	}
}
