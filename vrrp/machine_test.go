package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMachineTimers(t *testing.T) {
	tests := []struct {
		desc     string
		version  int
		prio     uint8
		interval time.Duration
		learned  time.Duration // a v3 master's interval, 0 for none
		wantSkew time.Duration
		wantDown time.Duration
		wantMInt time.Duration
	}{
		{desc: "v3 prio 100 1s", version: 3, prio: 100, interval: time.Second,
			wantSkew: 609375 * time.Microsecond, wantDown: 3609375 * time.Microsecond, wantMInt: time.Second},
		{desc: "v3 prio 128 learns 2s", version: 3, prio: 128, interval: time.Second, learned: 2 * time.Second,
			wantSkew: time.Second, wantDown: 7 * time.Second, wantMInt: 2 * time.Second},
		{desc: "v3 prio 192 learns 40ms", version: 3, prio: 192, interval: time.Second, learned: 40 * time.Millisecond,
			wantSkew: 10 * time.Millisecond, wantDown: 130 * time.Millisecond, wantMInt: 40 * time.Millisecond},
		{desc: "v3 prio 1 1s", version: 3, prio: 1, interval: time.Second,
			wantSkew: 996093750 * time.Nanosecond, wantDown: 3996093750 * time.Nanosecond, wantMInt: time.Second},
		{desc: "v2 prio 100 3s skew is in seconds", version: 2, prio: 100, interval: 3 * time.Second,
			wantSkew: 609375 * time.Microsecond, wantDown: 9609375 * time.Microsecond, wantMInt: 3 * time.Second},
		{desc: "v2 prio 254 1s", version: 2, prio: 254, interval: time.Second,
			wantSkew: 7812500 * time.Nanosecond, wantDown: 3007812500 * time.Nanosecond, wantMInt: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			m, err := NewMachine(MachineConfig{Version: tt.version, Priority: tt.prio, Interval: tt.interval})
			if err != nil {
				t.Fatal(err)
			}
			m.Start(t0)
			if tt.learned != 0 {
				if _, err := m.Receive(t0, &Advert{Version: 3, Priority: 255, Interval: tt.learned}); err != nil {
					t.Fatal(err)
				}
			}
			if got := m.SkewTime(); got != tt.wantSkew {
				t.Errorf("SkewTime = %v, want %v", got, tt.wantSkew)
			}
			if got := m.MasterDownInterval(); got != tt.wantDown {
				t.Errorf("MasterDownInterval = %v, want %v", got, tt.wantDown)
			}
			if got := m.MasterAdverInterval(); got != tt.wantMInt {
				t.Errorf("MasterAdverInterval = %v, want %v", got, tt.wantMInt)
			}
			if got, want := m.Next(), t0.Add(tt.wantDown); !got.Equal(want) {
				t.Errorf("Next = +%v, want +%v", got.Sub(t0), want.Sub(t0))
			}
		})
	}
}

// step is one event fed to a Machine at t0+at, and what must follow.
type step struct {
	at   time.Duration
	ev   string // start, tick, recv, shutdown, fault, clear, prio
	prio uint8  // recv: advert priority; prio: new effective priority
	src  string // recv: sender (default 198.18.0.9)
	intv time.Duration
	ver  int

	want      []Action
	wantErr   error
	wantState State
	wantNext  time.Duration // offset from t0; -1: no timer
}

var (
	send  = func(p uint8) Action { return Action{Kind: ActionSend, Priority: p} }
	trans = func(a, b State) Action { return Action{Kind: ActionTransition, From: a, To: b} }
)

const noTimer = -1

func runSteps(t *testing.T, cfg MachineConfig, steps []step) {
	t.Helper()
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatalf("NewMachine: %v", err)
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		var got []Action
		var err error
		switch s.ev {
		case "start":
			got = m.Start(now)
		case "tick":
			got = m.Tick(now)
		case "shutdown":
			got = m.Shutdown(now)
		case "fault":
			got = m.SetFault(now, true)
		case "clear":
			got = m.SetFault(now, false)
		case "prio":
			m.SetPriority(s.prio)
		case "recv":
			src := s.src
			if src == "" {
				src = "198.18.0.9"
			}
			intv, ver := s.intv, s.ver
			if intv == 0 {
				intv = cfg.Interval
			}
			if ver == 0 {
				ver = cfg.Version
			}
			got, err = m.Receive(now, &Advert{Version: ver, Priority: s.prio, Interval: intv, Src: netip.MustParseAddr(src)})
		default:
			t.Fatalf("step %d: unknown event %q", i, s.ev)
		}
		desc := fmt.Sprintf("step %d (%s prio %d at +%v)", i, s.ev, s.prio, s.at)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", desc, err, s.wantErr)
		}
		if !sameActions(got, s.want) {
			t.Fatalf("%s: actions %v, want %v", desc, got, s.want)
		}
		if m.State() != s.wantState {
			t.Fatalf("%s: state %v, want %v", desc, m.State(), s.wantState)
		}
		next := m.Next()
		if s.wantNext == noTimer {
			if !next.IsZero() {
				t.Fatalf("%s: timer at +%v, want none", desc, next.Sub(t0))
			}
		} else if !next.Equal(t0.Add(s.wantNext)) {
			t.Fatalf("%s: timer at +%v, want +%v", desc, next.Sub(t0), s.wantNext)
		}
	}
}

