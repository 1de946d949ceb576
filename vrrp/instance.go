package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// VIP is one virtual address: keepalived's "IP/LEN dev IF label L".
type VIP struct {
	Prefix netip.Prefix
	// Dev is the interface the address is added to; empty means the
	// instance's interface.
	Dev string
	// Label is the address label (Linux requires it to start with Dev).
	Label string
	// Broadcast is the IPv4 broadcast address (brd); invalid: none.
	Broadcast netip.Addr
	// Scope is "" (global), "site", "link", "host" or "nowhere".
	Scope string
}

// scopes are the address scopes a VIP may name, as rtnetlink numbers them.
var scopes = map[string]uint8{"": 0, "global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

// Config describes one VRRP instance (keepalived's vrrp_instance). Zero
// values take keepalived's defaults where it has them.
type Config struct {
	// Name is the instance name, used in logs and notify arguments.
	Name string
	// Interface carries the adverts.
	Interface string
	VRID      uint8
	// Priority is 1..255 (default 100).
	Priority uint8
	// Version is 2 or 3 (default 2, as keepalived's vrrp_version).
	Version int
	// Interval is advert_int (default 1s).
	Interval     time.Duration
	NoPreempt    bool
	PreemptDelay time.Duration
	// Accept (accept mode) lets a non-owner master accept packets for the
	// virtual addresses. Linux always accepts them once added; the flag
	// is kept for the daemon, which may filter when it is off.
	Accept bool
	// AuthType and AuthPass are version 2 authentication (auth_type PASS,
	// auth_pass); only the first 8 bytes of the password count.
	AuthType AuthType
	AuthPass string
	VIPs     []VIP
	// ExcludedVIPs are added, removed and announced with VIPs but not
	// carried in adverts (virtual_ipaddress_excluded); they may be of
	// either family.
	ExcludedVIPs []VIP
	// SrcAddr is the advert source (mcast_src_ip / unicast_src_ip).
	// Default: the interface's first IPv4 address, or for IPv6 its
	// link-local address.
	SrcAddr netip.Addr
	// UnicastPeers, when set, replace multicast: adverts go to each peer
	// and adverts from other sources are dropped (unicast_peer).
	UnicastPeers []netip.Addr
	// Group is the multicast group of the adverts (vrrp_mcast_group4/6);
	// invalid: 224.0.0.18 or ff02::12.
	Group netip.Addr
	// GARPMasterDelay is the delay before the second round of gratuitous
	// ARPs / NAs after becoming master (default 5s; negative: none).
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is how many are sent per round (default 5).
	GARPMasterRepeat int
	// GARPMasterRefresh, when positive, repeats announcements that often
	// while master, GARPRefreshRepeat (default 1) at a time.
	GARPMasterRefresh time.Duration
	GARPRefreshRepeat int
	// Notify, NotifyMaster, NotifyBackup, NotifyFault and NotifyStop are
	// argv of programs run (without a shell) on state changes. Notify
	// gets keepalived's 4 extra arguments: INSTANCE name state priority.
	Notify, NotifyMaster, NotifyBackup, NotifyFault, NotifyStop []string
	// NotifyRunAs is the user the notify programs run as; nil: the
	// daemon's.
	NotifyRunAs *RunAs
	// Trackers adjust the priority or force Fault.
	Trackers []Tracker
	// OnState, if set, is called (from the instance goroutine) after
	// every state change.
	OnState func(State)
	// OnTransition, if set, is called like OnState with the details of
	// the change. Both hooks run after the virtual addresses were added
	// (entering Master) or removed (leaving it), and before the new
	// master's first advert and gratuitous ARP / NA leave: a daemon that
	// programs a data plane in a hook forwards before any neighbour is
	// told to send it the traffic.
	OnTransition func(Transition)
	Logger       *slog.Logger
}

// Transition is one state change of an instance.
type Transition struct {
	Instance string
	From, To State
	// Priority is the effective priority at the change.
	Priority uint8
	// Reason says why, for a log line: "advert from 198.18.0.3 timed out".
	Reason string
}

// String renders the change as xlbd logs it:
// "VI_1 BACKUP -> MASTER (priority 100, advert from 198.18.0.3 timed out)".
func (t Transition) String() string {
	return fmt.Sprintf("%s %s -> %s (priority %d, %s)", t.Instance, t.From, t.To, t.Priority, t.Reason)
}

func (c *Config) setDefaults() {
	if c.Priority == 0 {
		c.Priority = 100
	}
	if c.Version == 0 {
		c.Version = 2
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.GARPMasterDelay == 0 {
		c.GARPMasterDelay = 5 * time.Second
	}
	if c.GARPMasterRepeat == 0 {
		c.GARPMasterRepeat = 5
	}
	if c.GARPRefreshRepeat == 0 {
		c.GARPRefreshRepeat = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	if c.VRID == 0 {
		return fmt.Errorf("virtual_router_id 0 (want 1..255): %w", ErrConfig)
	}
	if c.Version == 2 && c.AuthType == AuthAH {
		return fmt.Errorf("auth_type AH is not supported: %w", ErrConfig)
	}
	if c.Version == 3 && c.AuthType != AuthNone {
		return fmt.Errorf("authentication with VRRP version 3: %w", ErrConfig)
	}
	v6 := false
	for i, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			return fmt.Errorf("virtual address %d invalid: %w", i, ErrConfig)
		}
		if i == 0 {
			v6 = v.Prefix.Addr().Is6()
		} else if v.Prefix.Addr().Is6() != v6 {
			return fmt.Errorf("virtual addresses mix IPv4 and IPv6: %w", ErrConfig)
		}
	}
	for i, v := range c.ExcludedVIPs {
		if !v.Prefix.IsValid() {
			return fmt.Errorf("excluded virtual address %d invalid: %w", i, ErrConfig)
		}
	}
	for _, v := range append(slices.Clip(c.VIPs), c.ExcludedVIPs...) {
		if _, ok := scopes[v.Scope]; !ok {
			return fmt.Errorf("virtual address %v: scope %q: %w", v.Prefix, v.Scope, ErrConfig)
		}
		if v.Broadcast.IsValid() && (!v.Broadcast.Is4() || !v.Prefix.Addr().Is4()) {
			return fmt.Errorf("virtual address %v: broadcast %v: %w", v.Prefix, v.Broadcast, ErrConfig)
		}
	}
	if v6 && c.Version == 2 {
		return fmt.Errorf("IPv6 virtual addresses need VRRP version 3: %w", ErrConfig)
	}
	if c.SrcAddr.IsValid() && len(c.VIPs) > 0 && c.SrcAddr.Is6() != v6 {
		return fmt.Errorf("source address %v and virtual addresses differ in family: %w", c.SrcAddr, ErrConfig)
	}
	if c.Group.IsValid() && (!c.Group.IsMulticast() || len(c.VIPs) > 0 && c.Group.Is6() != v6) {
		return fmt.Errorf("multicast group %v for these virtual addresses: %w", c.Group, ErrConfig)
	}
	for _, p := range c.UnicastPeers {
		if p.Is6() != v6 && len(c.VIPs) > 0 {
			return fmt.Errorf("unicast peer %v and virtual addresses differ in family: %w", p, ErrConfig)
		}
	}
	return nil
}

// packet is one received IP datagram's VRRP payload and IP metadata.
type packet struct {
	data     []byte
	src, dst netip.Addr
	ttl      int
}

// conn sends and receives VRRP payloads; the Linux one is a raw IP socket.
type conn interface {
	// ReadPacket blocks for the next packet on the instance's interface.
	ReadPacket() (packet, error)
	WritePacket(b []byte, src, dst netip.Addr) error
	Close() error
}

// addrs adds, removes and announces the virtual addresses.
type addrs interface {
	AddVIPs([]VIP) error
	DelVIPs([]VIP) error
	// Announce sends one gratuitous ARP / unsolicited NA per address.
	Announce([]VIP) error
}

// Stats counts an instance's adverts. Drops are keyed by the sentinel
// error that rejected them (ErrBadTTL, ErrBadChecksum, ...).
type Stats struct {
	Received, Sent uint64
	Transitions    uint64
	// Overruns counts packets discarded because the instance fell behind.
	Overruns uint64
	Drops    map[error]uint64
}

// Instance runs one virtual router.
type Instance struct {
	cfg       Config
	log       *slog.Logger
	m         *Machine
	conn      conn
	addrs     addrs
	src       netip.Addr
	multicast bool
	mcast     netip.Addr
	auth      [8]byte
	now       func() time.Time

	track chan trackUpdate

	// Sync group membership: commands from the group arrive in syncQ
	// (ordered, never blocking the sender) with a wake-up on syncWake.
	group      *SyncGroup
	syncMu     sync.Mutex
	syncQ      []syncCmd
	syncWake   chan struct{}
	trackFault bool
	groupFault bool
	// faultWhy names what put the instance in Fault, for the log.
	faultWhy string

	mu    sync.Mutex
	state State
	prio  uint8
	stats Stats
}

func newInstance(cfg Config, c conn, a addrs, src netip.Addr) (*Instance, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := NewMachine(MachineConfig{
		Version: cfg.Version, Priority: cfg.Priority, Interval: cfg.Interval,
		NoPreempt: cfg.NoPreempt, PreemptDelay: cfg.PreemptDelay, LocalAddr: src,
	})
	if err != nil {
		return nil, err
	}
	in := &Instance{
		cfg: cfg, m: m, conn: c, addrs: a, src: src,
		log:       cfg.Logger.With("instance", cfg.Name, "vrid", cfg.VRID),
		multicast: len(cfg.UnicastPeers) == 0,
		mcast:     GroupV4,
		now:       time.Now,
		track:     make(chan trackUpdate, 16),
		syncWake:  make(chan struct{}, 1),
		prio:      cfg.Priority,
		stats:     Stats{Drops: map[error]uint64{}},
	}
	if src.Is6() {
		in.mcast = GroupV6
	}
	if cfg.Group.IsValid() {
		in.mcast = cfg.Group
	}
	if cfg.AuthType == AuthPass {
		in.auth = PassData(cfg.AuthPass)
	}
	return in, nil
}

// State returns the instance's current state.
func (in *Instance) State() State {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state
}

// Priority returns the effective priority.
func (in *Instance) Priority() uint8 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.prio
}

