//go:build !linux

package health

import "syscall"

// control refuses bind_if, which needs Linux's SO_BINDTODEVICE; bind_port
// works without help.
func (e Endpoint) control(network, address string, c syscall.RawConn) error {
	if e.BindIf != "" {
		return &sockoptError{"bind to interface " + e.BindIf, ErrNotSupported}
	}
	return nil
}
