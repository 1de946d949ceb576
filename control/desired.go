package control

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

// Limits are the data plane's capacities that a config must fit.
type Limits struct {
	MaxServices uint32 // virtual services
	RingSize    uint32 // reals of one service (loader.MaxServiceReals)
	MaxReals    uint32 // (service, real) pairs
}

// Service is one virtual service as xlb will run it.
type Service struct {
	Endpoint loader.Endpoint
	Sched    string // lvs_sched name
	Method   loader.Method
	Reals    []Real
	Pos      config.Position

	// HashPort makes sh and mh hash the client's port too (sh-port,
	// mh-port).
	HashPort bool
	// MHTableSize is the Maglev table size of an mh service (a prime);
	// 0 means DefaultMaglevSize.
	MHTableSize int
	// Persistence keeps a client on its real while it comes back within
	// this time (persistence_timeout); 0: every connection is scheduled.
	Persistence time.Duration
	// PersistenceBits is the client prefix length persistence groups by
	// (persistence_granularity; 32 or 128: one client address).
	PersistenceBits int
}

// Real is a real server of a Service.
type Real struct {
	Addr   netip.Addr
	Port   uint16
	Weight int
}

// AddrPort is the real's address and port.
func (r Real) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, r.Port) }

// State is the whole desired data plane state.
type State struct {
	Services []*Service // sorted by endpoint
}

// schedulers maps the lvs_sched names xlb implements to the data plane's
// scheduler; the ring the control plane computes carries the weights.
var schedulers = map[string]loader.Sched{
	"rr":  loader.SchedRR,
	"wrr": loader.SchedWRR,
	"lc":  loader.SchedLC,
	"wlc": loader.SchedWLC,
	"sed": loader.SchedSED,
	"nq":  loader.SchedNQ,
	"sh":  loader.SchedSH,
	"mh":  loader.SchedMH,
}

// Desired checks cfg against what xlb and the data plane support and returns
// the state to apply. Every problem is reported, as a config.ErrorList.
func Desired(cfg *config.Config, lim Limits) (*State, error) {
	var errs config.ErrorList
	st := &State{}
	for _, vs := range cfg.VirtualServers {
		if _, ok := schedulers[vs.Scheduler]; !ok {
			errs = append(errs, schedError(vs))
		}
		var method loader.Method
		switch vs.Method {
		case config.MethodNAT:
			method = loader.MethodNAT
		case config.MethodDR:
			method = loader.MethodDR
		default:
			errs = append(errs, config.Errorf(vs.MethodPos, "lvs_method %s is not supported yet; use NAT or DR", vs.Method))
		}
		if uint32(len(vs.Reals)) > lim.RingSize {
			errs = append(errs, config.Errorf(vs.Pos, "virtual_server %s: %d real servers, at most %d are supported", vs.AddrPort(), len(vs.Reals), lim.RingSize))
		}
		svc := &Service{
			Endpoint:        loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.Protocol(vs.Protocol)},
			Sched:           vs.Scheduler,
			Method:          method,
			Pos:             vs.Pos,
			HashPort:        vs.SchedPort,
			MHTableSize:     vs.MHTableSize,
			Persistence:     vs.PersistenceTimeout,
			PersistenceBits: vs.PersistenceGranularity,
		}
		for _, rs := range vs.Reals {
			svc.Reals = append(svc.Reals, Real{Addr: rs.Addr, Port: rs.Port, Weight: rs.Weight})
		}
		st.Services = append(st.Services, svc)
	}
	if uint32(len(st.Services)) > lim.MaxServices {
		errs = append(errs, config.Errorf(cfg.VirtualServers[lim.MaxServices].Pos, "more than %d virtual servers", lim.MaxServices))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sort.Slice(st.Services, func(i, j int) bool { return endpointLess(st.Services[i].Endpoint, st.Services[j].Endpoint) })
	return st, nil
}

func schedError(vs *config.VirtualServer) *config.Error {
	supported := "rr, wrr, lc, wlc, sed, nq, sh or mh"
	if vs.SchedulerPos == vs.Pos {
		return config.Errorf(vs.Pos, "virtual_server %s has no lvs_sched and keepalived's default %s is not supported yet; set lvs_sched to %s", vs.AddrPort(), vs.Scheduler, supported)
	}
	return config.Errorf(vs.SchedulerPos, "lvs_sched %s is not supported yet; use %s", vs.Scheduler, supported)
}

func endpointLess(a, b loader.Endpoint) bool {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c < 0
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	return a.Proto < b.Proto
}

func (s *Service) String() string {
	return fmt.Sprintf("%s %s", s.Endpoint.Proto, netip.AddrPortFrom(s.Endpoint.Addr, s.Endpoint.Port))
}