// Stats returns a copy of the counters.
func (in *Instance) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	s.Drops = make(map[error]uint64, len(in.stats.Drops))
	for k, v := range in.stats.Drops {
		s.Drops[k] = v
	}
	return s
}

var dropReasons = []error{ErrTooShort, ErrBadVersion, ErrBadType, ErrBadChecksum, ErrBadTTL,
	ErrAddrCount, ErrAuthMismatch, ErrIntervalMismatch, ErrFamily, ErrNoPseudoHeader,
	ErrUnknownSource, ErrVRID}

func (in *Instance) drop(err error) {
	reason := err
	for _, r := range dropReasons {
		if errors.Is(err, r) {
			reason = r
			break
		}
	}
	in.mu.Lock()
	in.stats.Drops[reason]++
	in.mu.Unlock()
	if !errors.Is(err, ErrVRID) {
		in.log.Debug("vrrp: advert dropped", "reason", err)
	}
}

// check validates one packet as RFC 5798 §7.1 asks, returning the advert
// or the reason to drop it. It never panics, whatever the input.
func (in *Instance) check(p packet) (*Advert, error) {
	if in.multicast {
		if p.ttl != TTL {
			return nil, fmt.Errorf("TTL %d from %v: %w", p.ttl, p.src, ErrBadTTL)
		}
	} else if !slices.Contains(in.cfg.UnicastPeers, p.src) {
		return nil, fmt.Errorf("source %v: %w", p.src, ErrUnknownSource)
	}
	a := &Advert{Src: p.src, Dst: p.dst}
	if err := a.UnmarshalBinary(p.data); err != nil {
		return nil, fmt.Errorf("parse advert from %v: %w", p.src, err)
	}
	if a.VRID != in.cfg.VRID {
		return nil, fmt.Errorf("VRID %d: %w", a.VRID, ErrVRID)
	}
	if a.Version != in.cfg.Version {
		return nil, fmt.Errorf("version %d from %v, configured %d: %w", a.Version, p.src, in.cfg.Version, ErrBadVersion)
	}
	if err := a.CheckAuth(in.cfg.AuthType, in.auth); err != nil {
		return nil, fmt.Errorf("check advert from %v: %w", p.src, err)
	}
	return a, nil
}

