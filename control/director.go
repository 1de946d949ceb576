package control

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

// RealRef names a real server of a virtual service.
type RealRef struct {
	Service loader.Endpoint
	Real    netip.AddrPort
}

func (r RealRef) String() string {
	return fmt.Sprintf("real %s of VS %s", r.Real, netip.AddrPortFrom(r.Service.Addr, r.Service.Port))
}

// RealHealth is what a real's checkers last concluded.
type RealHealth struct {
	Up bool
	// Weight replaces the configured weight while the real is up, when
	// WeightSet (MISC_CHECK misc_dynamic).
	Weight    int
	WeightSet bool
}

// Director turns the configured state, the reals' health and the VIPs this
// director holds (VRRP) into the state the data plane runs, and applies it
// whenever one of them changes. Its methods are safe for concurrent use.
type Director struct {
	mu    sync.Mutex
	apply func(*State) error
	log   *slog.Logger

	base     *State
	policy   map[loader.Endpoint]*servicePolicy
	health   map[RealRef]RealHealth
	quorumUp map[loader.Endpoint]bool
	// owned lists the VIPs this director holds; nil: every VIP (no VRRP).
	owned map[netip.Addr]bool
	// onQuorum is told when a service gains or loses its quorum.
	onQuorum func(svc loader.Endpoint, up bool)
	// runtime holds weights set at run time (xlb weight, xlb drain); the
	// next SetConfig drops them.
	runtime map[RealRef]int
}

// MaxWeight is the largest weight of a real, as IPVS accepts it.
const MaxWeight = 65535

// Errors of SetRuntimeWeight.
var (
	ErrUnknownService = errors.New("no such virtual service in the configuration")
	ErrUnknownReal    = errors.New("no such real server in the virtual service")
	ErrWeightRange    = fmt.Errorf("weight out of range 0..%d", MaxWeight)
)

// servicePolicy is what the config says about failures of a service's reals.
type servicePolicy struct {
	quorum, hysteresis int
	sorry              *Real
	sorryInhibit       bool
	inhibit            map[netip.AddrPort]bool // inhibit_on_failure
}

// NewDirector returns a Director that hands every new state to apply
// (normally Reconciler.Apply).
func NewDirector(apply func(*State) error, log *slog.Logger) *Director {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Director{
		apply:    apply,
		log:      log,
		health:   make(map[RealRef]RealHealth),
		quorumUp: make(map[loader.Endpoint]bool),
		runtime:  make(map[RealRef]int),
	}
}

// SetConfig makes st (built from cfg by Desired) the configured state and
// applies it with the health and VIP ownership known so far. Health of reals
// that stay in the config is kept, so a reload does not bring a dead real
// back.
func (d *Director) SetConfig(cfg *config.Config, st *State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	policy := make(map[loader.Endpoint]*servicePolicy, len(cfg.VirtualServers))
	for _, vs := range cfg.VirtualServers {
		ep := loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.Protocol(vs.Protocol)}
		p := &servicePolicy{quorum: vs.Quorum, hysteresis: vs.Hysteresis, inhibit: make(map[netip.AddrPort]bool)}
		if vs.SorryServer != nil {
			p.sorry = &Real{Addr: vs.SorryServer.Addr, Port: vs.SorryServer.Port, Weight: 1}
			p.sorryInhibit = vs.SorryServer.Inhibit
		}
		for _, rs := range vs.Reals {
			if rs.InhibitOnFailure {
				p.inhibit[rs.AddrPort()] = true
			}
		}
		policy[ep] = p
	}
	keep := make(map[RealRef]bool)
	for _, svc := range st.Services {
		for _, rl := range svc.Reals {
			keep[RealRef{svc.Endpoint, rl.AddrPort()}] = true
		}
	}
	for ref := range d.health {
		if !keep[ref] {
			delete(d.health, ref)
		}
	}
	// alpha: a real new to the configuration whose checkers start failed
	// takes no flow until they pass, not even before the first check.
	old := make(map[RealRef]bool)
	if d.base != nil {
		for _, svc := range d.base.Services {
			for _, rl := range svc.Reals {
				old[RealRef{svc.Endpoint, rl.AddrPort()}] = true
			}
		}
	}
	for _, vs := range cfg.VirtualServers {
		ep := loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.Protocol(vs.Protocol)}
		for _, rs := range vs.Reals {
			ref := RealRef{ep, rs.AddrPort()}
			if _, known := d.health[ref]; known || old[ref] || !keep[ref] {
				continue
			}
			if slices.ContainsFunc(rs.Checks, func(c *config.Check) bool { return c.Alpha }) {
				d.health[ref] = RealHealth{Up: false}
			}
		}
	}
	for ep := range d.quorumUp {
		if policy[ep] == nil {
			delete(d.quorumUp, ep) // a service configured again starts afresh
		}
	}
	d.base, d.policy = st, policy
	// The configuration rules again: runtime weights end with a reload.
	if n := len(d.runtime); n > 0 {
		d.log.Info("runtime weights (xlb weight, xlb drain) end: the configured weights apply again", "reals", n)
	}
	clear(d.runtime)
	return d.applyLocked()
}

