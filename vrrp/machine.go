package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// State is the state of a virtual router (RFC 5798 §6.4), plus Fault, which
// keepalived uses when a tracker with weight 0 fails.
type State int

// States of a virtual router.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

// String returns the name keepalived passes to notify scripts.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return fmt.Sprintf("STATE-%d", int(s))
}

// PriorityOwner is the priority of the router that owns the virtual
// addresses; it becomes master at once and is never preempted.
const PriorityOwner = 255

// MachineConfig configures a Machine. The zero value of the booleans gives
// the RFC and keepalived defaults (preempt on).
type MachineConfig struct {
	// Version is the VRRP version, 2 or 3.
	Version int
	// Priority is the configured priority, 1..255.
	Priority uint8
	// Interval is the advertisement interval (advert_int): whole seconds
	// for version 2, a multiple of 10ms for version 3.
	Interval time.Duration
	// NoPreempt keeps a higher-priority backup from taking over from a
	// lower-priority master (keepalived nopreempt).
	NoPreempt bool
	// PreemptDelay delays preemption after start-up or after first seeing a
	// lower-priority master (keepalived preempt_delay).
	PreemptDelay time.Duration
	// LocalAddr is this router's primary address, which breaks ties
	// between equal priorities (higher address wins).
	LocalAddr netip.Addr
}

// ActionKind says what a Machine asks its driver to do.
type ActionKind int

// Kinds of actions.
const (
	// ActionSend: send an advert with Action.Priority.
	ActionSend ActionKind = iota + 1
	// ActionTransition: the state changed from Action.From to Action.To.
	// Entering Master means: add the virtual addresses and announce them
	// (gratuitous ARP / unsolicited NA); leaving it means remove them.
	ActionTransition
)

// Action is one thing the driver must do, in order.
type Action struct {
	Kind     ActionKind
	Priority uint8 // ActionSend
	From, To State // ActionTransition
	// Reason says why the state changed (ActionTransition), in words for
	// a log line: "advert from 198.18.0.3 timed out".
	Reason string
}

func (a Action) String() string {
	switch a.Kind {
	case ActionSend:
		return fmt.Sprintf("send(prio %d)", a.Priority)
	case ActionTransition:
		return fmt.Sprintf("%v->%v", a.From, a.To)
	}
	return fmt.Sprintf("action-%d", int(a.Kind))
}

// Machine is the VRRP state machine of one virtual router. It does no I/O
// and reads no clock: every event carries the current time and the answer is
// the list of actions to take. Next says when Tick must be called. A Machine
// is not safe for concurrent use.
type Machine struct {
	cfg       MachineConfig
	state     State
	prio      uint8 // effective priority
	fault     bool
	masterInt time.Duration // Master_Adver_Interval
	// Deadlines; zero when not running.
	masterDown time.Time
	adverTimer time.Time
	preemptAt  time.Time
	started    bool
	// hold defers becoming master to a sync group; wantMaster records that
	// the master down timer fired (or we own the addresses) meanwhile.
	hold       bool
	wantMaster bool
	// master is the source of the last advert that kept us backup;
	// resigned is set when it sent priority 0.
	master   netip.Addr
	resigned bool
	// lower is a lower-priority master we are about to preempt.
	lower     netip.Addr
	lowerPrio uint8
}

// ErrConfig reports an invalid MachineConfig or instance configuration.
var ErrConfig = errors.New("invalid VRRP configuration")

// NewMachine returns a Machine in Initialize state.
func NewMachine(cfg MachineConfig) (*Machine, error) {
	switch cfg.Version {
	case 2:
		if cfg.Interval < time.Second || cfg.Interval > 255*time.Second || cfg.Interval%time.Second != 0 {
			return nil, fmt.Errorf("advert interval %v for version 2 (whole seconds 1..255): %w", cfg.Interval, ErrConfig)
		}
	case 3:
		if cfg.Interval < 10*time.Millisecond || cfg.Interval > 40950*time.Millisecond || cfg.Interval%(10*time.Millisecond) != 0 {
			return nil, fmt.Errorf("advert interval %v for version 3 (10ms steps up to 40.95s): %w", cfg.Interval, ErrConfig)
		}
	default:
		return nil, fmt.Errorf("version %d: %w", cfg.Version, ErrConfig)
	}
	if cfg.Priority == 0 {
		return nil, fmt.Errorf("priority 0: %w", ErrConfig)
	}
	return &Machine{cfg: cfg, prio: cfg.Priority, masterInt: cfg.Interval}, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.prio }

