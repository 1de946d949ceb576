package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/health"
	"github.com/xlbproject/xlb/loader"
)

// This file is xlbd's health-checking subsystem: every checker block of the
// configuration becomes one health.Target of one health.Monitor; a real is
// up when all of its checkers are up, and its health goes to the Director,
// which applies inhibit_on_failure, removal, misc_dynamic weights, quorum
// and the sorry server. A real without checkers is always up.

// scriptTimeout bounds a notify_up, notify_down, quorum_up or quorum_down
// script: at it the script's process group is killed.
const scriptTimeout = 10 * time.Second

// miscSlack is added to misc_timeout for the Monitor's budget of a
// MISC_CHECK, so that the program is killed at misc_timeout by its own
// timer and the reason says so.
const miscSlack = 500 * time.Millisecond

// healthChecker is the health-checking subsystem.
type healthChecker struct {
	log      *slog.Logger
	director *control.Director
	mon      *health.Monitor
	cancel   context.CancelFunc
	runDone  chan struct{}
	scripts  scriptRunner

	// conf is what the quorum callback needs; it runs under the
	// Director's lock and so must not take mu.
	conf atomic.Pointer[healthConf]

	qmu        sync.Mutex
	quorumDown map[loader.Endpoint]bool

	// applyMu orders what goes to the Director: the flusher's batches and
	// a reload's sync. Taken before mu.
	applyMu sync.Mutex

	mu    sync.Mutex
	reals map[control.RealRef]*realChecks
	// byTarget are the reals each checker decides for: one, or one per
	// address of a virtual_server group, which is checked once.
	byTarget map[string][]*realChecks
	// pending are the changes the flusher has not passed on yet.
	pending []change
	// local follows the director's addresses once a virtual server has
	// ha_suspend; suspended are the checkers it holds, vipAway the
	// ha_suspend services whose VIP is elsewhere.
	local     *localAddrs
	suspended map[string]bool
	vipAway   map[loader.Endpoint]bool

	flushSig  chan struct{}
	flushStop chan struct{}
	flushDone chan struct{}
}

// change is one checker event's consequence for one real.
type change struct {
	rc            *realChecks
	kind          config.CheckKind
	ev            health.Event
	before, after control.RealHealth
	notify        bool // run its notify script (once for a group's addresses)
}

// healthConf is the part of the configuration scripts need.
type healthConf struct {
	services map[loader.Endpoint]*config.VirtualServer
	// user and group run scripts that name none: script_user, else
	// keepalived_script if it exists, else xlbd's own.
	user, group string
}

// realChecks is one real server and the state of its checkers.
type realChecks struct {
	ref control.RealRef
	// who names the real once for all the addresses of a group ("real
	// 198.18.1.2:80 of group web"), else as ref does.
	who string
	vs  *config.VirtualServer
	rs  *config.RealServer
	// targets are the names of its checkers, in config order.
	targets []string
	// state is per checker; the reals of one group's addresses share it.
	state map[string]*checkState
}

// checkState is what one checker last concluded.
type checkState struct {
	kind      config.CheckKind
	up        bool
	weight    int
	weightSet bool
	// reason and changed are the last event's, for `xlb health`.
	reason  string
	changed time.Time
}

// startHealth is the starter of the health-checking subsystem.
func startHealth(cfg *config.Config, director *control.Director, log *slog.Logger) (subsystem, error) {
	h := &healthChecker{
		log:        log,
		director:   director,
		runDone:    make(chan struct{}),
		quorumDown: make(map[loader.Endpoint]bool),
		reals:      make(map[control.RealRef]*realChecks),
		byTarget:   make(map[string][]*realChecks),
		suspended:  make(map[string]bool),
		vipAway:    make(map[loader.Endpoint]bool),
		flushSig:   make(chan struct{}, 1),
		flushStop:  make(chan struct{}),
		flushDone:  make(chan struct{}),
	}
	h.mon = health.NewMonitor(health.MonitorOptions{OnEvent: h.onEvent})
	if err := h.apply(cfg); err != nil {
		return nil, err
	}
	director.OnQuorum(h.onQuorum)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go h.flushLoop()
	go func() {
		defer close(h.runDone)
		h.mon.Run(ctx)
	}()
	h.mu.Lock()
	nTargets, nReals := len(h.byTarget), 0
	for _, rc := range h.reals {
		if len(rc.targets) > 0 {
			nReals++
		}
	}
	h.mu.Unlock()
	if nTargets > 0 {
		log.Info("health checking started", "checkers", nTargets, "reals_checked", nReals)
	}
	return h, nil
}