func TestMachineTransitions(t *testing.T) {
	const (
		ms = time.Millisecond
		s  = time.Second
	)
	v3 := MachineConfig{Version: 3, Priority: 100, Interval: s, LocalAddr: netip.MustParseAddr("198.18.0.5")}
	with := func(f func(*MachineConfig)) MachineConfig { c := v3; f(&c); return c }
	down100 := 3609375 * time.Microsecond // MDI at prio 100, 1s
	skew100 := 609375 * time.Microsecond

	tests := []struct {
		desc  string
		cfg   MachineConfig
		steps []step
	}{
		{"backup becomes master when master down timer fires", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: down100 - 1, ev: "tick", wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
			{at: down100 + s, ev: "tick", want: []Action{send(100)}, wantState: StateMaster, wantNext: down100 + 2*s},
		}},
		{"adverts from a higher master keep us backup", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: 3 * s, ev: "recv", prio: 150, wantState: StateBackup, wantNext: 3*s + down100},
			{at: 6 * s, ev: "recv", prio: 150, wantState: StateBackup, wantNext: 6*s + down100},
			{at: 6*s + down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: 7*s + down100},
		}},
		{"v3 backup adopts the master's interval", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			// MDI with 2s: 6s + 156*2s/256 = 7.21875s
			{at: s, ev: "recv", prio: 200, intv: 2 * s, wantState: StateBackup, wantNext: s + 7218750*time.Microsecond},
		}},
		{"equal priority master is not preempted", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 100, src: "198.18.0.1", wantState: StateBackup, wantNext: s + down100},
		}},
		{"lower master is preempted after master down interval", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
		}},
		{"nopreempt keeps a lower master", with(func(c *MachineConfig) { c.NoPreempt = true }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: s + down100},
		}},
		{"preempt_delay holds back preemption from start-up", with(func(c *MachineConfig) { c.PreemptDelay = 5 * s }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: s + down100},
			{at: 4 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 4*s + down100},
			{at: 5 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 4*s + down100},
			{at: 4*s + down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: 5*s + down100},
		}},
		{"preempt_delay restarts when a lower master follows a higher one", with(func(c *MachineConfig) { c.PreemptDelay = 5 * s }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 150, wantState: StateBackup, wantNext: s + down100},
			{at: 10 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 10*s + down100},
			{at: 14 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 14*s + down100},
			{at: 15 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 14*s + down100},
		}},
		{"priority 0 from master: backup takes over after skew time", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 150, wantState: StateBackup, wantNext: s + down100},
			{at: 2 * s, ev: "recv", prio: 0, wantState: StateBackup, wantNext: 2*s + skew100},
			{at: 2*s + skew100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: 3*s + skew100},
		}},
		{"owner (255) is master at once", with(func(c *MachineConfig) { c.Priority = 255 }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateMaster), send(255)}, wantState: StateMaster, wantNext: s},
			{at: 500 * ms, ev: "recv", prio: 254, want: []Action{send(255)}, wantState: StateMaster, wantNext: 1500 * ms},
		}},
		{"master yields to higher priority and learns its interval", with(func(c *MachineConfig) { c.Priority = 255 }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateMaster), send(255)}, wantState: StateMaster, wantNext: s},
			{at: 200 * ms, ev: "prio", prio: 90, wantState: StateMaster, wantNext: s},
			// MDI at 90 with 3s: 9s + 166*3s/256 = 10.9453125s
			{at: 300 * ms, ev: "recv", prio: 120, intv: 3 * s, want: []Action{trans(StateMaster, StateBackup)}, wantState: StateBackup, wantNext: 300*ms + 10945312500},
		}},
		{"master yields to equal priority with higher address", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
			{at: 4 * s, ev: "recv", prio: 100, src: "198.18.0.4", want: []Action{send(100)}, wantState: StateMaster, wantNext: 5 * s},
			{at: 5 * s, ev: "recv", prio: 100, src: "198.18.0.6", want: []Action{trans(StateMaster, StateBackup)}, wantState: StateBackup, wantNext: 5*s + down100},
		}},
		{"master answers priority 0 with an advert", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
			{at: 4 * s, ev: "recv", prio: 0, want: []Action{send(100)}, wantState: StateMaster, wantNext: 5 * s},
		}},
		{"shutdown of master sends priority 0", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
			{at: 5 * s, ev: "shutdown", want: []Action{send(0), trans(StateMaster, StateInit)}, wantState: StateInit, wantNext: noTimer},
			{at: 9 * s, ev: "tick", wantState: StateInit, wantNext: noTimer},
		}},
		{"shutdown of backup is silent", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "shutdown", want: []Action{trans(StateBackup, StateInit)}, wantState: StateInit, wantNext: noTimer},
		}},
		{"fault from master and back to backup", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: down100, ev: "tick", want: []Action{trans(StateBackup, StateMaster), send(100)}, wantState: StateMaster, wantNext: down100 + s},
			{at: 4 * s, ev: "fault", want: []Action{send(0), trans(StateMaster, StateFault)}, wantState: StateFault, wantNext: noTimer},
			{at: 5 * s, ev: "recv", prio: 50, wantState: StateFault, wantNext: noTimer},
			{at: 6 * s, ev: "clear", want: []Action{trans(StateFault, StateBackup)}, wantState: StateBackup, wantNext: 6*s + down100},
		}},
		{"fault before start", v3, []step{
			{ev: "fault", wantState: StateInit, wantNext: noTimer},
			{at: s, ev: "start", want: []Action{trans(StateInit, StateFault)}, wantState: StateFault, wantNext: noTimer},
			{at: 2 * s, ev: "clear", want: []Action{trans(StateFault, StateBackup)}, wantState: StateBackup, wantNext: 2*s + down100},
		}},
		{"v2 interval mismatch is dropped", with(func(c *MachineConfig) { c.Version = 2 }), []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 200, intv: 2 * s, wantErr: ErrIntervalMismatch, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 200, wantState: StateBackup, wantNext: s + down100},
		}},
		{"other version is dropped", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "recv", prio: 200, ver: 2, wantErr: ErrBadVersion, wantState: StateBackup, wantNext: down100},
		}},
		{"lower effective priority lets a backup stay backup", v3, []step{
			{ev: "start", want: []Action{trans(StateInit, StateBackup)}, wantState: StateBackup, wantNext: down100},
			{at: s, ev: "prio", prio: 40, wantState: StateBackup, wantNext: down100},
			// MDI at 40: 3s + 216/256 s = 3.84375s
			{at: 2 * s, ev: "recv", prio: 50, wantState: StateBackup, wantNext: 2*s + 3843750*time.Microsecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) { runSteps(t, tt.cfg, tt.steps) })
	}
}