func (in *Instance) advert(prio uint8) Advert {
	a := Advert{
		Version: in.cfg.Version, VRID: in.cfg.VRID, Priority: prio,
		Interval: in.cfg.Interval, AuthType: in.cfg.AuthType, AuthData: in.auth,
		Src: in.src,
	}
	for _, v := range in.cfg.VIPs {
		a.Addresses = append(a.Addresses, v.Prefix.Addr())
	}
	return a
}

func (in *Instance) send(prio uint8) {
	dsts := in.cfg.UnicastPeers
	if in.multicast {
		dsts = []netip.Addr{in.mcast}
	}
	for _, d := range dsts {
		a := in.advert(prio)
		a.Dst = d
		b, err := a.MarshalBinary()
		if err == nil {
			err = in.conn.WritePacket(b, in.src, d)
		}
		if err != nil {
			in.log.Warn("vrrp: cannot send advert", "to", d, "err", err)
			continue
		}
		in.mu.Lock()
		in.stats.Sent++
		in.mu.Unlock()
	}
}

// Run runs the instance until ctx ends. Then a master sends priority 0 and
// the virtual addresses are removed. Run closes the socket before it
// returns; an Instance runs once.
func (in *Instance) Run(ctx context.Context) error {
	defer in.conn.Close()
	pkts := make(chan packet, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			p, err := in.conn.ReadPacket()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case pkts <- p:
			default: // the loop is behind; drop as a busy router would
				in.mu.Lock()
				in.stats.Overruns++
				in.mu.Unlock()
			}
		}
	}()

	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	trackers := newTrackerSet(in.cfg.Trackers)
	trackers.start(tctx, in.track)

	in.log.Info("vrrp: instance starting", "interface", in.cfg.Interface, "priority", in.cfg.Priority,
		"version", in.cfg.Version, "advert_int", in.cfg.Interval)
	var (
		lastHeal               time.Time
		last                   memberStatus
		wasMaster              bool
		garpRound, garpRefresh time.Time
	)
	// settle follows up on whatever the last event did: announcements on
	// becoming master, and the sync group.
	settle := func() {
		isMaster := in.m.State() == StateMaster
		switch {
		case isMaster && !wasMaster:
			in.announce(in.cfg.GARPMasterRepeat)
			if in.cfg.GARPMasterDelay > 0 {
				garpRound = in.now().Add(in.cfg.GARPMasterDelay)
			}
			if in.cfg.GARPMasterRefresh > 0 {
				garpRefresh = in.now().Add(in.cfg.GARPMasterRefresh)
			}
		case !isMaster:
			garpRound, garpRefresh = time.Time{}, time.Time{}
		}
		wasMaster = isMaster
		in.publish(&last)
	}
	in.do(in.m.Start(in.now()))
	settle()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := in.now()
		next := in.m.Next()
		for _, t := range []time.Time{garpRound, garpRefresh} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		timer.Reset(wait)

		select {
		case <-ctx.Done():
			in.do(in.m.Shutdown(in.now()))
			in.notifyStop()
			return nil
		case err := <-readErr:
			in.do(in.m.Shutdown(in.now()))
			return fmt.Errorf("receive adverts on %s: %w", in.cfg.Interface, err)
		case p := <-pkts:
			in.mu.Lock()
			in.stats.Received++
			in.mu.Unlock()
			a, err := in.check(p)
			if err != nil {
				in.drop(err)
				break
			}
			wasMaster := in.m.State() == StateMaster
			acts, err := in.m.Receive(in.now(), a)
			if err != nil {
				in.drop(err)
				break
			}
			in.do(acts)
			if wasMaster && in.m.State() == StateMaster && a.Priority != 0 {
				in.healSplit(a.Src, &lastHeal)
			}
		case u := <-in.track:
			trackers.update(u)
			in.applyTrackers(trackers, in.now())
		case <-in.syncWake:
			in.syncMu.Lock()
			q := in.syncQ
			in.syncQ = nil
			in.syncMu.Unlock()
			for _, c := range q {
				in.applySync(c)
			}
		case <-timer.C:
			now := in.now()
			in.do(in.m.Tick(now))
			if !garpRound.IsZero() && !now.Before(garpRound) {
				garpRound = time.Time{}
				in.announce(in.cfg.GARPMasterRepeat)
			}
			if !garpRefresh.IsZero() && !now.Before(garpRefresh) {
				garpRefresh = now.Add(in.cfg.GARPMasterRefresh)
				in.announce(in.cfg.GARPRefreshRepeat)
			}
		}
		settle()
	}
}