// SetRealHealth records a real's health and applies the consequence: a real
// that is down takes no new flows (with inhibit_on_failure it stays with
// weight 0, otherwise it leaves the service; its established flows continue
// either way), and a service below its quorum sends new flows to its
// sorry_server.
func (d *Director) SetRealHealth(ref RealRef, h RealHealth) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.health[ref]; ok && old == h {
		return nil
	}
	d.health[ref] = h
	if d.base == nil {
		return nil
	}
	return d.applyLocked()
}

// SetRealHealths is SetRealHealth for many reals at once, with one apply:
// a checker subsystem hands over every change that arrived while the last
// apply ran, so that a mass failure costs a few applies, not one per real.
func (d *Director) SetRealHealths(changes map[RealRef]RealHealth) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for ref, h := range changes {
		if old, ok := d.health[ref]; ok && old == h {
			continue
		}
		d.health[ref] = h
		changed = true
	}
	if !changed || d.base == nil {
		return nil
	}
	return d.applyLocked()
}

// RealHealth returns the health last recorded for a real; known is false
// for a real nothing was recorded for, which counts as up.
func (d *Director) RealHealth(ref RealRef) (h RealHealth, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, known = d.health[ref]
	return h, known
}

// SetRuntimeWeight overrides the configured weight of a real until the
// next SetConfig (a reload): w replaces the configured and any dynamic
// weight while the real is up; a real that is down stays down. A nil w
// returns the real to its configured weight. Weight 0 quiesces the real:
// no new flows, established ones continue.
func (d *Director) SetRuntimeWeight(ref RealRef, w *int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.configuredLocked(ref); err != nil {
		return err
	}
	if w != nil && (*w < 0 || *w > MaxWeight) {
		return fmt.Errorf("set weight %d of %s: %w", *w, ref, ErrWeightRange)
	}
	old, had := d.runtime[ref]
	switch {
	case w == nil && !had, w != nil && had && old == *w:
		return nil
	case w == nil:
		delete(d.runtime, ref)
	default:
		d.runtime[ref] = *w
	}
	return d.applyLocked()
}

// RuntimeWeight returns a real's runtime weight; set is false when it runs
// with its configured one.
func (d *Director) RuntimeWeight(ref RealRef) (w int, set bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, set = d.runtime[ref]
	return w, set
}

// ConfiguredWeight returns the weight the configuration gives a real, or
// ErrUnknownService / ErrUnknownReal.
func (d *Director) ConfiguredWeight(ref RealRef) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.configuredLocked(ref)
}

func (d *Director) configuredLocked(ref RealRef) (int, error) {
	if d.base != nil {
		for _, svc := range d.base.Services {
			if svc.Endpoint != ref.Service {
				continue
			}
			for _, rl := range svc.Reals {
				if rl.AddrPort() == ref.Real {
					return rl.Weight, nil
				}
			}
			return 0, fmt.Errorf("%s: %w", ref, ErrUnknownReal)
		}
	}
	return 0, fmt.Errorf("%s: %w", ref, ErrUnknownService)
}

// ConfiguredReals lists every real of the configuration, by service.
func (d *Director) ConfiguredReals() []RealRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.base == nil {
		return nil
	}
	var out []RealRef
	for _, svc := range d.base.Services {
		for _, rl := range svc.Reals {
			out = append(out, RealRef{svc.Endpoint, rl.AddrPort()})
		}
	}
	return out
}

// ServicesAt lists the configured services at VIP:port (TCP, UDP or both).
func (d *Director) ServicesAt(vip netip.AddrPort) []loader.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []loader.Endpoint
	if d.base == nil {
		return nil
	}
	for _, svc := range d.base.Services {
		if svc.Endpoint.Addr == vip.Addr() && svc.Endpoint.Port == vip.Port() {
			out = append(out, svc.Endpoint)
		}
	}
	return out
}