// MasterAdverInterval is the advert interval of the current master: learned
// from its adverts in version 3, the configured one in version 2.
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterInt }

// SkewTime is (256 - Priority) * Master_Adver_Interval / 256 in version 3 and
// (256 - Priority) / 256 seconds in version 2.
func (m *Machine) SkewTime() time.Duration {
	base := m.masterInt
	if m.cfg.Version == 2 {
		base = time.Second
	}
	return time.Duration(256-int64(m.prio)) * base / 256
}

// MasterDownInterval is 3 * Master_Adver_Interval + SkewTime.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterInt + m.SkewTime()
}

// Next returns when Tick must next be called; zero when no timer runs.
func (m *Machine) Next() time.Time {
	switch m.state {
	case StateBackup:
		return m.masterDown
	case StateMaster:
		return m.adverTimer
	}
	return time.Time{}
}

// Start leaves Initialize: an address owner (priority 255) becomes master at
// once, anyone else backup. With a fault pending it enters Fault.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	m.started = true
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	return m.enterRunning(now)
}

func (m *Machine) enterRunning(now time.Time) []Action {
	if m.fault {
		return m.to(StateFault, "a tracker failed")
	}
	if m.prio == PriorityOwner && !m.hold {
		return m.becomeMaster(now, "address owner (priority 255)")
	}
	m.masterInt = m.cfg.Interval
	m.master, m.resigned, m.lower = netip.Addr{}, false, netip.Addr{}
	acts := m.to(StateBackup, "waiting for the master's adverts")
	m.masterDown = now.Add(m.MasterDownInterval())
	m.wantMaster = m.prio == PriorityOwner
	return acts
}

// Shutdown returns to Initialize; a master first sends a priority 0 advert
// so a backup takes over after its skew time.
func (m *Machine) Shutdown(now time.Time) []Action {
	var acts []Action
	if m.state == StateMaster {
		acts = append(acts, Action{Kind: ActionSend, Priority: 0})
	}
	m.started = false
	return append(acts, m.to(StateInit, "stopping")...)
}

// Tick fires the timers that expired at now.
func (m *Machine) Tick(now time.Time) []Action {
	switch m.state {
	case StateBackup:
		if !m.masterDown.IsZero() && !now.Before(m.masterDown) {
			if m.hold {
				m.wantMaster = true
				m.masterDown = now.Add(m.MasterDownInterval())
				return nil
			}
			return m.becomeMaster(now, m.downReason())
		}
	case StateMaster:
		if !m.adverTimer.IsZero() && !now.Before(m.adverTimer) {
			m.adverTimer = now.Add(m.cfg.Interval)
			return []Action{m.send()}
		}
	}
	return nil
}

// Receive handles a valid advert for this virtual router (version, VRID,
// authentication and TTL already checked). adv.Src is the sender's address.
// It returns ErrIntervalMismatch for a version 2 advert whose interval is not
// ours (RFC 3768 §7.1) and ErrBadVersion for the other version.
func (m *Machine) Receive(now time.Time, adv *Advert) ([]Action, error) {
	if adv.Version != m.cfg.Version {
		return nil, fmt.Errorf("version %d, configured %d: %w", adv.Version, m.cfg.Version, ErrBadVersion)
	}
	if m.cfg.Version == 2 && adv.Interval != m.cfg.Interval {
		return nil, fmt.Errorf("interval %v, configured %v: %w", adv.Interval, m.cfg.Interval, ErrIntervalMismatch)
	}
	switch m.state {
	case StateBackup:
		if adv.Priority == 0 {
			m.masterDown = now.Add(m.SkewTime())
			m.master, m.resigned, m.lower = adv.Src, true, netip.Addr{}
			return nil, nil
		}
		if m.cfg.NoPreempt || adv.Priority >= m.prio || m.delayPreempt(now) {
			if adv.Priority >= m.prio {
				m.preemptAt = time.Time{}
			}
			m.wantMaster = false
			m.learn(adv)
			m.master, m.resigned, m.lower = adv.Src, false, netip.Addr{}
			m.masterDown = now.Add(m.MasterDownInterval())
			return nil, nil
		}
		// Otherwise discard: a lower-priority master is preempted when
		// the master down timer fires.
		m.lower, m.lowerPrio = adv.Src, adv.Priority
		return nil, nil
	case StateMaster:
		if adv.Priority == 0 {
			m.adverTimer = now.Add(m.cfg.Interval)
			return []Action{m.send()}, nil
		}
		if adv.Priority > m.prio || (adv.Priority == m.prio && m.cfg.LocalAddr.IsValid() &&
			adv.Src.Compare(m.cfg.LocalAddr) > 0) {
			m.learn(adv)
			acts := m.to(StateBackup, fmt.Sprintf("advert from %v with priority %d", adv.Src, adv.Priority))
			m.master, m.resigned, m.lower = adv.Src, false, netip.Addr{}
			m.masterDown = now.Add(m.MasterDownInterval())
			return acts, nil
		}
		// A lower-priority master: answer at once so it backs off now
		// rather than after its master down interval (keepalived does so).
		m.adverTimer = now.Add(m.cfg.Interval)
		return []Action{m.send()}, nil
	}
	return nil, nil
}

