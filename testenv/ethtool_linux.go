package testenv

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with its ifr_data member (40 bytes on 64-bit).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtool sends one SIOCETHTOOL ethtool_value command for ifname in the
// calling thread's network namespace and returns the value the kernel left.
func ethtool(ifname string, cmd, value uint32) (uint32, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("interface name %q too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	ev := ethtoolValue{cmd: cmd, data: value}
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&ev)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ev)
	if errno != 0 {
		return 0, errno
	}
	return ev.data, nil
}

// setFeature sets an ethtool on/off feature of ifname in h's namespace and
// checks that the kernel took it.
func (h *Host) setFeature(what, ifname string, set, get uint32, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	err := h.Do(func() error {
		if _, err := ethtool(ifname, set, v); err != nil {
			return err
		}
		got, err := ethtool(ifname, get, 0)
		if err != nil {
			return err
		}
		if (got != 0) != on {
			return fmt.Errorf("kernel kept it %v", got != 0)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set %s %v on %s in %s: %w", what, on, ifname, h.Name, err)
	}
	return nil
}

func (h *Host) feature(what, ifname string, get uint32) (bool, error) {
	var got uint32
	err := h.Do(func() error {
		var err error
		got, err = ethtool(ifname, get, 0)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("get %s of %s in %s: %w", what, ifname, h.Name, err)
	}
	return got != 0, nil
}

// SetGRO turns generic receive offload of ifname on or off (`ethtool -K
// IF gro on|off`). On a veth, GRO on gives the device NAPI, which frames
// redirected to it by XDP need.
func (h *Host) SetGRO(ifname string, on bool) error {
	return h.setFeature("GRO", ifname, unix.ETHTOOL_SGRO, unix.ETHTOOL_GGRO, on)
}

// GRO reports whether generic receive offload is on for ifname.
func (h *Host) GRO(ifname string) (bool, error) {
	return h.feature("GRO", ifname, unix.ETHTOOL_GGRO)
}

// SetTxChecksum turns TX checksum offload of ifname on or off (`ethtool -K
// IF tx on|off`). Off makes locally generated TCP/UDP carry a complete
// checksum, which an XDP rewrite on the way keeps valid.
func (h *Host) SetTxChecksum(ifname string, on bool) error {
	return h.setFeature("TX checksum offload", ifname, unix.ETHTOOL_STXCSUM, unix.ETHTOOL_GTXCSUM, on)
}

// TxChecksum reports whether TX checksum offload is on for ifname.
func (h *Host) TxChecksum(ifname string) (bool, error) {
	return h.feature("TX checksum offload", ifname, unix.ETHTOOL_GTXCSUM)
}