// Reload adopts a new configuration: checkers that stay keep their state
// (no flap on SIGHUP), new ones start, removed ones stop.
func (h *healthChecker) Reload(cfg *config.Config) error {
	return h.apply(cfg)
}

// Stop ends the checks, waits for the scripts they started and, for
// virtual servers with omega, runs notify_down of the reals that are up and
// quorum_down of the services that hold their quorum.
func (h *healthChecker) Stop() {
	h.director.OnQuorum(nil)
	h.cancel()
	<-h.runDone
	close(h.flushStop)
	<-h.flushDone
	if h.local != nil {
		h.local.stop()
	}
	h.scripts.wait()
	h.omega()
	h.scripts.wait()
}

// target is one checker to run.
type target struct {
	t   health.Target
	rcs []*realChecks
	pos config.Position
}

// plan is what a configuration asks of health checking, built and checked.
type plan struct {
	conf    *healthConf
	targets []*target
	reals   map[control.RealRef]*realChecks
}

// checkHealth checks what of cfg only health checking can: the checkers'
// options, the SSL block's files, enable_script_security. xlbd calls it
// with the other checks of a file, before anything changes, so that a
// reload it refuses leaves the running configuration whole. The errors are
// a config.ErrorList with positions.
func checkHealth(cfg *config.Config) error {
	_, err := buildPlan(cfg, slog.New(slog.DiscardHandler))
	return err
}

