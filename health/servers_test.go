package health

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// addrOf returns the netip.AddrPort of a listener or server address.
func addrOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatalf("parse %v: %v", a, err)
	}
	return ap
}

// rawServer accepts on a loopback port and hands each connection to serve
// (which must return). It is closed at the end of the test.
func rawServer(t *testing.T, network string, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return addrOf(t, ln.Addr())
}

// hangingServer accepts and never answers, until the test ends.
func hangingServer(t *testing.T) netip.AddrPort {
	t.Helper()
	done := make(chan struct{})
	ap := rawServer(t, "tcp", func(c net.Conn) {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	t.Cleanup(func() { close(done) })
	return ap
}

// resettingServer reads a little and closes with a TCP RST.
func resettingServer(t *testing.T) netip.AddrPort {
	t.Helper()
	return rawServer(t, "tcp", func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 512))
		c.(*net.TCPConn).SetLinger(0)
	})
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrOf(t, ln.Addr())
	ln.Close()
	return ap
}
