package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"time"
)

// Command returns a command that runs name inside h's network namespace
// through `nsenter --net=/run/netns/NS -- name args...`. Unlike `ip netns
// exec` it keeps the caller's mount namespace, so /sys and the bpffs pins
// stay as they are (DESIGN.md veth fact 3). The caller starts and waits
// for it, and stops it by its PID.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	nsArgs := append([]string{"--net=" + filepath.Join(NetnsDir, h.NSName), "--", name}, args...)
	return exec.Command("nsenter", nsArgs...)
}

// CommandContext is Command with a context that kills the process when done.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	nsArgs := append([]string{"--net=" + filepath.Join(NetnsDir, h.NSName), "--", name}, args...)
	return exec.CommandContext(ctx, "nsenter", nsArgs...)
}

// Listen is net.Listen with the socket created inside h's namespace; the
// listener is usable from any goroutine.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, addr, h.Name, err)
	}
	return l, nil
}

// ListenPacket is net.ListenPacket with the socket created inside h's
// namespace.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, addr, h.Name, err)
	}
	return c, nil
}

// DialContext connects from inside h's namespace. The addresses of a host
// name are tried one after the other in the namespace (no parallel "happy
// eyeballs" dial, whose goroutines would run outside it).
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{FallbackDelay: -1}
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, h.Name, err)
	}
	return c, nil
}

// HTTPClient returns a client that connects from inside h's namespace,
// opens a new TCP connection for every request (no keep-alive, so each
// request is a new flow for the load balancer), uses no proxy, and gives
// up on a request after timeout.
func (h *Host) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       h.DialContext,
			DisableKeepAlives: true,
		},
	}
}
