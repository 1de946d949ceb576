package config

import (
	"fmt"
	"net/netip"
)

// Config is a parsed configuration file.
type Config struct {
	Global         GlobalDefs
	VirtualServers []*VirtualServer
}

// GlobalDefs is the global_defs block: keepalived's global settings and
// xlb's data-plane additions.
type GlobalDefs struct {
	// XDPInterfaces are the interfaces to attach the XDP program to
	// (`xdp_interface IF...`, may repeat). Empty: the daemon's default.
	XDPInterfaces []string
	// XDPMode is how to attach (`xdp_mode native|generic`).
	XDPMode XDPMode
	// Pos is the position of the (first) global_defs block; zero when the
	// file has none.
	Pos Position
}

// XDPMode is how the XDP program is attached to an interface.
type XDPMode uint8

const (
	// XDPModeAuto attaches in native (driver) mode and falls back to
	// generic (skb) mode when the driver has no XDP support.
	XDPModeAuto XDPMode = iota
	// XDPModeNative attaches in driver mode only.
	XDPModeNative
	// XDPModeGeneric attaches in generic (skb) mode.
	XDPModeGeneric
)

// String returns "auto", "native" or "generic".
func (m XDPMode) String() string {
	switch m {
	case XDPModeAuto:
		return "auto"
	case XDPModeNative:
		return "native"
	case XDPModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("XDPMode(%d)", uint8(m))
}

// Protocol is the layer-4 protocol of a virtual server; the values are the
// IP protocol numbers.
type Protocol uint8

const (
	ProtoTCP Protocol = 6
	ProtoUDP Protocol = 17
)

// String returns "TCP" or "UDP".
func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// Method is the LVS forwarding method (keepalived's lvs_method).
type Method uint8

const (
	// MethodNAT rewrites the destination to the real server (ldirectord
	// "masq"); keepalived's default.
	MethodNAT Method = iota
	// MethodDR forwards at layer 2 to the real server (ldirectord "gate").
	MethodDR
	// MethodTUN encapsulates to the real server (ldirectord "ipip").
	MethodTUN
)

// String returns "NAT", "DR" or "TUN".
func (m Method) String() string {
	switch m {
	case MethodNAT:
		return "NAT"
	case MethodDR:
		return "DR"
	case MethodTUN:
		return "TUN"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// DefaultScheduler is the scheduler of a virtual server with no lvs_sched:
// keepalived's default (IPVS_DEF_SCHED), the same as ipvsadm's.
const DefaultScheduler = "wlc"

// Schedulers are the IPVS scheduler names lvs_sched accepts. Which of them
// xlb implements is the control plane's decision.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

// VirtualServer is a virtual_server block: a service address and its real
// servers.
type VirtualServer struct {
	Pos      Position // of the virtual_server keyword
	Addr     netip.Addr
	Port     uint16
	Protocol Protocol // default TCP
	// Scheduler is the lvs_sched (alias lb_algo) name in lower case;
	// DefaultScheduler when unset.
	Scheduler    string
	SchedulerPos Position // of lvs_sched, or Pos when defaulted
	Method       Method   // lvs_method (alias lb_kind); default NAT
	MethodPos    Position // of lvs_method, or Pos when defaulted
	Reals        []*RealServer
}

// AddrPort returns the service address and port.
func (vs *VirtualServer) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(vs.Addr, vs.Port)
}

// RealServer is a real_server block of a virtual server.
type RealServer struct {
	Pos    Position // of the real_server keyword
	Addr   netip.Addr
	Port   uint16 // the virtual server's port when not given
	Weight int    // 0..65535, default 1
}

// AddrPort returns the real server's address and port.
func (rs *RealServer) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(rs.Addr, rs.Port)
}
