package loader

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is an IP protocol number of a virtual service.
type Protocol uint8

const (
	ProtoTCP Protocol = 6
	ProtoUDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Endpoint is an L4 address: a service's VIP:port or a real's address:port.
type Endpoint struct {
	Addr  netip.Addr
	Port  uint16
	Proto Protocol
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s %s", e.Proto, netip.AddrPortFrom(e.Addr, e.Port))
}

// Method is how packets reach a real.
type Method uint32

const (
	MethodNAT = Method(xlbMethodXLB_METHOD_NAT)
	MethodDR  = Method(xlbMethodXLB_METHOD_DR)
)

func (m Method) String() string {
	switch m {
	case MethodNAT:
		return "NAT"
	case MethodDR:
		return "DR"
	}
	return fmt.Sprintf("method(%d)", uint32(m))
}

// Sched selects the scheduler the data plane runs for a service's new flows.
type Sched uint32

const (
	SchedRR  = Sched(xlbSchedXLB_SCHED_RR)
	SchedWRR = Sched(xlbSchedXLB_SCHED_WRR)
	SchedLC  = Sched(xlbSchedXLB_SCHED_LC)
	SchedWLC = Sched(xlbSchedXLB_SCHED_WLC)
	SchedSED = Sched(xlbSchedXLB_SCHED_SED)
	SchedNQ  = Sched(xlbSchedXLB_SCHED_NQ)
	SchedSH  = Sched(xlbSchedXLB_SCHED_SH)
	SchedMH  = Sched(xlbSchedXLB_SCHED_MH)
)

var schedNames = map[Sched]string{
	SchedRR: "rr", SchedWRR: "wrr", SchedLC: "lc", SchedWLC: "wlc",
	SchedSED: "sed", SchedNQ: "nq", SchedSH: "sh", SchedMH: "mh",
}

// String returns the lvs_sched name.
func (s Sched) String() string {
	if n, ok := schedNames[s]; ok {
		return n
	}
	return fmt.Sprintf("sched(%d)", uint32(s))
}

// The data plane's limits.
const (
	// MaxServiceReals is the most reals one service can have: lc, wlc,
	// sed and nq compare them all for each new flow.
	MaxServiceReals = int(xlbLimitsXLB_MAX_SVC_REALS)
	// MaxRingSize is the most entries of one scheduling ring (a Maglev
	// table is the largest).
	MaxRingSize = int(xlbLimitsXLB_MAX_RING)
)

// Service is a virtual service as the data plane sees it. The ring slot Slot
// of service ID lists the reals that take new flows; RingLen of its entries
// are live.
type Service struct {
	ID      uint32
	Sched   Sched
	Slot    uint32
	RingLen uint32
	// HashPort makes sh and mh hash the client's port with its address
	// (sh-port, mh-port).
	HashPort bool
	// PersistTimeout keeps a client prefix on its real for this many
	// seconds after its last new connection (persistence_timeout); 0: off.
	PersistTimeout uint32
	// PersistPrefix is the client prefix length persistence groups by
	// (persistence_granularity).
	PersistPrefix uint8
}

// ConnState is a connection's state: IPVS's TCP states, and UDP.
type ConnState uint32

const (
	StateNone        = ConnState(xlbConnStateXLB_CS_NONE)
	StateEstablished = ConnState(xlbConnStateXLB_CS_ESTABLISHED)
	StateSynSent     = ConnState(xlbConnStateXLB_CS_SYN_SENT)
	StateSynRecv     = ConnState(xlbConnStateXLB_CS_SYN_RECV)
	StateFinWait     = ConnState(xlbConnStateXLB_CS_FIN_WAIT)
	StateTimeWait    = ConnState(xlbConnStateXLB_CS_TIME_WAIT)
	StateClose       = ConnState(xlbConnStateXLB_CS_CLOSE)
	StateCloseWait   = ConnState(xlbConnStateXLB_CS_CLOSE_WAIT)
	StateLastAck     = ConnState(xlbConnStateXLB_CS_LAST_ACK)
	StateListen      = ConnState(xlbConnStateXLB_CS_LISTEN)
	StateSynAck      = ConnState(xlbConnStateXLB_CS_SYNACK)
	StateUDP         = ConnState(xlbConnStateXLB_CS_UDP)
	stateCount       = int(xlbConnStateXLB_CS_MAX)
)

var stateNames = [...]string{
	StateNone: "NONE", StateEstablished: "ESTABLISHED", StateSynSent: "SYN_SENT", StateSynRecv: "SYN_RECV",
	StateFinWait: "FIN_WAIT", StateTimeWait: "TIME_WAIT", StateClose: "CLOSE", StateCloseWait: "CLOSE_WAIT",
	StateLastAck: "LAST_ACK", StateListen: "LISTEN", StateSynAck: "SYNACK", StateUDP: "UDP",
}

var _ [stateCount - len(stateNames)]struct{}

// String returns the state's name as ipvsadm -lnc shows it.
func (s ConnState) String() string { return enumName(s, stateNames[:], "state") }

// ConnStates lists every connection state.
func ConnStates() []ConnState { return enumValues[ConnState](stateCount) }

// Default connection timeouts, IPVS's (ipvsadm --set tcp tcpfin udp).
const (
	DefaultTimeoutTCP    = int(xlbLimitsXLB_TIMEOUT_TCP)
	DefaultTimeoutTCPFin = int(xlbLimitsXLB_TIMEOUT_TCPFIN)
	DefaultTimeoutUDP    = int(xlbLimitsXLB_TIMEOUT_UDP)
)

// FlowCacheTTL is the longest a CPU's flow cache serves a flow's packets
// without the connection table (bpf/flowcache.h), so the longest a cached
// flow's idle time may lag its last packet.
const FlowCacheTTL = time.Duration(xlbLimitsXLB_FLOW_CACHE_TTL_SECONDS) * time.Second

// ConnCounts are a real's connections as ipvsadm shows them.
type ConnCounts struct {
	Active   int64 // ActiveConn: established TCP
	Inactive int64 // InActConn: every other state, and UDP
}

// Real is a real server of one service (IPVS calls it a destination); its id
// indexes the reals and real_stats maps.
type Real struct {
	Addr      netip.Addr
	Port      uint16
	Method    Method
	ServiceID uint32
	Weight    uint32
	// Removed: the real left the configuration; its established flows
	// still reach it, new flows do not.
	Removed bool
}

// RealCounters are a real's traffic counters, summed over all CPUs.
type RealCounters struct {
	Conns      uint64 // new connections scheduled to the real
	PacketsIn  uint64 // client -> real
	BytesIn    uint64
	PacketsOut uint64 // real -> client, NAT only: DR replies bypass the director
	BytesOut   uint64
}

// Add adds o to c.
func (c *RealCounters) Add(o RealCounters) {
	c.Conns += o.Conns
	c.PacketsIn += o.PacketsIn
	c.BytesIn += o.BytesIn
	c.PacketsOut += o.PacketsOut
	c.BytesOut += o.BytesOut
}

// Counters count packets and bytes.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// SumInterfaces totals per-interface counters (ReasonStatsByInterface) by
// reason.
func SumInterfaces(byIf map[string]map[Reason]Counters) map[Reason]Counters {
	out := make(map[Reason]Counters)
	for _, counts := range byIf {
		for r, c := range counts {
			sum := out[r]
			sum.Packets += c.Packets
			sum.Bytes += c.Bytes
			out[r] = sum
		}
	}
	return out
}

// Reason says why the data plane passed a packet to the kernel or dropped it.
type Reason uint32

const (
	PassNotIP       = Reason(xlbReasonXLB_PASS_NOT_IP)
	PassMalformed   = Reason(xlbReasonXLB_PASS_MALFORMED)
	PassFragment    = Reason(xlbReasonXLB_PASS_FRAGMENT)
	PassNotTCPUDP   = Reason(xlbReasonXLB_PASS_NOT_TCP_UDP)
	PassNoService   = Reason(xlbReasonXLB_PASS_NO_SERVICE)
	PassNoNeigh     = Reason(xlbReasonXLB_PASS_NO_NEIGH)
	PassFragNeeded  = Reason(xlbReasonXLB_PASS_FRAG_NEEDED)
	DropNoReal      = Reason(xlbReasonXLB_DROP_NO_REAL)
	DropBadReal     = Reason(xlbReasonXLB_DROP_BAD_REAL)
	DropNoRoute     = Reason(xlbReasonXLB_DROP_NO_ROUTE)
	DropFwdDisabled = Reason(xlbReasonXLB_DROP_FWD_DISABLED)
	DropNoNeigh     = Reason(xlbReasonXLB_DROP_NO_NEIGH)
	PassIPv6Ext     = Reason(xlbReasonXLB_PASS_IPV6EXT)
	TxTooBig        = Reason(xlbReasonXLB_TX_TOO_BIG)
	reasonCount     = int(xlbReasonXLB_REASON_MAX)
)

var reasonNames = [...]string{
	PassNotIP:       "pass: not IPv4 or IPv6",
	PassMalformed:   "pass: malformed header",
	PassFragment:    "pass: IP fragment",
	PassNotTCPUDP:   "pass: not TCP or UDP",
	PassNoService:   "pass: no virtual service",
	PassNoNeigh:     "pass: NAT next hop unresolved",
	PassFragNeeded:  "pass: larger than egress MTU",
	DropNoReal:      "drop: no real available",
	DropBadReal:     "drop: unknown real",
	DropNoRoute:     "drop: no route",
	DropFwdDisabled: "drop: forwarding disabled",
	DropNoNeigh:     "drop: DR real's MAC unresolved",
	PassIPv6Ext:     "pass: IPv6 extension header not walked",
	TxTooBig:        "tx: too big for the next hop, ICMP sent back",
}

// The name table must cover every reason the program knows.
var _ [reasonCount - len(reasonNames)]struct{}

func (r Reason) String() string { return enumName(r, reasonNames[:], "reason") }

// Reasons lists every reason code.
func Reasons() []Reason { return enumValues[Reason](reasonCount) }

// enumName names v from the program's enum by its table, or says what kind
// of unknown value it is.
func enumName[T ~uint32](v T, names []string, kind string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, uint32(v))
}