// healSplit handles an advert from another master that we outrank: a split
// brain is healing, and clients may have learnt the other master's MAC
// for our addresses meanwhile. The other master backs off on our advert;
// we announce the addresses again at once (keepalived does not, and such
// clients keep sending to a backup until their ARP entry expires). At most
// once per master down interval.
func (in *Instance) healSplit(from netip.Addr, last *time.Time) {
	now := in.now()
	if !last.IsZero() && now.Sub(*last) < in.m.MasterDownInterval() {
		return
	}
	*last = now
	in.log.Info("vrrp: "+in.cfg.Name+" another master at lower priority: announcing the addresses again", "other", from.String())
	in.announce(in.cfg.GARPMasterRepeat)
}

// Close releases an Instance that will not Run (its socket).
func (in *Instance) Close() error { return in.conn.Close() }

// post queues a sync group command for the run loop.
func (in *Instance) post(c syncCmd) {
	in.syncMu.Lock()
	in.syncQ = append(in.syncQ, c)
	in.syncMu.Unlock()
	select {
	case in.syncWake <- struct{}{}:
	default:
	}
}

func (in *Instance) applySync(c syncCmd) {
	now := in.now()
	switch c {
	case syncMaster:
		if in.m.WantsMaster() {
			in.log.Info("vrrp: sync group " + in.group.name + " agrees: becoming master")
			in.do(in.m.ForceMaster(now))
		}
	case syncBackup:
		if in.m.State() == StateMaster {
			in.log.Info("vrrp: sync group " + in.group.name + " member became backup: following")
			in.do(in.m.ForceBackup(now))
		}
	case syncFault, syncFaultClear:
		in.groupFault = c == syncFault
		if c == syncFault && !in.trackFault {
			in.faultWhy = "a member of sync group " + in.group.name + " is in fault"
		}
		in.do(in.m.SetFault(now, in.trackFault || in.groupFault))
	}
}

