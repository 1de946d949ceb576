package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// The control socket protocol (docs/cli.md): the client writes one JSON
// request line, xlbd answers with one JSON response line and closes.
// cmd/xlbd/socket_linux.go holds the server's copy of these types.
type request struct {
	Cmd    string `json:"cmd"`              // weight, real, health, vrrp
	Proto  string `json:"proto,omitempty"`  // TCP or UDP; empty: whichever VIP:PORT has
	VIP    string `json:"vip,omitempty"`    // VIP:PORT
	Real   string `json:"real,omitempty"`   // REAL:PORT
	Weight *int   `json:"weight,omitempty"` // weight: the new weight; nil: back to the configured one
}

type response struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// Real: the real's connections (weight, real).
	ActiveConns   int64 `json:"active_conns"`
	InactiveConns int64 `json:"inactive_conns"`
	// Status: what the health or VRRP subsystem reports.
	Status json.RawMessage `json:"status,omitempty"`
}

const socketTimeout = 10 * time.Second

// call sends req to xlbd's control socket and returns its answer; an
// answer with an error becomes the error.
func call(socket string, req request) (*response, error) {
	conn, err := net.DialTimeout("unix", socket, socketTimeout)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("no xlbd listening on %s: start xlbd, or name its socket with --socket PATH", socket)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("no permission to use %s: the control socket is root's, run xlb as root", socket)
		}
		return nil, fmt.Errorf("connect to xlbd at %s: %w", socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(socketTimeout))
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("send to xlbd at %s: %w", socket, err)
	}
	line, err := bufio.NewReaderSize(conn, 64<<10).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return nil, fmt.Errorf("read xlbd's answer on %s: %w", socket, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("read xlbd's answer on %s: %w", socket, err)
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return &resp, nil
}