// enumValues lists the n values of an enum of the program.
func enumValues[T ~uint32](n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = T(i)
	}
	return out
}

// BPF keeps addresses and ports in network order; the generated Go structs
// hold them as host-order integers over the same bytes.
func addrToBPF(a netip.Addr) (out [4]uint32) {
	b := a.As16()
	if a.Is4() {
		v4 := a.As4()
		out[0] = binary.NativeEndian.Uint32(v4[:])
		return out
	}
	for i := range out {
		out[i] = binary.NativeEndian.Uint32(b[i*4:])
	}
	return out
}

func addrFromBPF(family uint8, in [4]uint32) netip.Addr {
	var b [16]byte
	for i, w := range in {
		binary.NativeEndian.PutUint32(b[i*4:], w)
	}
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func portToBPF(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func portFromBPF(p uint16) uint16 { return portToBPF(p) }

const (
	afInet  = 2
	afInet6 = 10
)

func familyOf(a netip.Addr) uint8 {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

func (e Endpoint) toBPF() xlbEndpoint {
	return xlbEndpoint{Addr: addrToBPF(e.Addr), Port: portToBPF(e.Port), Proto: uint8(e.Proto), Family: familyOf(e.Addr)}
}

func endpointFromBPF(e xlbEndpoint) Endpoint {
	return Endpoint{Addr: addrFromBPF(e.Family, e.Addr), Port: portFromBPF(e.Port), Proto: Protocol(e.Proto)}
}