// buildPlan builds a checker for every checker block of cfg; log is where
// log_all_failures writes.
func buildPlan(cfg *config.Config, log *slog.Logger) (*plan, error) {
	conf := &healthConf{services: make(map[loader.Endpoint]*config.VirtualServer)}
	conf.user, conf.group = scriptUser(cfg.Global)
	var errs config.ErrorList
	tlsCfg, err := sslConfig(cfg.SSL)
	if err != nil {
		errs = append(errs, config.Errorf(cfg.SSL.Pos, "SSL: %v", err))
	}
	var (
		targets []*target
		built   = make(map[string]*target)
		reals   = make(map[control.RealRef]*realChecks)
	)
	secure := func(s *config.Script) {
		if s == nil || !cfg.Global.EnableScriptSecurity {
			return
		}
		if err := scriptSecurity(s.Cmd); err != nil {
			errs = append(errs, config.Errorf(s.Pos, "%v", err))
		}
	}
	for _, vs := range cfg.VirtualServers {
		ep := loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.Protocol(vs.Protocol)}
		conf.services[ep] = vs
		secure(vs.QuorumUp)
		secure(vs.QuorumDown)
		for _, rs := range vs.Reals {
			secure(rs.NotifyUp)
			secure(rs.NotifyDown)
			for _, c := range rs.Checks {
				if c.Misc != nil {
					secure(c.Misc.Script)
				}
			}
			ref := control.RealRef{Service: ep, Real: rs.AddrPort()}
			who := ref.String()
			if vs.Group != "" {
				who = fmt.Sprintf("real %s of group %s", rs.AddrPort(), vs.Group)
			}
			rc := &realChecks{ref: ref, who: who, vs: vs, rs: rs, state: make(map[string]*checkState)}
			reals[ref] = rc
			seen := make(map[config.CheckKind]int)
			for _, c := range rs.Checks {
				seen[c.Kind]++
				name := targetName(who, ref.Service.Proto, c.Kind, seen[c.Kind])
				if tg := built[name]; tg != nil {
					// Another address of the same group: one check for all.
					rc.targets = append(rc.targets, name)
					rc.state[name] = tg.rcs[0].state[name]
					tg.rcs = append(tg.rcs, rc)
					continue
				}
				if tlsCfg == nil {
					continue // the SSL block's error is reported
				}
				chk, opts, err := newChecker(who, c, conf, tlsCfg, log)
				if err != nil {
					errs = append(errs, config.Errorf(c.Pos, "%s %s: %v", who, c.Kind, err))
					continue
				}
				rc.targets = append(rc.targets, name)
				rc.state[name] = &checkState{kind: c.Kind, up: !c.Alpha}
				tg := &target{t: health.Target{Name: name, Checker: chk, Options: opts}, rcs: []*realChecks{rc}, pos: c.Pos}
				built[name] = tg
				targets = append(targets, tg)
			}
		}
	}
	if len(errs) > 0 {
		// A group's block is checked once per address: say each once.
		slices.SortStableFunc(errs, func(a, b *config.Error) int {
			return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		errs = slices.CompactFunc(errs, func(a, b *config.Error) bool { return *a == *b })
		return nil, errs
	}
	return &plan{conf: conf, targets: targets, reals: reals}, nil
}

// apply makes the Monitor's targets those of cfg. Everything is built and
// checked before anything changes.
func (h *healthChecker) apply(cfg *config.Config) error {
	p, err := buildPlan(cfg, h.log)
	if err != nil {
		return fmt.Errorf("set up health checks: %w", err)
	}
	conf, targets, reals := p.conf, p.targets, p.reals
	var errs []error

	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	wanted := make(map[string]bool, len(targets))
	for _, tg := range targets {
		wanted[tg.t.Name] = true
	}
	for name := range h.byTarget {
		if !wanted[name] {
			h.mon.Remove(name)
		}
	}
	byTarget := make(map[string][]*realChecks, len(targets))
	for _, tg := range targets {
		name := tg.t.Name
		if _, ok := h.byTarget[name]; ok {
			err = h.mon.Replace(tg.t)
		} else {
			err = h.mon.Add(tg.t)
		}
		if err != nil {
			// Validated above; a failure here is a bug, not bad input.
			errs = append(errs, fmt.Errorf("%s: %w", tg.pos, err))
			continue
		}
		byTarget[name] = tg.rcs
		if st, ok := h.mon.Status(name); ok {
			cs := tg.rcs[0].state[name]
			cs.up, cs.weight, cs.weightSet = st.Up, st.Weight, st.WeightSet
		}
	}
	oldReals := h.reals
	h.byTarget, h.reals = byTarget, reals
	h.conf.Store(conf)
	watch := slices.ContainsFunc(cfg.VirtualServers, func(vs *config.VirtualServer) bool { return vs.HASuspend })
	if err := h.suspendLocked(watch); err != nil {
		errs = append(errs, err)
	}

	// The Director learns what the checkers know now: a real whose
	// checkers were all removed is up again, a checker that stayed keeps
	// the real where it was.
	resync := make(map[control.RealRef]control.RealHealth)
	for _, rc := range reals {
		want := rc.health()
		if oldReals[rc.ref] == nil && !want.Up {
			h.log.Info(fmt.Sprintf("%s starts down (alpha): no connections until its checkers pass", rc.ref))
		}
		cur, known := h.director.RealHealth(rc.ref)
		if !known {
			cur = control.RealHealth{Up: true}
		}
		if cur != want {
			resync[rc.ref] = want
		}
	}
	if err := h.director.SetRealHealths(resync); err != nil {
		errs = append(errs, fmt.Errorf("apply health of %d reals: %w", len(resync), err))
	}
	return errors.Join(errs...)
}

// suspendLocked suspends the checkers of ha_suspend virtual servers whose
// VIP is not on this director and resumes the others, starting to follow
// the director's addresses when a virtual server first asks for it. A
// checker shared by a group's addresses runs while one of them is here.
func (h *healthChecker) suspendLocked(watch bool) error {
	if watch && h.local == nil {
		l, err := watchLocalAddrs(h.updateSuspension, h.log)
		if err != nil {
			return fmt.Errorf("ha_suspend: %w", err)
		}
		h.local = l
	}
	away := make(map[loader.Endpoint]bool)
	for name, rcs := range h.byTarget {
		suspend := h.local != nil
		for _, rc := range rcs {
			if !rc.vs.HASuspend || h.local.has(rc.vs.Addr) {
				suspend = false
			}
			if rc.vs.HASuspend && h.local != nil && !h.local.has(rc.vs.Addr) {
				away[rc.ref.Service] = true
			}
		}
		switch {
		case suspend && !h.suspended[name]:
			h.mon.Suspend(name)
		case !suspend && h.suspended[name]:
			h.mon.Resume(name)
		}
		if suspend {
			h.suspended[name] = true
		} else {
			delete(h.suspended, name)
		}
	}
	for name := range h.suspended {
		if h.byTarget[name] == nil {
			delete(h.suspended, name)
		}
	}
	for ep := range away {
		if !h.vipAway[ep] {
			h.log.Info(fmt.Sprintf("VS %s: the VIP is not on this director: its checkers are suspended (ha_suspend)", netip.AddrPortFrom(ep.Addr, ep.Port)))
		}
	}
	for ep := range h.vipAway {
		if !away[ep] {
			if _, still := h.conf.Load().services[ep]; still {
				h.log.Info(fmt.Sprintf("VS %s: the VIP is on this director: its checkers run again (ha_suspend)", netip.AddrPortFrom(ep.Addr, ep.Port)))
			}
		}
	}
	h.vipAway = away
	return nil
}

// updateSuspension follows a change of the director's addresses.
func (h *healthChecker) updateSuspension() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.suspendLocked(false) // the watch runs already: no error
}

