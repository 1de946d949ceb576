package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is a parsed configuration file.
type Config struct {
	Global GlobalDefs
	// VirtualServers are the virtual_server blocks in file order. A
	// `virtual_server group NAME` block appears once per address and port
	// of its group, each with Group set.
	VirtualServers []*VirtualServer
	// Groups are the virtual_server_group blocks.
	Groups []*VirtualServerGroup
	// SSL is the SSL block (client certificate for SSL_GET); nil if none.
	SSL *SSL

	VRRPInstances      []*VRRPInstance
	VRRPScripts        []*VRRPScript
	VRRPTrackFiles     []*VRRPTrackFile
	VRRPTrackProcesses []*VRRPTrackProcess
	VRRPSyncGroups     []*VRRPSyncGroup
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

	// RouterID names this director in logs and notifications (router_id,
	// alias lvs_id); empty: the host name.
	RouterID string
	// ScriptUser and ScriptGroup run scripts that name no user
	// (script_user USER [GROUP]); empty: keepalived_script if that user
	// exists, else root.
	ScriptUser, ScriptGroup string
	// EnableScriptSecurity refuses scripts a non-root user could change
	// (enable_script_security).
	EnableScriptSecurity bool
	// VRRPVersion is the default VRRP version of instances (vrrp_version,
	// default 2; IPv6 instances always use 3).
	VRRPVersion int
	// VRRPGARPMasterDelay is the delay before the second burst of
	// gratuitous ARPs after becoming master (vrrp_garp_master_delay,
	// default 5s; 0: no second burst).
	VRRPGARPMasterDelay time.Duration
	// VRRPGARPMasterRepeat is how many gratuitous ARPs make a burst
	// (vrrp_garp_master_repeat, default 5).
	VRRPGARPMasterRepeat int
	// VRRPGARPMasterRefresh is the interval of gratuitous ARPs while master
	// (vrrp_garp_master_refresh, default 0: none).
	VRRPGARPMasterRefresh time.Duration
	// VRRPGARPMasterRefreshRepeat is the burst size of those refreshes
	// (vrrp_garp_master_refresh_repeat, default 1).
	VRRPGARPMasterRefreshRepeat int
	// LVSTimeoutTCP, LVSTimeoutTCPFin and LVSTimeoutUDP are the
	// connection timeouts of ESTABLISHED TCP, TCP FIN_WAIT and UDP
	// (lvs_timeouts tcp N tcpfin N udp N, as ipvsadm --set); 0: IPVS's
	// defaults (900s, 120s, 300s).
	LVSTimeoutTCP, LVSTimeoutTCPFin, LVSTimeoutUDP time.Duration
	// ExpireNodestConn expires the connections of a real removed from the
	// configuration at the next sweep instead of letting them run to
	// their end (expire_nodest_conn, an xlb addition named after IPVS's
	// sysctl; default off).
	ExpireNodestConn bool
	// VRRPMcastGroup4 and VRRPMcastGroup6 are the VRRP multicast groups
	// (vrrp_mcast_group4 default 224.0.0.18, vrrp_mcast_group6 default ff02::12).
	VRRPMcastGroup4, VRRPMcastGroup6 netip.Addr
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

// MarshalText returns String, for JSON and logs.
func (m XDPMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

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

// MarshalText returns String, for JSON and logs.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

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

// MarshalText returns String, for JSON and logs.
func (m Method) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

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

	// Group is the virtual_server_group of a `virtual_server group NAME`
	// block, "" for `virtual_server IP PORT`.
	Group string
	// DelayLoop is the default interval of its reals' checkers (delay_loop,
	// default 60s).
	DelayLoop time.Duration
	// PersistenceTimeout keeps a client on the same real for this long
	// after its last connection (persistence_timeout; alone it means 360s;
	// default 0: no persistence).
	PersistenceTimeout time.Duration
	// PersistenceGranularity is the prefix length of the client address
	// that persistence uses (persistence_granularity MASK; default 32 for
	// IPv4, 128 for IPv6).
	PersistenceGranularity int
	// VirtualHost is the default Host header of HTTP_GET/SSL_GET checkers
	// (virtualhost).
	VirtualHost string
	// SorryServer takes the traffic when the quorum is lost (sorry_server);
	// nil if none.
	SorryServer *SorryServer
	// Quorum is the minimum total weight of live reals for the service to
	// be up (quorum, default 1); Hysteresis damps flapping around it
	// (hysteresis, default 0).
	Quorum, Hysteresis int
	// QuorumUp and QuorumDown run when the quorum is gained or lost.
	QuorumUp, QuorumDown *Script
	// Alpha starts every real as down until its checkers pass (alpha).
	Alpha bool
	// Omega runs quorum_down and notify_down scripts on shutdown (omega).
	Omega bool
	// HASuspend suspends checkers while the VIP is not on this director
	// (ha_suspend).
	HASuspend bool
	// SchedPort makes sh/mh hash the source port too (sh-port, mh-port,
	// flag-2); SchedFallback makes them skip unavailable reals
	// (sh-fallback, mh-fallback, flag-1).
	SchedPort, SchedFallback bool
	// OnePacket schedules every UDP datagram on its own (ops).
	OnePacket bool
	// MHTableSize is the Maglev table size of lvs_sched mh, a prime
	// (mh_table_size, an xlb addition; 0: the default, 65537).
	MHTableSize int
}

// SorryServer is the server that takes a virtual server's traffic when its
// quorum is lost.
type SorryServer struct {
	Pos  Position
	Addr netip.Addr
	Port uint16 // the virtual server's port when not given
	// Inhibit keeps it in the table with weight 0 instead of removing it
	// (sorry_server_inhibit).
	Inhibit bool
}

// VirtualServerGroup is a virtual_server_group block: the addresses and
// ports that `virtual_server group NAME` blocks serve.
type VirtualServerGroup struct {
	Pos   Position
	Name  string
	Addrs []netip.AddrPort // ranges expanded, in file order
}

// SSL is the SSL block: the client identity of SSL_GET checkers. With no
// file set, checkers use a generated context.
type SSL struct {
	Pos         Position
	Password    string
	CA          string
	Certificate string
	Key         string
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

	// InhibitOnFailure sets the weight to 0 when checks fail instead of
	// removing the real (inhibit_on_failure, also a virtual_server default).
	InhibitOnFailure bool
	// NotifyUp and NotifyDown run when the checkers mark the real up or down.
	NotifyUp, NotifyDown *Script
	// UThreshold is the most connections the real takes (uthreshold; 0:
	// no limit); below LThreshold it takes new ones again (lthreshold).
	UThreshold, LThreshold int
	// Checks are the checkers of the real, their timing resolved from the
	// real's and virtual server's defaults. None: the real is always up.
	Checks []*Check
}

// AddrPort returns the real server's address and port.
func (rs *RealServer) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(rs.Addr, rs.Port)
}