// SetOwnedVIPs says which VIPs this director holds (VRRP MASTER): services
// of other VIPs are removed from the data plane, as a BACKUP director
// forwards nothing for them. nil means every VIP, as without VRRP.
func (d *Director) SetOwnedVIPs(owned []netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if owned == nil {
		d.owned = nil
	} else {
		d.owned = make(map[netip.Addr]bool, len(owned))
		for _, a := range owned {
			d.owned[a] = true
		}
	}
	if d.base == nil {
		return nil
	}
	return d.applyLocked()
}

// OnQuorum sets fn to be told when a service loses its quorum (up false)
// or gains it again (up true), for quorum_up / quorum_down scripts. It is
// called at once for every service below its quorum now. fn runs with the
// Director's lock held: it must return quickly and must not call the
// Director.
func (d *Director) OnQuorum(fn func(svc loader.Endpoint, up bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onQuorum = fn
	if fn == nil {
		return
	}
	for ep, up := range d.quorumUp {
		if !up {
			fn(ep, false)
		}
	}
}

// Effective is the state the data plane runs now.
func (d *Director) Effective() *State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.effectiveLocked()
}

func (d *Director) applyLocked() error {
	return d.apply(d.effectiveLocked())
}

func (d *Director) effectiveLocked() *State {
	out := &State{}
	if d.base == nil {
		return out
	}
	for _, svc := range d.base.Services {
		if d.owned != nil && !d.owned[svc.Endpoint.Addr] {
			continue
		}
		out.Services = append(out.Services, d.serviceLocked(svc))
	}
	return out
}

// serviceLocked applies health, quorum and the sorry server to one service.
func (d *Director) serviceLocked(svc *Service) *Service {
	p := d.policy[svc.Endpoint]
	if p == nil {
		p = &servicePolicy{quorum: 1}
	}
	eff := *svc
	eff.Reals = nil
	alive := 0
	for _, rl := range svc.Reals {
		ref := RealRef{svc.Endpoint, rl.AddrPort()}
		h, known := d.health[ref]
		w, override := d.runtime[ref]
		switch {
		case known && !h.Up && p.inhibit[rl.AddrPort()]:
			rl.Weight = 0
		case known && !h.Up:
			continue
		case override:
			rl.Weight = w
		case known && h.WeightSet:
			rl.Weight = h.Weight
		}
		alive += rl.Weight
		eff.Reals = append(eff.Reals, rl)
	}

	up, seen := d.quorumUp[svc.Endpoint]
	switch {
	case !seen:
		up = alive >= p.quorum
	case up && alive < p.quorum-p.hysteresis:
		up = false
	case !up && alive >= p.quorum+p.hysteresis:
		up = true
	}
	if seen && up != d.quorumUp[svc.Endpoint] || !seen && !up {
		d.logQuorum(svc, p, up, alive)
		if d.onQuorum != nil {
			d.onQuorum(svc.Endpoint, up)
		}
	}
	d.quorumUp[svc.Endpoint] = up

	if p.sorry == nil {
		return &eff
	}
	sorryAt := slices.IndexFunc(eff.Reals, func(r Real) bool { return r.AddrPort() == p.sorry.AddrPort() })
	if !up {
		// Below quorum: the reals take no new flows (their established
		// ones continue) and the sorry server takes them all.
		for i := range eff.Reals {
			eff.Reals[i].Weight = 0
		}
		if sorryAt >= 0 {
			eff.Reals[sorryAt].Weight = 1
		} else {
			eff.Reals = append(eff.Reals, *p.sorry)
		}
	} else if p.sorryInhibit && sorryAt < 0 {
		// sorry_server_inhibit: the sorry server stays, quiescent.
		quiet := *p.sorry
		quiet.Weight = 0
		eff.Reals = append(eff.Reals, quiet)
	}
	return &eff
}

func (d *Director) logQuorum(svc *Service, p *servicePolicy, up bool, alive int) {
	vs := svc.String()
	switch {
	case up:
		d.log.Info("quorum gained: reals take new connections again", "vs", vs, "alive_weight", alive, "quorum", p.quorum, "hysteresis", p.hysteresis)
	case p.sorry != nil:
		d.log.Warn("quorum lost: new connections go to the sorry server", "vs", vs, "alive_weight", alive, "quorum", p.quorum, "sorry_server", p.sorry.AddrPort().String())
	default:
		d.log.Warn("quorum lost and no sorry_server", "vs", vs, "alive_weight", alive, "quorum", p.quorum)
	}
}