// targetName names the n-th checker of kind of a real (who: "real
// 198.18.1.2:80 of VS 198.18.0.100:80", or "of group NAME"), stable across
// reloads as long as the real keeps it.
func targetName(who string, proto loader.Protocol, kind config.CheckKind, n int) string {
	name := who
	if proto == loader.ProtoUDP {
		name += "/UDP"
	}
	name += " " + kind.String()
	if n > 1 {
		name += fmt.Sprintf(" #%d", n)
	}
	return name
}

// health is what the real's checkers conclude together: up when all are
// up; the weight of the first dynamic checker that set one.
func (rc *realChecks) health() control.RealHealth {
	out := control.RealHealth{Up: true}
	for _, name := range rc.targets {
		cs := rc.state[name]
		if !cs.up {
			out.Up = false
		}
		if cs.weightSet && !out.WeightSet {
			out.Weight, out.WeightSet = cs.weight, true
		}
	}
	if !out.Up {
		out.Weight, out.WeightSet = 0, false // a down real's weight is the Director's to choose
	}
	return out
}

// weight is the weight the real runs with when up.
func (rc *realChecks) weight(h control.RealHealth) int {
	if h.WeightSet {
		return h.Weight
	}
	return rc.rs.Weight
}

// onEvent records a checker's change and queues its consequence for the
// flusher, so that a check worker never waits for the data plane. Calls
// are serialised by the Monitor.
func (h *healthChecker) onEvent(ev health.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rcs := h.byTarget[ev.Target]
	if len(rcs) == 0 {
		return // removed by a reload
	}
	cs := rcs[0].state[ev.Target]
	before := make([]control.RealHealth, len(rcs))
	for i, rc := range rcs {
		before[i] = rc.health()
	}
	cs.up = ev.Up
	cs.reason, cs.changed = ev.Reason, ev.Time
	if ev.WeightSet {
		cs.weight, cs.weightSet = ev.Weight, true
	}
	for i, rc := range rcs {
		// The reals of a group's addresses are one real server: its
		// notify script runs once.
		h.pending = append(h.pending, change{rc: rc, kind: cs.kind, ev: ev, before: before[i], after: rc.health(), notify: i == 0})
	}
	select {
	case h.flushSig <- struct{}{}:
	default:
	}
}

// flushLoop passes the pending changes to the Director, as one batch per
// apply: the changes that arrive while an apply runs go in the next one.
func (h *healthChecker) flushLoop() {
	defer close(h.flushDone)
	for {
		select {
		case <-h.flushSig:
			h.flush()
		case <-h.flushStop:
			h.flush()
			return
		}
	}
}

func (h *healthChecker) flush() {
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	h.mu.Lock()
	batch := h.pending
	h.pending = nil
	set := make(map[control.RealRef]control.RealHealth)
	for _, c := range batch {
		// A reload since has synced the Director with the checkers.
		if c.before != c.after && h.reals[c.rc.ref] == c.rc {
			set[c.rc.ref] = c.after
		}
	}
	h.mu.Unlock()
	if len(set) > 0 {
		if err := h.director.SetRealHealths(set); err != nil {
			h.log.Error(fmt.Sprintf("health of %d real(s) changed but the data plane was not updated", len(set)), "error", err.Error())
		}
	}
	for _, c := range batch {
		h.report(c)
	}
}

