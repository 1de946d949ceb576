//go:build !linux

package testenv

import "fmt"

// hostSys holds no state where namespaces do not exist.
type hostSys struct{}

func (s *hostSys) init() {}

// New fails: network namespaces exist only on Linux.
func New(opts Options) (*Topology, error) {
	return nil, fmt.Errorf("create topology: %w", ErrNotSupported)
}

func (t *Topology) unlink() error { return nil }

func (h *Host) destroy() error { return nil }

// Do fails: network namespaces exist only on Linux.
func (h *Host) Do(fn func() error) error {
	return fmt.Errorf("enter %s: %w", h.Name, ErrNotSupported)
}

// Sysctl fails: network namespaces exist only on Linux.
func (h *Host) Sysctl(key, value string) error {
	return fmt.Errorf("set sysctl %s: %w", key, ErrNotSupported)
}

// ServeUDPEcho fails: network namespaces exist only on Linux.
func (h *Host) ServeUDPEcho(port uint16) (stop func(), err error) {
	return nil, fmt.Errorf("serve UDP echo: %w", ErrNotSupported)
}

// LastCPU fails: CPU affinity is read only on Linux.
func LastCPU() (int, error) { return 0, fmt.Errorf("read CPU affinity: %w", ErrNotSupported) }

// OnLastCPU fails: CPU affinity is set only on Linux.
func OnLastCPU(fn func() error) error {
	return fmt.Errorf("pin to a CPU: %w", ErrNotSupported)
}