// delayPreempt reports whether preempt_delay still holds back preemption of
// a lower-priority master; the delay runs from start-up or from the first
// lower-priority advert after a higher one.
func (m *Machine) delayPreempt(now time.Time) bool {
	if m.cfg.PreemptDelay <= 0 {
		return false
	}
	if m.preemptAt.IsZero() {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	return now.Before(m.preemptAt)
}

func (m *Machine) learn(adv *Advert) {
	if m.cfg.Version == 3 && adv.Interval > 0 {
		m.masterInt = adv.Interval
	}
}

// SetPriority sets the effective priority (the trackers' result). It takes
// effect with the next advert sent or received.
func (m *Machine) SetPriority(p uint8) {
	if p == 0 {
		p = 1
	}
	m.prio = p
}

// SetFault enters Fault (a master first sends priority 0) or, when cleared,
// leaves it for Backup, or Master for an address owner.
func (m *Machine) SetFault(now time.Time, fault bool) []Action {
	if m.fault == fault {
		return nil
	}
	m.fault = fault
	if !m.started {
		return nil
	}
	if fault {
		var acts []Action
		if m.state == StateMaster {
			acts = append(acts, Action{Kind: ActionSend, Priority: 0})
		}
		return append(acts, m.to(StateFault, "a tracker failed")...)
	}
	if m.state == StateFault {
		return m.enterRunning(now)
	}
	return nil
}

// SetHold makes the machine wait for a sync group: when it would become
// master it stays backup and reports WantsMaster until ForceMaster.
func (m *Machine) SetHold(hold bool) { m.hold = hold }

// WantsMaster reports that a held backup would have become master.
func (m *Machine) WantsMaster() bool { return m.state == StateBackup && m.wantMaster }

// ForceMaster makes a backup master (its sync group agreed).
func (m *Machine) ForceMaster(now time.Time) []Action {
	if m.state != StateBackup {
		return nil
	}
	return m.becomeMaster(now, "its sync group agreed")
}

// ForceBackup makes a master backup (another member of its sync group
// became backup). It waits a full master down interval before it may want
// master again.
func (m *Machine) ForceBackup(now time.Time) []Action {
	if m.state != StateMaster {
		return nil
	}
	acts := m.to(StateBackup, "another member of its sync group became backup")
	m.masterInt = m.cfg.Interval
	m.masterDown = now.Add(m.MasterDownInterval())
	return acts
}

// downReason says why the master down timer fired.
func (m *Machine) downReason() string {
	switch {
	case m.lower.IsValid():
		return fmt.Sprintf("preempting %v (priority %d)", m.lower, m.lowerPrio)
	case m.resigned:
		return fmt.Sprintf("%v gave up mastership (priority 0)", m.master)
	case m.master.IsValid():
		return fmt.Sprintf("advert from %v timed out", m.master)
	}
	return "no advert from a master"
}

func (m *Machine) becomeMaster(now time.Time, reason string) []Action {
	acts := m.to(StateMaster, reason)
	m.masterInt = m.cfg.Interval
	m.adverTimer = now.Add(m.cfg.Interval)
	return append(acts, m.send())
}

func (m *Machine) send() Action { return Action{Kind: ActionSend, Priority: m.prio} }

func (m *Machine) to(s State, reason string) []Action {
	from := m.state
	m.state = s
	m.masterDown, m.adverTimer = time.Time{}, time.Time{}
	m.wantMaster = false
	if from == s {
		return nil
	}
	return []Action{{Kind: ActionTransition, From: from, To: s, Reason: reason}}
}
