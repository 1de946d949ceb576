package health

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// control sets bind_if (SO_BINDTODEVICE) and, with a fixed bind_port,
// SO_REUSEADDR so that the next check can bind the port while the last
// connection lingers in TIME_WAIT.
func (e Endpoint) control(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if e.BindPort != 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = &sockoptError{"set SO_REUSEADDR", serr}
				return
			}
		}
		if e.BindIf != "" {
			if serr = unix.BindToDevice(int(fd), e.BindIf); serr != nil {
				serr = &sockoptError{"bind to interface " + e.BindIf, serr}
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