// report logs a real's change, now in the data plane, and runs its notify
// script.
func (h *healthChecker) report(c change) {
	rc, ev, before, after := c.rc, c.ev, c.before, c.after
	reason := ev.Reason
	if len(rc.targets) > 1 {
		reason = c.kind.String() + ": " + reason
	}
	if before == after {
		if len(rc.targets) == 1 {
			return // the Director knows already (a reload synced it)
		}
		// One of several checkers changed and the real did not.
		switch {
		case ev.Up:
			h.log.Info(fmt.Sprintf("%s: %s up, the real stays down: another checker fails", rc.ref, c.kind), "reason", ev.Reason)
		case !before.Up:
			h.log.Warn(fmt.Sprintf("%s: %s down too: %s", rc.ref, c.kind, ev.Reason))
		}
		return
	}
	inhibit := rc.rs.InhibitOnFailure
	switch {
	case before.Up && !after.Up:
		change := fmt.Sprintf("removed from the pool (weight was %d)", rc.weight(before))
		if inhibit {
			change = fmt.Sprintf("weight %d -> 0", rc.weight(before))
		}
		h.log.Warn(fmt.Sprintf("%s down: %s; %s", rc.ref, reason, change), "checker", c.kind.String())
	case !before.Up && after.Up:
		change := fmt.Sprintf("back in the pool with weight %d", rc.weight(after))
		if inhibit {
			change = fmt.Sprintf("weight 0 -> %d", rc.weight(after))
		}
		h.log.Info(fmt.Sprintf("%s up: %s; %s", rc.ref, reason, change), "checker", c.kind.String())
	default:
		h.log.Info(fmt.Sprintf("%s weight %d -> %d (misc_dynamic)", rc.ref, rc.weight(before), rc.weight(after)), "checker", c.kind.String())
	}
	if c.notify && before.Up != after.Up {
		h.notify(rc, after.Up, reason)
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// notify runs the real's notify_up or notify_down, in the background, in
// order per real.
func (h *healthChecker) notify(rc *realChecks, up bool, reason string) {
	s := rc.rs.NotifyDown
	if up {
		s = rc.rs.NotifyUp
	}
	if s == nil {
		return
	}
	conf := h.conf.Load()
	n := health.Notifier{}
	if up {
		n.Up = conf.script(s)
	} else {
		n.Down = conf.script(s)
	}
	ev := health.Event{Target: rc.who, Up: up, Reason: reason, Time: time.Now()}
	who := rc.who
	h.scripts.run(who, func() {
		if err := n.Notify(context.Background(), ev); err != nil {
			h.log.Warn(fmt.Sprintf("%s: notify_%s script failed", who, upDown(up)), "error", err.Error())
		}
	})
}

// onQuorum runs quorum_up or quorum_down. It is called with the Director's
// lock held (and maybe h.mu): it only queues the script.
func (h *healthChecker) onQuorum(ep loader.Endpoint, up bool) {
	h.qmu.Lock()
	h.quorumDown[ep] = !up
	h.qmu.Unlock()
	conf := h.conf.Load()
	if conf == nil {
		return
	}
	vs := conf.services[ep]
	if vs == nil {
		return
	}
	h.runQuorumScript(conf, vs, up, "")
}

func (h *healthChecker) runQuorumScript(conf *healthConf, vs *config.VirtualServer, up bool, why string) {
	s, which := vs.QuorumDown, "quorum_down"
	if up {
		s, which = vs.QuorumUp, "quorum_up"
	}
	if s == nil {
		return
	}
	sc := conf.script(s)
	sc.Env = []string{"XLB_VS=" + vs.AddrPort().String(), "XLB_STATE=" + map[bool]string{true: "UP", false: "DOWN"}[up]}
	if why != "" {
		sc.Env = append(sc.Env, "XLB_REASON="+why)
	}
	name := "VS " + vs.AddrPort().String()
	h.scripts.run("quorum "+name, func() {
		if err := sc.Run(context.Background()); err != nil {
			h.log.Warn(fmt.Sprintf("%s: %s script failed", name, which), "error", err.Error())
		}
	})
}

// omega runs, at shutdown, notify_down of every real that is up and
// quorum_down of every service that holds its quorum, for virtual servers
// with omega.
func (h *healthChecker) omega() {
	conf := h.conf.Load()
	if conf == nil {
		return
	}
	h.mu.Lock()
	var down []*realChecks
	seen := make(map[string]bool)
	for _, rc := range h.reals {
		if rc.vs.Omega && rc.rs.NotifyDown != nil && rc.health().Up && !seen[rc.who] {
			seen[rc.who] = true // once for all the addresses of a group
			down = append(down, rc)
		}
	}
	h.mu.Unlock()
	for _, rc := range down {
		h.notify(rc, false, "xlbd stopping (omega)")
	}
	h.qmu.Lock()
	defer h.qmu.Unlock()
	for ep, vs := range conf.services {
		if vs.Omega && !h.quorumDown[ep] {
			h.runQuorumScript(conf, vs, false, "xlbd stopping (omega)")
		}
	}
}

// script is s as health.Script, with the default user and the timeout.
func (c *healthConf) script(s *config.Script) health.Script {
	out := health.Script{Command: s.Cmd, User: s.User, Group: s.Group, Timeout: scriptTimeout}
	if out.User == "" {
		out.User, out.Group = c.user, c.group
	}
	return out
}

// scriptUser is the user and group of scripts that name none.
func scriptUser(g config.GlobalDefs) (string, string) {
	if g.ScriptUser != "" {
		return g.ScriptUser, g.ScriptGroup
	}
	if _, err := user.Lookup("keepalived_script"); err == nil {
		return "keepalived_script", ""
	}
	return "", "" // xlbd's own user
}

// newChecker builds the health checker and loop options of one checker
// block of who (a real); log is where log_all_failures writes.
func newChecker(who string, c *config.Check, conf *healthConf, tlsCfg *tls.Config, log *slog.Logger) (health.Checker, health.LoopOptions, error) {
	opts := health.LoopOptions{
		DelayLoop:        c.DelayLoop,
		ConnectTimeout:   c.ConnectTimeout,
		Retry:            c.Retry,
		DelayBeforeRetry: c.DelayBeforeRetry,
		Warmup:           c.Warmup,
		Alpha:            c.Alpha,
	}
	ep := health.Endpoint{
		Addr:     netip.AddrPortFrom(c.ConnectIP, c.ConnectPort),
		BindTo:   c.BindTo,
		BindPort: c.BindPort,
		BindIf:   c.BindIf,
	}
	var chk health.Checker
	switch c.Kind {
	case config.CheckHTTP, config.CheckSSL:
		g := health.HTTPGet{Endpoint: ep, VirtualHost: c.HTTP.VirtualHost, Protocol: health.HTTPProtocol(c.HTTP.Protocol)}
		for _, u := range c.HTTP.URLs {
			hu := health.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost, RegexNoMatch: u.RegexNoMatch}
			for _, r := range u.StatusCodes {
				hu.StatusCodes = append(hu.StatusCodes, health.StatusRange{Min: r.Min, Max: r.Max})
			}
			if u.Regex != "" {
				re, err := regexp.Compile(u.Regex)
				if err != nil {
					return nil, opts, fmt.Errorf("compile regex: %w", err)
				}
				hu.Regex = re
			}
			g.URLs = append(g.URLs, hu)
		}
		chk = &g
		if c.Kind == config.CheckSSL {
			tc := tlsCfg.Clone()
			if !c.HTTP.EnableSNI {
				// keepalived sends no server name without enable_sni;
				// Go sends none for an address.
				tc.ServerName = c.ConnectIP.String()
			}
			chk = &health.SSLGet{HTTPGet: g, TLSConfig: tc}
		}
	case config.CheckTCP:
		chk = &health.TCPCheck{Endpoint: ep}
	case config.CheckSMTP:
		chk = &health.SMTPCheck{Endpoint: ep, HeloName: c.SMTP.HeloName}
	case config.CheckDNS:
		typ, err := health.ParseDNSType(c.DNS.Type)
		if err != nil {
			return nil, opts, err
		}
		chk = &health.DNSCheck{Endpoint: ep, Type: typ, Name: c.DNS.Name}
	case config.CheckMisc:
		s := conf.script(c.Misc.Script)
		if _, err := health.SplitCommand(s.Command); err != nil {
			return nil, opts, err
		}
		chk = &health.MiscCheck{Path: s.Command, Timeout: c.Misc.Timeout, User: s.User, Group: s.Group, Dynamic: c.Misc.Dynamic}
		opts.ConnectTimeout = c.Misc.Timeout + miscSlack
	default:
		return nil, opts, fmt.Errorf("unknown checker kind %v", c.Kind)
	}
	if c.Kind != config.CheckMisc && !ep.Addr.Addr().IsValid() {
		return nil, opts, errors.New("no address to connect to")
	}
	if err := opts.Validate(); err != nil {
		return nil, opts, err
	}
	if c.LogAllFailures {
		inner := chk
		chk = health.CheckerFunc(func(ctx context.Context) (health.Result, error) {
			res, err := inner.Check(ctx)
			if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				log.Warn(fmt.Sprintf("%s: %s failed: %s", who, c.Kind, err))
			}
			return res, err
		})
	}
	return chk, opts, nil
}

