package control

import (
	"time"

	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

// Timeouts are how long a connection table entry lives without a packet,
// per state, as IPVS's: ESTABLISHED TCP, TCP FIN_WAIT and UDP are settable
// (lvs_timeouts tcp tcpfin udp, as ipvsadm --set); the other TCP states
// keep IPVS's fixed values.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
	// States overrides the timeout of any state (tests, tuning).
	States map[loader.ConnState]time.Duration
	// ExpireRemoved expires the connections of reals removed from the
	// configuration at the next sweep (expire_nodest_conn).
	ExpireRemoved bool
}

// DefaultTimeouts are IPVS's defaults: 900s, 120s and 300s.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCP:    time.Duration(loader.DefaultTimeoutTCP) * time.Second,
		TCPFin: time.Duration(loader.DefaultTimeoutTCPFin) * time.Second,
		UDP:    time.Duration(loader.DefaultTimeoutUDP) * time.Second,
	}
}

// TimeoutsOf reads lvs_timeouts from cfg's global_defs; what it leaves out
// keeps its default.
func TimeoutsOf(cfg *config.Config) Timeouts {
	t := DefaultTimeouts()
	if g := cfg.Global; g.LVSTimeoutTCP > 0 {
		t.TCP = g.LVSTimeoutTCP
	}
	if g := cfg.Global; g.LVSTimeoutTCPFin > 0 {
		t.TCPFin = g.LVSTimeoutTCPFin
	}
	if g := cfg.Global; g.LVSTimeoutUDP > 0 {
		t.UDP = g.LVSTimeoutUDP
	}
	t.ExpireRemoved = cfg.Global.ExpireNodestConn
	return t
}

// Of is the timeout of a connection in state s (IPVS's tcp_timeouts).
func (t Timeouts) Of(s loader.ConnState) time.Duration {
	if d, ok := t.States[s]; ok {
		return d
	}
	switch s {
	case loader.StateEstablished:
		return t.TCP
	case loader.StateFinWait:
		return t.TCPFin
	case loader.StateUDP:
		return t.UDP
	case loader.StateNone:
		return 2 * time.Second
	case loader.StateSynRecv, loader.StateCloseWait:
		return time.Minute
	case loader.StateClose:
		return 10 * time.Second
	case loader.StateLastAck:
		return 30 * time.Second
	}
	// SYN_SENT, TIME_WAIT, LISTEN, SYNACK
	return 2 * time.Minute
}
