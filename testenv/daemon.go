package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Daemon is a long-running process started inside a host's namespace, such
// as xlbd on the director. Its stderr and stdout are kept for WaitLog and
// Log; Close of the topology stops it.
type Daemon struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error // set when done is closed

	stop func()
}

// StartDaemon starts path with args inside h's namespace.
func (h *Host) StartDaemon(path string, args ...string) (*Daemon, error) {
	d := &Daemon{cmd: h.Command(path, args...), done: make(chan struct{})}
	d.cmd.Stdout = &d.out
	d.cmd.Stderr = &d.out
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", path, h.Name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	stop, err := h.addServer(func() { _ = d.terminate(5 * time.Second) })
	if err != nil {
		return nil, err
	}
	d.stop = stop
	return d, nil
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Log is everything the daemon has written so far.
func (d *Daemon) Log() string { return d.out.String() }

// WaitLog waits until the daemon has written substr, and fails when it exits
// first or timeout passes.
func (d *Daemon) WaitLog(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(d.out.String(), substr) {
			return nil
		}
		select {
		case <-d.done:
			if strings.Contains(d.out.String(), substr) {
				return nil
			}
			return fmt.Errorf("daemon exited (%v) before writing %q; its output:\n%s", d.err, substr, d.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon did not write %q within %s; its output:\n%s", substr, timeout, d.out.String())
		}
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig syscall.Signal) error {
	return d.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the daemon to exit and returns how it ended.
func (d *Daemon) Wait(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		return fmt.Errorf("daemon %d still running after %s", d.Pid(), timeout)
	}
}

// Stop sends SIGTERM and waits up to timeout, then kills the process. It
// returns the exit error of a daemon that did not exit cleanly.
func (d *Daemon) Stop(timeout time.Duration) error {
	err := d.terminate(timeout)
	d.stop()
	return err
}

func (d *Daemon) terminate(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.err
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return errors.Join(fmt.Errorf("daemon %d ignored SIGTERM for %s and was killed", d.Pid(), timeout), d.err)
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
