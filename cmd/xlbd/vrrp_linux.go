package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/vrrp"
)

// The VRRP subsystem runs one vrrp.Instance per vrrp_instance and tells the
// Director which VIPs this director holds: the addresses of the instances
// in MASTER. Without any vrrp_instance it claims nothing (every VIP is
// served, as before VRRP). The Director is told from the instance's
// transition hook, which runs after the addresses are added and before the
// new master's first advert and gratuitous ARP: the services are in the
// data plane before any client is redirected here.

// notifyTimeout bounds a sync group notify program.
const notifyTimeout = 30 * time.Second

// vrrpSubsystem follows the vrrp_instance and vrrp_sync_group blocks.
type vrrpSubsystem struct {
	director *control.Director
	log      *slog.Logger

	mu    sync.Mutex
	units map[string]*vrrpUnit // by key
	// enabled: the config has vrrp_instance blocks, so only the VIPs of
	// masters are served.
	enabled bool
	// vips are the addresses each instance in MASTER holds.
	vips map[string][]netip.Addr
	// last is each instance's last transition, for Status.
	last map[string]lastTransition
}

type lastTransition struct {
	tr vrrp.Transition
	at time.Time
}

// vrrpUnit is what starts and stops together: one instance, or the members
// of a sync group.
type vrrpUnit struct {
	key   string
	spec  unitSpec
	group *groupNotifier
	insts []*vrrp.Instance

	cancel context.CancelFunc
	done   chan struct{}
}

// unitSpec is the configuration of a unit as the vrrp package takes it;
// a reload restarts a unit only when its spec changed.
type unitSpec struct {
	Group     string
	Instances []vrrp.Config // hooks and logger unset
	VIPs      [][]netip.Addr
	// GroupNotify holds the group's notify argv: notify_master,
	// notify_backup, notify_fault, notify_stop, notify.
	GroupNotify [5][]string
	// InitFiles are vrrp_track_file files created at start.
	InitFiles []initFile
}

type initFile struct {
	Path      string
	Value     int
	Overwrite bool
}