func TestNewMachineErrors(t *testing.T) {
	tests := []struct {
		desc string
		cfg  MachineConfig
	}{
		{"version 4", MachineConfig{Version: 4, Priority: 100, Interval: time.Second}},
		{"priority 0", MachineConfig{Version: 3, Priority: 0, Interval: time.Second}},
		{"v2 half second", MachineConfig{Version: 2, Priority: 100, Interval: 500 * time.Millisecond}},
		{"v3 5ms", MachineConfig{Version: 3, Priority: 100, Interval: 5 * time.Millisecond}},
		{"v3 41s", MachineConfig{Version: 3, Priority: 100, Interval: 41 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if _, err := NewMachine(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("NewMachine(%+v) = %v, want ErrConfig", tt.cfg, err)
			}
		})
	}
}

func TestMachineHold(t *testing.T) {
	down := 3609375 * time.Microsecond
	m, err := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m.SetHold(true)
	m.Start(t0)
	if acts := m.Tick(t0.Add(down)); acts != nil || m.State() != StateBackup || !m.WantsMaster() {
		t.Fatalf("held backup at master down: actions %v state %v wants %v; want none, BACKUP, true", acts, m.State(), m.WantsMaster())
	}
	if got, want := m.Next(), t0.Add(2*down); !got.Equal(want) {
		t.Fatalf("held backup re-arms master down at +%v, want +%v", got.Sub(t0), want.Sub(t0))
	}
	// A master is heard: no longer wants master.
	if _, err := m.Receive(t0.Add(5*time.Second), &Advert{Version: 3, Priority: 150, Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	if m.WantsMaster() {
		t.Fatal("still wants master after hearing a higher master")
	}
	m.Tick(t0.Add(5*time.Second + down))
	if !m.WantsMaster() {
		t.Fatal("does not want master after the master went silent")
	}
	acts := m.ForceMaster(t0.Add(9 * time.Second))
	if want := []Action{trans(StateBackup, StateMaster), send(100)}; !sameActions(acts, want) {
		t.Fatalf("ForceMaster = %v, want %v", acts, want)
	}
	acts = m.ForceBackup(t0.Add(10 * time.Second))
	if want := []Action{trans(StateMaster, StateBackup)}; !sameActions(acts, want) || m.WantsMaster() {
		t.Fatalf("ForceBackup = %v (wants %v), want %v and not wanting", acts, m.WantsMaster(), want)
	}
	if got, want := m.Next(), t0.Add(10*time.Second+down); !got.Equal(want) {
		t.Fatalf("after ForceBackup timer at +%v, want +%v", got.Sub(t0), want.Sub(t0))
	}
	// An owner in a group waits for the group too.
	o, _ := NewMachine(MachineConfig{Version: 3, Priority: 255, Interval: time.Second})
	o.SetHold(true)
	if acts := o.Start(t0); !sameActions(acts, []Action{trans(StateInit, StateBackup)}) || !o.WantsMaster() {
		t.Fatalf("held owner Start = %v wants %v; want BACKUP wanting master", acts, o.WantsMaster())
	}
}

// sameActions compares actions without their Reason, which
// TestMachineReasons checks.
func sameActions(got, want []Action) bool {
	strip := func(as []Action) []Action {
		out := make([]Action, len(as))
		for i, a := range as {
			a.Reason = ""
			out[i] = a
		}
		return out
	}
	return slices.Equal(strip(got), strip(want))
}

func TestMachineReasons(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.3")
	cfg := MachineConfig{Version: 3, Priority: 100, Interval: time.Second}
	down := 3609375 * time.Microsecond
	reason := func(acts []Action) string {
		for _, a := range acts {
			if a.Kind == ActionTransition {
				return a.Reason
			}
		}
		return ""
	}
	tests := []struct {
		desc string
		run  func(m *Machine) []Action
		want string
	}{
		{"no master at start", func(m *Machine) []Action {
			m.Start(t0)
			return m.Tick(t0.Add(down))
		}, "no advert from a master"},
		{"master went silent", func(m *Machine) []Action {
			m.Start(t0)
			m.Receive(t0.Add(time.Second), &Advert{Version: 3, Priority: 150, Interval: time.Second, Src: peer})
			return m.Tick(t0.Add(time.Second + down))
		}, "advert from 198.18.0.3 timed out"},
		{"master resigned", func(m *Machine) []Action {
			m.Start(t0)
			m.Receive(t0.Add(time.Second), &Advert{Version: 3, Priority: 150, Interval: time.Second, Src: peer})
			m.Receive(t0.Add(2*time.Second), &Advert{Version: 3, Priority: 0, Interval: time.Second, Src: peer})
			return m.Tick(t0.Add(3 * time.Second))
		}, "198.18.0.3 gave up mastership (priority 0)"},
		{"preempted", func(m *Machine) []Action {
			m.Start(t0)
			m.Tick(t0.Add(down))
			acts, _ := m.Receive(t0.Add(5*time.Second), &Advert{Version: 3, Priority: 200, Interval: time.Second, Src: peer})
			return acts
		}, "advert from 198.18.0.3 with priority 200"},
		{"preempting a lower master", func(m *Machine) []Action {
			m.Start(t0)
			m.Receive(t0.Add(time.Second), &Advert{Version: 3, Priority: 50, Interval: time.Second, Src: peer})
			return m.Tick(t0.Add(down))
		}, "preempting 198.18.0.3 (priority 50)"},
		{"stop", func(m *Machine) []Action {
			m.Start(t0)
			return m.Shutdown(t0.Add(time.Second))
		}, "stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			m, err := NewMachine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			acts := tt.run(m)
			if got := reason(acts); got != tt.want {
				t.Errorf("transition reason %q (actions %v), want %q", got, acts, tt.want)
			}
		})
	}
}
