package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServeHTTP runs an HTTP server on TCP port on every address of h,
// including VIPs held on lo. It answers every path with status 200, the
// header "X-Real: <h.Name>" and the body "<h.Name>\n", so a test sees which
// real answered. stop (also called by the topology's Close) closes the
// listener and every connection.
func (h *Host) ServeHTTP(port uint16) (stop func(), err error) {
	if port == 0 {
		return nil, errors.New("serve HTTP: port 0")
	}
	l, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("serve HTTP: %w", err)
	}
	body := h.Name + "\n"
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Real", h.Name)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return h.addServer(func() {
		srv.Close()
		<-done
	})
}

// ServeTCPEcho runs a TCP server on port on every address of h that sends
// back whatever each connection sends until the client closes its side.
func (h *Host) ServeTCPEcho(port uint16) (stop func(), err error) {
	if port == 0 {
		return nil, errors.New("serve TCP echo: port 0")
	}
	l, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("serve TCP echo: %w", err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		wg     sync.WaitGroup
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
		}
	}()
	return h.addServer(func() {
		mu.Lock()
		closed = true
		l.Close()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