// startVRRP is the VRRP starter for startSubsystems.
func startVRRP(cfg *config.Config, director *control.Director, log *slog.Logger) (subsystem, error) {
	s := newVRRPSubsystem(director, log)
	specs, err := vrrpSpecs(cfg)
	if err != nil {
		return nil, fmt.Errorf("start VRRP: %w", err)
	}
	s.enabled = len(specs) > 0
	if err := s.setOwned(); err != nil {
		return nil, fmt.Errorf("start VRRP: %w", err)
	}
	warnUncoveredVIPs(cfg, log)
	var errs []error
	for _, key := range sortedKeys(specs) {
		if err := s.start(key, specs[key]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start VRRP: %w", err)
	}
	return s, nil
}

func newVRRPSubsystem(director *control.Director, log *slog.Logger) *vrrpSubsystem {
	return &vrrpSubsystem{
		director: director, log: log,
		units: map[string]*vrrpUnit{},
		vips:  map[string][]netip.Addr{},
		last:  map[string]lastTransition{},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Reload keeps the units whose configuration did not change running
// untouched, stops the removed and changed ones (a master sends priority 0
// and removes its addresses), then starts the new and changed ones.
func (s *vrrpSubsystem) Reload(cfg *config.Config) error {
	specs, err := vrrpSpecs(cfg)
	if err != nil {
		return fmt.Errorf("reload VRRP: %w", err)
	}
	s.mu.Lock()
	s.enabled = len(specs) > 0
	var stale []*vrrpUnit
	for key, u := range s.units {
		if spec, ok := specs[key]; !ok || !reflect.DeepEqual(spec, u.spec) {
			stale = append(stale, u)
		}
	}
	s.mu.Unlock()
	for _, u := range stale {
		s.log.Info("vrrp: configuration changed: restarting " + u.key)
		s.stopUnit(u)
	}
	if err := s.setOwned(); err != nil {
		return fmt.Errorf("reload VRRP: %w", err)
	}
	warnUncoveredVIPs(cfg, s.log)
	var errs []error
	for _, key := range sortedKeys(specs) {
		s.mu.Lock()
		_, running := s.units[key]
		s.mu.Unlock()
		if !running {
			if err := s.start(key, specs[key]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reload VRRP: %w", err)
	}
	return nil
}

// Stop stops every instance: masters send priority 0 and remove their
// addresses, and the Director is told that this director holds no VIP.
func (s *vrrpSubsystem) Stop() {
	s.mu.Lock()
	units := make([]*vrrpUnit, 0, len(s.units))
	for _, k := range sortedKeys(s.units) {
		units = append(units, s.units[k])
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(func() { s.stopUnit(u) })
	}
	wg.Wait()
}

func (s *vrrpSubsystem) stopUnit(u *vrrpUnit) {
	u.cancel()
	<-u.done
	s.mu.Lock()
	delete(s.units, u.key)
	for _, c := range u.spec.Instances {
		delete(s.vips, c.Name)
		delete(s.last, c.Name)
	}
	s.mu.Unlock()
	if u.group != nil {
		u.group.stop()
	}
}

// start creates a unit's instances (and sync group) and runs them.
func (s *vrrpSubsystem) start(key string, spec unitSpec) error {
	for _, f := range spec.InitFiles {
		if err := writeInitFile(f); err != nil {
			return fmt.Errorf("start %s: %w", key, err)
		}
	}
	u := &vrrpUnit{key: key, spec: spec, done: make(chan struct{})}
	if spec.Group != "" {
		u.group = &groupNotifier{name: spec.Group, argv: spec.GroupNotify, members: map[string]vrrp.State{}, log: s.log}
	}
	for i, c := range spec.Instances {
		c.Logger = s.log
		vips := spec.VIPs[i]
		c.OnTransition = func(tr vrrp.Transition) { s.transition(u, tr, vips) }
		in, err := vrrp.NewInstance(c)
		if err != nil {
			closeAll(u.insts)
			return fmt.Errorf("start vrrp_instance %s: %w", c.Name, err)
		}
		u.insts = append(u.insts, in)
		if u.group != nil {
			u.group.members[c.Name] = vrrp.StateInit
		}
	}
	if u.group != nil {
		if _, err := vrrp.NewSyncGroup(spec.Group, u.insts...); err != nil {
			closeAll(u.insts)
			return fmt.Errorf("start vrrp_sync_group %s: %w", spec.Group, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	s.mu.Lock()
	s.units[key] = u
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range u.insts {
		wg.Go(func() {
			if err := in.Run(ctx); err != nil {
				s.log.Error("vrrp: instance stopped", "unit", key, "error", err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(u.done)
	}()
	return nil
}

// vrrpStatus is one instance in `xlb vrrp` (docs/cli.md).
type vrrpStatus struct {
	Instance           string            `json:"instance"`
	SyncGroup          string            `json:"sync_group,omitempty"`
	Interface          string            `json:"interface"`
	VirtualRouterID    int               `json:"virtual_router_id"`
	Version            int               `json:"version"`
	State              string            `json:"state"`
	Priority           int               `json:"priority"`
	ConfiguredPriority int               `json:"configured_priority"`
	VirtualIPs         []string          `json:"virtual_ipaddress"`
	LastReason         string            `json:"last_reason,omitempty"`
	LastChange         *time.Time        `json:"last_change,omitempty"`
	AdvertsReceived    uint64            `json:"adverts_received"`
	AdvertsSent        uint64            `json:"adverts_sent"`
	Drops              map[string]uint64 `json:"drops,omitempty"`
}

// Status reports every instance, sorted by name, for `xlb vrrp`.
func (s *vrrpSubsystem) Status() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []vrrpStatus{}
	for _, key := range sortedKeys(s.units) {
		u := s.units[key]
		for i, in := range u.insts {
			c := u.spec.Instances[i]
			st := in.Stats()
			vs := vrrpStatus{
				Instance: c.Name, SyncGroup: u.spec.Group, Interface: c.Interface,
				VirtualRouterID: int(c.VRID), Version: c.Version,
				State: in.State().String(), Priority: int(in.Priority()), ConfiguredPriority: int(c.Priority),
				AdvertsReceived: st.Received, AdvertsSent: st.Sent,
			}
			for _, v := range append(slices.Clip(c.VIPs), c.ExcludedVIPs...) {
				vs.VirtualIPs = append(vs.VirtualIPs, v.Prefix.String())
			}
			if l, ok := s.last[c.Name]; ok {
				at := l.at
				vs.LastReason, vs.LastChange = l.tr.Reason, &at
			}
			for reason, n := range st.Drops {
				if vs.Drops == nil {
					vs.Drops = map[string]uint64{}
				}
				vs.Drops[reason.Error()] = n
			}
			out = append(out, vs)
		}
	}
	slices.SortFunc(out, func(a, b vrrpStatus) int { return strings.Compare(a.Instance, b.Instance) })
	return out
}

// closeAll releases instances that will not run.
func closeAll(insts []*vrrp.Instance) {
	for _, in := range insts {
		in.Close()
	}
}

// transition records an instance's new state and tells the Director which
// VIPs are held now. It runs in the instance's goroutine, before a new
// master announces itself.
func (s *vrrpSubsystem) transition(u *vrrpUnit, tr vrrp.Transition, vips []netip.Addr) {
	s.mu.Lock()
	s.last[tr.Instance] = lastTransition{tr: tr, at: time.Now()}
	if tr.To == vrrp.StateMaster {
		s.vips[tr.Instance] = vips
	} else {
		delete(s.vips, tr.Instance)
	}
	err := s.setOwnedLocked()
	s.mu.Unlock()
	if err != nil {
		s.log.Error("vrrp: cannot apply VIP ownership to the data plane", "instance", tr.Instance, "state", tr.To.String(), "error", err)
	}
	if u.group != nil {
		u.group.member(tr.Instance, tr.To)
	}
}

func (s *vrrpSubsystem) setOwned() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setOwnedLocked()
}

// setOwnedLocked hands the Director the VIPs of the instances in MASTER,
// or nil (every VIP) when no instance is configured. The lock is held
// while the Director applies, so that concurrent transitions apply in
// order.
func (s *vrrpSubsystem) setOwnedLocked() error {
	if !s.enabled {
		return s.director.SetOwnedVIPs(nil)
	}
	owned := []netip.Addr{}
	for _, name := range sortedKeys(s.vips) {
		owned = append(owned, s.vips[name]...)
	}
	return s.director.SetOwnedVIPs(owned)
}

// warnUncoveredVIPs says which virtual servers VRRP will never forward:
// with vrrp_instance blocks, only the addresses of a master instance are
// served.
func warnUncoveredVIPs(cfg *config.Config, log *slog.Logger) {
	if len(cfg.VRRPInstances) == 0 {
		return
	}
	covered := map[netip.Addr]bool{}
	for _, vi := range cfg.VRRPInstances {
		for _, ip := range append(slices.Clip(vi.VirtualIPs), vi.ExcludedIPs...) {
			covered[ip.Prefix.Addr()] = true
		}
	}
	for _, vs := range cfg.VirtualServers {
		if vs.Addr.IsValid() && !covered[vs.Addr] {
			log.Warn("vrrp: the address of this virtual_server is in no vrrp_instance's virtual_ipaddress: it is not forwarded while VRRP runs",
				"vs", netip.AddrPortFrom(vs.Addr, vs.Port).String(), "at", vs.Pos.String())
		}
	}
}

// vrrpSpecs turns the VRRP blocks of cfg into units, keyed
// "vrrp_instance NAME" or "vrrp_sync_group NAME".
func vrrpSpecs(cfg *config.Config) (map[string]unitSpec, error) {
	scripts := map[string]*config.VRRPScript{}
	for _, sc := range cfg.VRRPScripts {
		scripts[sc.Name] = sc
	}
	files := map[string]*config.VRRPTrackFile{}
	for _, f := range cfg.VRRPTrackFiles {
		files[f.Name] = f
	}
	procs := map[string]*config.VRRPTrackProcess{}
	for _, p := range cfg.VRRPTrackProcesses {
		procs[p.Name] = p
	}
	groups := map[string]*config.VRRPSyncGroup{}
	for _, g := range cfg.VRRPSyncGroups {
		groups[g.Name] = g
	}

	runAs := func(sc *config.Script) (*vrrp.RunAs, error) { return vrrpRunAs(cfg, sc, user.Lookup, user.LookupGroup) }
	out := map[string]unitSpec{}
	var errs []error
	for _, vi := range cfg.VRRPInstances {
		c, err := instanceConfig(cfg, vi)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Notify programs run as the user the first of them to name
		// one names, else as scripts that name none.
		var notifyUser *config.Script
		for _, n := range []*config.Script{vi.Notify, vi.NotifyMaster, vi.NotifyBackup, vi.NotifyFault, vi.NotifyStop} {
			if n != nil && (notifyUser == nil || notifyUser.User == "" && n.User != "") {
				notifyUser = n
			}
		}
		if notifyUser != nil {
			if c.NotifyRunAs, err = runAs(notifyUser); err != nil {
				errs = append(errs, fmt.Errorf("vrrp_instance %s (%s) notify: %w", vi.Name, vi.Pos, err))
				continue
			}
		}
		var inits []initFile
		var tr []vrrp.Tracker
		if !vi.DontTrackPrimary {
			// keepalived's default: the instance is in FAULT while
			// its interface is down.
			tr = append(tr, &vrrp.InterfaceTracker{Interface: c.Interface})
		}
		own, err := trackers(vi.TrackInterfaces, vi.TrackScripts, vi.TrackFiles, vi.TrackProcesses, scripts, files, procs, false, &inits, runAs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tr = append(tr, own...)
		key := "vrrp_instance " + vi.Name
		spec := unitSpec{}
		if g := groups[vi.SyncGroup]; g != nil {
			key = "vrrp_sync_group " + g.Name
			spec = out[key]
			spec.Group = g.Name
			spec.GroupNotify = [5][]string{args(g.NotifyMaster), args(g.NotifyBackup), args(g.NotifyFault), args(g.NotifyStop), args(g.Notify)}
			// The group's trackers fault every member (keepalived
			// ignores their weights in a group).
			grp, err := trackers(g.TrackInterfaces, g.TrackScripts, g.TrackFiles, g.TrackProcesses, scripts, files, procs, true, &inits, runAs)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			tr = append(tr, grp...)
		}
		c.Trackers = tr
		var vips []netip.Addr
		for _, v := range append(slices.Clip(c.VIPs), c.ExcludedVIPs...) {
			vips = append(vips, v.Prefix.Addr())
		}
		spec.Instances = append(spec.Instances, c)
		spec.VIPs = append(spec.VIPs, vips)
		for _, f := range inits {
			if !slices.Contains(spec.InitFiles, f) {
				spec.InitFiles = append(spec.InitFiles, f)
			}
		}
		out[key] = spec
	}
	return out, errors.Join(errs...)
}

// instanceConfig is the vrrp.Config of a vrrp_instance, without trackers.
func instanceConfig(cfg *config.Config, vi *config.VRRPInstance) (vrrp.Config, error) {
	c := vrrp.Config{
		Name:              vi.Name,
		Interface:         vi.Interface,
		VRID:              uint8(vi.VirtualRouterID),
		Priority:          uint8(vi.Priority),
		Version:           vi.Version,
		Interval:          vi.AdvertInt,
		NoPreempt:         vi.NoPreempt,
		PreemptDelay:      vi.PreemptDelay,
		Accept:            vi.Accept,
		SrcAddr:           vi.UnicastSrcIP,
		UnicastPeers:      vi.UnicastPeers,
		GARPMasterDelay:   vi.GARPMasterDelay,
		GARPMasterRepeat:  vi.GARPMasterRepeat,
		GARPMasterRefresh: vi.GARPMasterRefresh,
		GARPRefreshRepeat: vi.GARPMasterRefreshRepeat,
		NotifyMaster:      args(vi.NotifyMaster),
		NotifyBackup:      args(vi.NotifyBackup),
		NotifyFault:       args(vi.NotifyFault),
		NotifyStop:        args(vi.NotifyStop),
		Notify:            args(vi.Notify),
	}
	if c.Version == 0 {
		c.Version = config.DefaultVRRPVersion
	}
	// keepalived's garp_master_delay 0 means no second round; the vrrp
	// package's 0 means its default.
	if c.GARPMasterDelay == 0 {
		c.GARPMasterDelay = -1
	}
	if vi.AuthPass != "" {
		c.AuthType, c.AuthPass = vrrp.AuthPass, vi.AuthPass
	}
	c.Group = cfg.Global.VRRPMcastGroup4
	if vi.IPv6 {
		c.Group = cfg.Global.VRRPMcastGroup6
	}
	for _, ip := range vi.VirtualIPs {
		c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: ip.Prefix, Dev: ip.Dev, Label: ip.Label, Broadcast: ip.Brd, Scope: ip.Scope})
	}
	for _, ip := range vi.ExcludedIPs {
		c.ExcludedVIPs = append(c.ExcludedVIPs, vrrp.VIP{Prefix: ip.Prefix, Dev: ip.Dev, Label: ip.Label, Broadcast: ip.Brd, Scope: ip.Scope})
	}
	if c.Interface == "" && len(c.UnicastPeers) > 0 {
		ifname, err := interfaceToward(c.UnicastPeers[0])
		if err != nil {
			return c, fmt.Errorf("vrrp_instance %s (%s): no interface given: %w", vi.Name, vi.Pos, err)
		}
		c.Interface = ifname
	}
	return c, nil
}

// interfaceToward is the interface of the route to addr, as keepalived
// picks one for a unicast instance without interface.
func interfaceToward(addr netip.Addr) (string, error) {
	routes, err := netlink.RouteGet(addr.AsSlice())
	if err != nil || len(routes) == 0 {
		return "", fmt.Errorf("find route to unicast peer %s: %w", addr, errors.Join(err, errNoRoute))
	}
	ifi, err := net.InterfaceByIndex(routes[0].LinkIndex)
	if err != nil {
		return "", fmt.Errorf("find interface of route to %s: %w", addr, err)
	}
	return ifi.Name, nil
}

var errNoRoute = errors.New("no route")

// trackers builds the trackers of an instance or sync group; asFault gives
// every tracker weight 0 (fault), as keepalived does for a group's.
func trackers(ifs []*config.TrackInterface, sc, fi, pr []*config.Track,
	scripts map[string]*config.VRRPScript, files map[string]*config.VRRPTrackFile,
	procs map[string]*config.VRRPTrackProcess, asFault bool, inits *[]initFile,
	runAs func(*config.Script) (*vrrp.RunAs, error)) ([]vrrp.Tracker, error) {
	weight := func(w int) int {
		if asFault {
			return 0
		}
		return w
	}
	var out []vrrp.Tracker
	for _, t := range ifs {
		out = append(out, &vrrp.InterfaceTracker{Interface: t.Name, Weight: weight(t.Weight), Reverse: t.Reverse})
	}
	for _, t := range sc {
		s := scripts[t.Name]
		if s == nil {
			continue // the parser reports unknown names
		}
		as, err := runAs(s.Script)
		if err != nil {
			return nil, fmt.Errorf("vrrp_script %s (%s): %w", s.Name, s.Pos, err)
		}
		out = append(out, &vrrp.ScriptTracker{
			Script: t.Name, Args: s.Script.Args(), Interval: s.Interval, Timeout: s.Timeout,
			Rise: s.Rise, Fall: s.Fall, Weight: weight(t.Weight), Reverse: t.Reverse, InitFail: s.InitFail,
			RunAs: as,
		})
	}
	for _, t := range fi {
		f := files[t.Name]
		if f == nil {
			continue
		}
		out = append(out, &vrrp.FileTracker{Path: f.File, Weight: weight(t.Weight), Reverse: t.Reverse})
		if f.InitFile {
			*inits = append(*inits, initFile{Path: f.File, Value: f.InitValue, Overwrite: f.Overwrite})
		}
	}
	for _, t := range pr {
		p := procs[t.Name]
		if p == nil {
			continue
		}
		out = append(out, &vrrp.ProcessTracker{Process: p.Process, Args: p.Args, ParamMatch: p.ParamMatch,
			FullCommand: p.FullCommand, Quorum: p.Quorum, QuorumMax: p.QuorumMax,
			ForkDelay: p.ForkDelay, TerminateDelay: p.TerminateDelay,
			Weight: weight(t.Weight), Reverse: t.Reverse})
	}
	return out, nil
}

// vrrpRunAs is the user a VRRP script or notify program runs as, as
// keepalived picks it: the script's own user [group], else the default of
// scripts that name none (scriptUser: script_user, keepalived_script), else
// nil (xlbd's own user).
func vrrpRunAs(cfg *config.Config, sc *config.Script,
	lookup func(string) (*user.User, error), lookupGroup func(string) (*user.Group, error)) (*vrrp.RunAs, error) {
	name, group := scriptUser(cfg.Global)
	if sc != nil && sc.User != "" {
		name, group = sc.User, sc.Group
	}
	if name == "" {
		return nil, nil
	}
	u, err := lookup(name)
	if err != nil {
		return nil, fmt.Errorf("find script user %q: %w", name, err)
	}
	gid := u.Gid
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("find script group %q: %w", group, err)
		}
		gid = g.Gid
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("read ids of script user %q: %w", name, err)
	}
	return &vrrp.RunAs{UID: uint32(uid), GID: uint32(g)}, nil
}

// writeInitFile creates a vrrp_track_file's file (init_file).
func writeInitFile(f initFile) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !f.Overwrite {
		flags |= os.O_EXCL
	}
	fh, err := os.OpenFile(f.Path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create track file: %w", err)
	}
	_, err = fmt.Fprintf(fh, "%d\n", f.Value)
	return errors.Join(err, fh.Close())
}

func args(s *config.Script) []string {
	if s == nil {
		return nil
	}
	return s.Args()
}

// groupNotifier runs a sync group's notify programs when the group as a
// whole changes state: MASTER when every member is master, BACKUP when
// every member is backup, FAULT when any member is in fault.
type groupNotifier struct {
	name string
	argv [5][]string // master, backup, fault, stop, notify
	log  *slog.Logger

	mu      sync.Mutex
	members map[string]vrrp.State
	state   vrrp.State
}

func (g *groupNotifier) member(name string, st vrrp.State) {
	g.mu.Lock()
	g.members[name] = st
	next := g.state
	all := func(want vrrp.State) bool {
		for _, s := range g.members {
			if s != want {
				return false
			}
		}
		return true
	}
	switch {
	case slices.Contains(mapValues(g.members), vrrp.StateFault):
		next = vrrp.StateFault
	case all(vrrp.StateMaster):
		next = vrrp.StateMaster
	case all(vrrp.StateBackup):
		next = vrrp.StateBackup
	}
	changed := next != g.state && next != vrrp.StateInit
	g.state = next
	g.mu.Unlock()
	if !changed {
		return
	}
	g.log.Info("vrrp: sync group " + g.name + " is " + next.String())
	switch next {
	case vrrp.StateMaster:
		g.run(g.argv[0])
	case vrrp.StateBackup:
		g.run(g.argv[1])
	case vrrp.StateFault:
		g.run(g.argv[2])
	}
	g.runNotify(next.String())
}

func (g *groupNotifier) stop() {
	g.run(g.argv[3])
	g.runNotify("STOP")
}

func (g *groupNotifier) runNotify(state string) {
	if len(g.argv[4]) > 0 {
		g.run(append(slices.Clip(g.argv[4]), "GROUP", g.name, state, strconv.Itoa(0)))
	}
}

// run starts argv without a shell and without waiting, as keepalived does.
func (g *groupNotifier) run(argv []string) {
	if len(argv) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		cancel()
		g.log.Warn("vrrp: cannot run notify program", "group", g.name, "program", argv[0], "error", err)
		return
	}
	go func() {
		defer cancel()
		if err := cmd.Wait(); err != nil {
			g.log.Warn("vrrp: notify program failed", "group", g.name, "program", argv[0], "error", err)
		}
	}()
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// vrrpOwnedAtStart is the VIP ownership before VRRP runs: nil (every VIP)
// without vrrp_instance blocks, none with them, so that a director that
// will be BACKUP never serves a VIP while it starts.
func vrrpOwnedAtStart(cfg *config.Config) []netip.Addr {
	if len(cfg.VRRPInstances) == 0 {
		return nil
	}
	return []netip.Addr{}
}

// vrrp is the VRRP subsystem, or nil when none runs.
func (subs subsystems) vrrp() statusReporter {
	for _, s := range subs {
		if v, ok := s.(*vrrpSubsystem); ok {
			return v
		}
	}
	return nil
}