// publish tells the sync group about a change of this member's status.
func (in *Instance) publish(last *memberStatus) {
	if in.group == nil {
		return
	}
	cur := memberStatus{state: in.m.State(), want: in.m.WantsMaster(), ownFault: in.trackFault}
	if cur != *last {
		prev := *last
		*last = cur
		in.group.changed(in, prev, cur)
	}
}

func (in *Instance) applyTrackers(ts *trackerSet, now time.Time) {
	prio, fault := ts.effective(in.cfg.Priority)
	in.trackFault = fault
	if fault {
		in.faultWhy = ts.faultReason()
	}
	fault = fault || in.groupFault
	if prio != in.m.Priority() {
		in.log.Info("vrrp: effective priority changed", "from", in.m.Priority(), "to", prio)
		in.m.SetPriority(prio)
		in.mu.Lock()
		in.prio = prio
		in.mu.Unlock()
	}
	in.do(in.m.SetFault(now, fault))
}

// allVIPs are the announced and the excluded virtual addresses.
func (in *Instance) allVIPs() []VIP {
	return append(slices.Clip(in.cfg.VIPs), in.cfg.ExcludedVIPs...)
}

func (in *Instance) announce(n int) {
	for range n {
		if err := in.addrs.Announce(in.allVIPs()); err != nil {
			in.log.Warn("vrrp: cannot announce virtual addresses", "err", err)
			return
		}
	}
}

// do carries out a Machine's actions.
func (in *Instance) do(acts []Action) {
	for _, a := range acts {
		switch a.Kind {
		case ActionSend:
			in.send(a.Priority)
		case ActionTransition:
			reason := a.Reason
			if a.To == StateFault && in.faultWhy != "" {
				reason = in.faultWhy
			}
			in.transition(a.From, a.To, reason)
		}
	}
}

func (in *Instance) transition(from, to State, reason string) {
	tr := Transition{Instance: in.cfg.Name, From: from, To: to, Priority: in.m.Priority(), Reason: reason}
	if to == StateMaster {
		if err := in.addrs.AddVIPs(in.allVIPs()); err != nil {
			in.log.Error("vrrp: cannot add virtual addresses", "err", err)
		}
	}
	// Leaving Master, and on start-up as backup (a previous run may
	// have been killed as master and left them), the addresses go.
	if from == StateMaster || from == StateInit && to != StateMaster {
		if err := in.addrs.DelVIPs(in.allVIPs()); err != nil {
			in.log.Error("vrrp: cannot remove virtual addresses", "err", err)
		}
	}
	in.mu.Lock()
	in.state = to
	in.stats.Transitions++
	in.mu.Unlock()
	if to != StateInit {
		in.notify(to)
	}
	if in.cfg.OnState != nil {
		in.cfg.OnState(to)
	}
	if in.cfg.OnTransition != nil {
		in.cfg.OnTransition(tr)
	}
	// Logged once done: the addresses and the hooks' work are in place.
	in.log.Info("vrrp: " + tr.String())
}