// sslConfig is the TLS client configuration of SSL_GET from the SSL block:
// a client certificate, and a CA that turns verification on. Without a
// block the server's certificate is not verified, as in keepalived.
func sslConfig(s *config.SSL) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // keepalived's SSL_GET does not verify
	if s == nil {
		return tc, nil
	}
	if s.Certificate != "" {
		pair, err := loadKeyPair(s.Certificate, s.Key, s.Password)
		if err != nil {
			return nil, fmt.Errorf("load certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("read ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read ca %s: no PEM certificate", s.CA)
		}
		tc.RootCAs, tc.InsecureSkipVerify = pool, false
	}
	return tc, nil
}

// ErrInsecureScript is wrapped by scriptSecurity's refusals.
var ErrInsecureScript = errors.New("script could be changed by a user other than root (enable_script_security)")

// scriptSecurity checks, for enable_script_security, that only root can
// change the program of command: the file and every directory above it
// (symbolic links resolved) are owned by root and writable by no one else
// (group root aside; a sticky directory such as /tmp may be writable by
// all). The arguments are not checked: "/bin/sh -c '...'" is as safe as
// /bin/sh.
func scriptSecurity(command string) error {
	argv, err := health.SplitCommand(command)
	if err != nil {
		return err
	}
	prog := argv[0]
	if !filepath.IsAbs(prog) {
		if prog, err = exec.LookPath(prog); err != nil {
			return fmt.Errorf("check script %s: %w", argv[0], err)
		}
	}
	real, err := filepath.EvalSymlinks(prog)
	if err != nil {
		return fmt.Errorf("check script %s: %w", argv[0], err)
	}
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check script %s: %w", argv[0], err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("check script %s: no owner for %s", argv[0], p)
		}
		mode := fi.Mode()
		switch {
		case st.Uid != 0:
			return fmt.Errorf("%w: %s is owned by uid %d", ErrInsecureScript, p, st.Uid)
		case mode.Perm()&0o002 != 0 && !(fi.IsDir() && mode&os.ModeSticky != 0):
			return fmt.Errorf("%w: %s is writable by every user", ErrInsecureScript, p)
		case mode.Perm()&0o020 != 0 && st.Gid != 0 && !(fi.IsDir() && mode&os.ModeSticky != 0):
			return fmt.Errorf("%w: %s is writable by group %d", ErrInsecureScript, p, st.Gid)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// loadKeyPair loads a PEM certificate and its key (from keyFile, else from
// the certificate's file), decrypting a key encrypted with password in the
// legacy PEM form ("Proc-Type: 4,ENCRYPTED") keepalived's OpenSSL accepts.
func loadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if password != "" {
		var out []byte
		for rest := keyPEM; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			//lint:ignore SA1019 the legacy form is what keepalived users have
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
				der, err := x509.DecryptPEMBlock(b, []byte(password)) //nolint:staticcheck
				if err != nil {
					return tls.Certificate{}, fmt.Errorf("decrypt key %s: %w", keyFile, err)
				}
				b = &pem.Block{Type: b.Type, Bytes: der}
			}
			out = append(out, pem.EncodeToMemory(b)...)
		}
		keyPEM = out
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// scriptRunner runs scripts in the background, one at a time per key, in
// the order they were queued.
type scriptRunner struct {
	mu      sync.Mutex
	pending map[string][]func()
	wg      sync.WaitGroup
}

func (r *scriptRunner) run(key string, fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = make(map[string][]func())
	}
	if list, busy := r.pending[key]; busy {
		r.pending[key] = append(list, fn)
		return
	}
	r.pending[key] = nil // busy, nothing queued
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			fn()
			r.mu.Lock()
			list := r.pending[key]
			if len(list) == 0 {
				delete(r.pending, key)
				r.mu.Unlock()
				return
			}
			fn, r.pending[key] = list[0], list[1:]
			r.mu.Unlock()
		}
	}()
}

// wait returns when every queued script has run.
func (r *scriptRunner) wait() { r.wg.Wait() }
