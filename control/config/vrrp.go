package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// VRRPState is the state a VRRP instance starts in.
type VRRPState uint8

const (
	// VRRPBackup waits for adverts before taking over; keepalived's
	// default.
	VRRPBackup VRRPState = iota
	// VRRPMaster takes over at start when no better master answers.
	VRRPMaster
)

// String returns "BACKUP" or "MASTER".
func (s VRRPState) String() string {
	switch s {
	case VRRPBackup:
		return "BACKUP"
	case VRRPMaster:
		return "MASTER"
	}
	return fmt.Sprintf("VRRPState(%d)", uint8(s))
}

// MarshalText returns String, for JSON and logs.
func (s VRRPState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// VRRP defaults, keepalived's.
const (
	DefaultVRRPPriority  = 100
	DefaultAdvertInt     = time.Second
	DefaultVRRPVersion   = 2
	DefaultGARPDelay     = 5 * time.Second
	DefaultGARPRepeat    = 5
	DefaultGARPRefreshes = 1
)

// VRRPInstance is a vrrp_instance block: one virtual router.
type VRRPInstance struct {
	Pos  Position
	Name string
	// State is the initial state (state MASTER|BACKUP, default BACKUP).
	State VRRPState
	// Interface carries the adverts and, by default, the virtual
	// addresses (interface). It may be empty with unicast peers.
	Interface string
	// VirtualRouterID is the VRID, 1..255 (virtual_router_id, required).
	VirtualRouterID int
	// Priority is 1..255, 255 meaning address owner (priority, default 100).
	Priority int
	// AdvertInt is the advert interval (advert_int, default 1s).
	AdvertInt time.Duration
	// Version is the VRRP version, 2 or 3 (version; default the global
	// vrrp_version; IPv6 instances always 3).
	Version int
	// IPv6 is true when the virtual addresses are IPv6.
	IPv6 bool
	// NoPreempt keeps a lower-priority master in place (nopreempt).
	NoPreempt bool
	// PreemptDelay delays preemption at start (preempt_delay, 0..1000s).
	PreemptDelay time.Duration
	// Accept makes a backup-priority master accept packets to the virtual
	// addresses (accept, the default; no_accept clears it).
	Accept bool
	// AuthPass is the VRRPv2 simple password (authentication { auth_type
	// PASS; auth_pass }), at most 8 bytes; empty: none.
	AuthPass string
	// VirtualIPs are added on becoming master (virtual_ipaddress) and
	// announced in adverts; ExcludedIPs are added but not announced
	// (virtual_ipaddress_excluded).
	VirtualIPs, ExcludedIPs []*VirtualIP
	// UnicastSrcIP is the advert source (unicast_src_ip, alias
	// mcast_src_ip); invalid: the interface's primary address.
	UnicastSrcIP netip.Addr
	// UnicastPeers receive adverts by unicast instead of multicast
	// (unicast_peer { IP... }).
	UnicastPeers []netip.Addr
	// DontTrackPrimary ignores faults of Interface (dont_track_primary).
	DontTrackPrimary bool

	TrackInterfaces []*TrackInterface
	// TrackScripts, TrackFiles and TrackProcesses name vrrp_script,
	// vrrp_track_file and vrrp_track_process blocks; a weight not written
	// is taken from the named block.
	TrackScripts, TrackFiles, TrackProcesses []*Track

	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop *Script
	// Notify runs on every transition with "INSTANCE" NAME STATE PRIORITY
	// appended (notify).
	Notify *Script

	// GARP settings; defaults from global_defs vrrp_garp_*.
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int

	// SyncGroup is the vrrp_sync_group the instance is in, "" if none.
	SyncGroup string
}

// VirtualIP is one address of virtual_ipaddress.
type VirtualIP struct {
	Pos Position
	// Prefix is the address with its prefix length (/32 or /128 when not
	// written).
	Prefix netip.Prefix
	Dev    string     // dev; empty: the instance's interface
	Label  string     // label (IPv4 alias name)
	Brd    netip.Addr // brd; invalid: none
	Scope  string     // scope site|link|host|nowhere|global; empty: global
}

// TrackInterface is an interface whose state changes the instance's
// priority (weight) or, with weight 0, faults it.
type TrackInterface struct {
	Pos     Position
	Name    string
	Weight  int
	Reverse bool
}

// Track is a reference from an instance or sync group to a vrrp_script,
// vrrp_track_file or vrrp_track_process block.
type Track struct {
	Pos     Position
	Name    string
	Weight  int  // the written weight, else the named block's
	Reverse bool // the written direction, else the named block's
}

// VRRPScript is a vrrp_script block: a program run every Interval whose
// exit status changes the priority of the instances that track it.
type VRRPScript struct {
	Pos    Position
	Name   string
	Script *Script // script, required; user sets its user
	// Interval between runs (interval, default 1s); Timeout kills a run
	// that takes longer (timeout, default Interval).
	Interval, Timeout time.Duration
	// Weight is added to the priority while the script succeeds (> 0) or
	// subtracted while it fails (< 0); 0 faults the instance on failure
	// (weight -253..253, default 0).
	Weight  int
	Reverse bool
	// Rise successes make it up, Fall failures down (default 1 each).
	Rise, Fall int
	// InitFail starts it as failed (init_fail).
	InitFail bool
}

// VRRPTrackFile is a vrrp_track_file (alias track_file) block: a file
// holding a number that, times Weight, changes the priority.
type VRRPTrackFile struct {
	Pos     Position
	Name    string
	File    string // file, required
	Weight  int    // weight, default 1
	Reverse bool
	// InitFile creates the file with InitValue at start (init_file
	// [VALUE] [overwrite]); Overwrite replaces an existing one.
	InitFile  bool
	InitValue int
	Overwrite bool
}

// VRRPTrackProcess is a vrrp_track_process block: a process whose
// presence changes the priority.
type VRRPTrackProcess struct {
	Pos  Position
	Name string
	// Process is the name matched (process NAME [ARGS...]); Args, if any,
	// must match the command line.
	Process string
	Args    []string
	// ParamMatch is "" (exact), "initial" or "partial" (param_match).
	ParamMatch string
	Weight     int // weight -254..254, default 1
	Reverse    bool
	// Quorum is the fewest matching processes for up (quorum, default 1);
	// QuorumMax the most (quorum_max; 0: no limit).
	Quorum, QuorumMax int
	// ForkDelay and TerminateDelay damp process restarts (fork_delay,
	// terminate_delay, or both with delay).
	ForkDelay, TerminateDelay time.Duration
	// FullCommand matches the whole command line (full_command).
	FullCommand bool
}

// VRRPSyncGroup is a vrrp_sync_group block: instances that change state
// together.
type VRRPSyncGroup struct {
	Pos       Position
	Name      string
	Instances []string // group { NAME... }, at least one

	TrackInterfaces                          []*TrackInterface
	TrackScripts, TrackFiles, TrackProcesses []*Track

	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify *Script
}

// vrrpUnsupported are keepalived vrrp_instance directives xlb does not
// implement.
var vrrpUnsupported = map[string]string{
	"use_vmac":                   "",
	"use_vmac_addr":              "",
	"vmac_xmit_base":             "",
	"use_ipvlan":                 "",
	"native_ipv6":                "the virtual_ipaddress family selects IPv6",
	"virtual_routes":             "",
	"virtual_rules":              "",
	"track_bfd":                  "use track_script or track_process",
	"mcast_dst_ip":               "",
	"smtp_alert":                 "use notify scripts",
	"strict_mode":                "",
	"notify_master_rx_lower_pri": "",
	"notify_deleted":             "",
	"notify_priority_changes":    "",
	"linkbeat_use_polling":       "",
	"kernel_rx_buf_size":         "",
	"old_unicast_checksum":       "",
	"lvs_sync_daemon_interface":  "",
}

func (d *decoder) vrrpInstance(n *node) {
	v := &VRRPInstance{
		Pos: n.pos, Priority: DefaultVRRPPriority, AdvertInt: DefaultAdvertInt, Accept: true,
		GARPMasterDelay: -1, GARPMasterRepeat: -1, GARPMasterRefresh: -1, GARPMasterRefreshRepeat: -1,
	}
	if d.nargs(n, 1, 1, "vrrp_instance NAME { ... }") {
		v.Name = n.args[0].text
	}
	var vridSet, versionSet bool
	var stateNode, nopreemptNode *node
	table := map[string]directive{
		"state": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "state MASTER|BACKUP") {
				return
			}
			switch strings.ToUpper(c.args[0].text) {
			case "MASTER":
				v.State = VRRPMaster
			case "BACKUP":
				v.State = VRRPBackup
			default:
				d.errorf(c.args[0].pos, "invalid state %q (want MASTER or BACKUP)", c.args[0].text)
			}
			stateNode = c
		}},
		"interface": d.ifNameDir(&v.Interface),
		"virtual_router_id": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "virtual_router_id 1..255") {
				return
			}
			if x, ok := d.int(c.args[0], "virtual_router_id", 1, 255); ok {
				v.VirtualRouterID, vridSet = int(x), true
			}
		}},
		"priority": d.intDir(&v.Priority, 1, 255),
		"advert_int": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "advert_int SECONDS") {
				return
			}
			x, ok := d.duration(c.args[0], "advert_int", 255*time.Second)
			if ok && x < 10*time.Millisecond {
				d.errorf(c.args[0].pos, "invalid advert_int %q (want at least 0.01 seconds)", c.args[0].text)
				return
			}
			if ok {
				v.AdvertInt = x
			}
		}},
		"version": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "version 2|3") {
				return
			}
			if x, ok := d.int(c.args[0], "version", 2, 3); ok {
				v.Version, versionSet = int(x), true
			}
		}},
		"nopreempt": {canon: "preempt", fn: func(c *node) {
			if d.nargs(c, 0, 0, "nopreempt") {
				v.NoPreempt, nopreemptNode = true, c
			}
		}},
		"preempt": {canon: "preempt", fn: func(c *node) {
			d.nargs(c, 0, 0, "preempt")
		}},
		"preempt_delay": d.durationDir(&v.PreemptDelay, 1000*time.Second),
		"accept": {canon: "accept", fn: func(c *node) {
			if d.nargs(c, 0, 0, "accept") {
				v.Accept = true
			}
		}},
		"no_accept": {canon: "accept", fn: func(c *node) {
			if d.nargs(c, 0, 0, "no_accept") {
				v.Accept = false
			}
		}},
		"authentication": {block: true, fn: func(c *node) { d.vrrpAuth(c, v) }},
		"virtual_ipaddress": {block: true, fn: func(c *node) {
			v.VirtualIPs = d.virtualIPs(c)
		}},
		"virtual_ipaddress_excluded": {block: true, fn: func(c *node) {
			v.ExcludedIPs = d.virtualIPs(c)
		}},
		"unicast_src_ip": {canon: "unicast_src_ip", fn: d.addrDir(&v.UnicastSrcIP).fn},
		"mcast_src_ip":   {canon: "unicast_src_ip", fn: d.addrDir(&v.UnicastSrcIP).fn},
		"unicast_peer": {block: true, fn: func(c *node) {
			d.nargs(c, 0, 0, "unicast_peer { IP... }")
			for _, e := range c.block {
				if e.hasBlock || len(e.args) > 0 {
					d.errorf(e.pos, "unicast_peer entries are one address each (min_ttl/max_ttl are not supported by xlb)")
					continue
				}
				if a, ok := d.addr(token{text: e.name, pos: e.pos}, "unicast_peer"); ok {
					v.UnicastPeers = append(v.UnicastPeers, a)
				}
			}
		}},
		"dont_track_primary": d.flagDir(&v.DontTrackPrimary),
		"track_interface": {block: true, fn: func(c *node) {
			v.TrackInterfaces = d.trackInterfaces(c)
		}},
		"track_script":               {block: true, fn: func(c *node) { v.TrackScripts = d.tracks(c, 253) }},
		"track_file":                 {block: true, fn: func(c *node) { v.TrackFiles = d.tracks(c, 254) }},
		"track_process":              {block: true, fn: func(c *node) { v.TrackProcesses = d.tracks(c, 254) }},
		"notify_master":              d.scriptDir(&v.NotifyMaster),
		"notify_backup":              d.scriptDir(&v.NotifyBackup),
		"notify_fault":               d.scriptDir(&v.NotifyFault),
		"notify_stop":                d.scriptDir(&v.NotifyStop),
		"notify":                     d.scriptDir(&v.Notify),
		"garp_master_delay":          d.durationDir(&v.GARPMasterDelay, 255*time.Second),
		"garp_master_repeat":         d.intDir(&v.GARPMasterRepeat, 1, 255),
		"garp_master_refresh":        d.durationDir(&v.GARPMasterRefresh, 86400*time.Second),
		"garp_master_refresh_repeat": d.intDir(&v.GARPMasterRefreshRepeat, 1, 255),
	}
	d.walk(n.block, "vrrp_instance", table, vrrpUnsupported)

	if !vridSet {
		d.errorf(n.pos, "vrrp_instance %s needs virtual_router_id", v.Name)
	}
	if v.Interface == "" && len(v.UnicastPeers) == 0 {
		d.errorf(n.pos, "vrrp_instance %s needs an interface (or unicast_peer)", v.Name)
	}
	if len(v.VirtualIPs) == 0 {
		d.errorf(n.pos, "vrrp_instance %s needs virtual_ipaddress", v.Name)
	} else {
		v.IPv6 = v.VirtualIPs[0].Prefix.Addr().Is6()
		for _, ip := range v.VirtualIPs[1:] {
			if ip.Prefix.Addr().Is6() != v.IPv6 {
				d.errorf(ip.Pos, "virtual_ipaddress %s is not of the family of %s; put other families in virtual_ipaddress_excluded", ip.Prefix, v.VirtualIPs[0].Prefix)
			}
		}
		fam := v.VirtualIPs[0].Prefix.Addr()
		if v.UnicastSrcIP.IsValid() && v.UnicastSrcIP.Is6() != v.IPv6 {
			d.errorf(n.pos, "unicast_src_ip %s is %s but the virtual addresses are %s", v.UnicastSrcIP, family(v.UnicastSrcIP), family(fam))
		}
		for _, p := range v.UnicastPeers {
			if p.Is6() != v.IPv6 {
				d.errorf(n.pos, "unicast_peer %s is %s but the virtual addresses are %s", p, family(p), family(fam))
			}
		}
	}
	if v.IPv6 {
		if versionSet && v.Version == 2 {
			d.errorf(n.pos, "vrrp_instance %s has IPv6 addresses, which need version 3", v.Name)
		}
		v.Version = 3
	}
	if v.NoPreempt && v.State == VRRPMaster {
		d.errorf(nopreemptNode.pos, "nopreempt needs state BACKUP (state MASTER at %s)", stateNode.pos)
	}
	d.cfg.VRRPInstances = append(d.cfg.VRRPInstances, v)
}

func (d *decoder) ifNameDir(p *string) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" IFNAME") {
			return
		}
		if !validIfName(c.args[0].text) {
			d.errorf(c.args[0].pos, "invalid interface name %q in %s", c.args[0].text, c.name)
			return
		}
		*p = c.args[0].text
	}}
}

func (d *decoder) vrrpAuth(n *node, v *VRRPInstance) {
	d.nargs(n, 0, 0, "authentication { ... }")
	var typ, pass *node
	typeSeen, passSeen := false, false
	table := map[string]directive{
		"auth_type": {fn: func(c *node) {
			typeSeen = true
			if !d.nargs(c, 1, 1, "auth_type PASS") {
				return
			}
			switch strings.ToUpper(c.args[0].text) {
			case "PASS":
				typ = c
			case "AH":
				d.errorf(c.args[0].pos, "auth_type AH is not supported by xlb; use PASS or none")
			default:
				d.errorf(c.args[0].pos, "invalid auth_type %q (want PASS)", c.args[0].text)
			}
		}},
		"auth_pass": {fn: func(c *node) {
			passSeen = true
			if !d.nargs(c, 1, 1, "auth_pass PASSWORD") {
				return
			}
			if len(c.args[0].text) > 8 {
				d.errorf(c.args[0].pos, "auth_pass is longer than 8 characters; VRRP uses only the first 8, write those")
				return
			}
			pass = c
		}},
	}
	d.walk(n.block, "authentication", table, nil)
	switch {
	case typ != nil && pass == nil && !passSeen:
		d.errorf(n.pos, "authentication needs auth_pass")
	case typ == nil && pass != nil && !typeSeen:
		d.errorf(n.pos, "authentication needs auth_type PASS")
	case pass != nil:
		v.AuthPass = pass.args[0].text
	}
}

// virtualIPs decodes the entries of virtual_ipaddress(_excluded):
// IP[/LEN] [brd IP] [dev IF] [scope SCOPE] [label LABEL].
func (d *decoder) virtualIPs(n *node) []*VirtualIP {
	d.nargs(n, 0, 0, n.name+" { ... }")
	var out []*VirtualIP
	seen := map[netip.Addr]Position{}
	for _, e := range n.block {
		if e.hasBlock {
			d.errorf(e.open, "%s entries do not take a { } block", n.name)
			continue
		}
		ip := &VirtualIP{Pos: e.pos}
		var err error
		if strings.Contains(e.name, "/") {
			ip.Prefix, err = netip.ParsePrefix(e.name)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(e.name)
			ip.Prefix = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil || ip.Prefix.Addr().Zone() != "" {
			d.errorf(e.pos, "invalid address %q in %s (want IP or IP/LEN)", e.name, n.name)
			continue
		}
		ok := true
		for i := 0; i < len(e.args); i += 2 {
			opt := e.args[i]
			if i+1 >= len(e.args) {
				switch opt.text {
				case "brd", "dev", "scope", "label":
					d.errorf(opt.pos, "missing value after %s in %s", opt.text, n.name)
				default:
					d.errorf(opt.pos, "option %q of %s is not supported by xlb (want brd, dev, scope or label)", opt.text, n.name)
				}
				ok = false
				break
			}
			val := e.args[i+1]
			switch opt.text {
			case "brd":
				a, aok := d.addr(val, n.name+" brd")
				ip.Brd, ok = a, ok && aok
			case "dev":
				if !validIfName(val.text) {
					d.errorf(val.pos, "invalid interface name %q in %s", val.text, n.name)
					ok = false
				}
				ip.Dev = val.text
			case "scope":
				switch val.text {
				case "site", "link", "host", "nowhere", "global":
					ip.Scope = val.text
				default:
					d.errorf(val.pos, "invalid scope %q (want site, link, host, nowhere or global)", val.text)
					ok = false
				}
			case "label":
				ip.Label = val.text
			default:
				d.errorf(opt.pos, "option %q of %s is not supported by xlb (want brd, dev, scope or label)", opt.text, n.name)
				ok = false
			}
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		if first, dup := seen[ip.Prefix.Addr()]; dup {
			d.errorf(e.pos, "%s listed twice in %s (first at %s)", ip.Prefix.Addr(), n.name, first)
			continue
		}
		seen[ip.Prefix.Addr()] = e.pos
		out = append(out, ip)
	}
	return out
}

// trackInterfaces decodes track_interface { IF [weight W [reverse]] }.
func (d *decoder) trackInterfaces(n *node) []*TrackInterface {
	d.nargs(n, 0, 0, "track_interface { ... }")
	var out []*TrackInterface
	for _, e := range n.block {
		if e.hasBlock {
			d.errorf(e.open, "track_interface entries do not take a { } block")
			continue
		}
		if !validIfName(e.name) {
			d.errorf(e.pos, "invalid interface name %q in track_interface", e.name)
			continue
		}
		t := &TrackInterface{Pos: e.pos, Name: e.name}
		w, rev, _, ok := d.trackWeight(e, 253)
		if !ok {
			continue
		}
		t.Weight, t.Reverse = w, rev
		out = append(out, t)
	}
	return out
}

// tracks decodes track_script/track_file/track_process { NAME [weight W
// [reverse|noreverse]] }. Unwritten weights are filled in by resolveTracks.
func (d *decoder) tracks(n *node, max int) []*Track {
	d.nargs(n, 0, 0, n.name+" { ... }")
	var out []*Track
	for _, e := range n.block {
		if e.hasBlock {
			d.errorf(e.open, "%s entries do not take a { } block", n.name)
			continue
		}
		w, rev, set, ok := d.trackWeight(e, max)
		if !ok {
			continue
		}
		t := &Track{Pos: e.pos, Name: e.name, Weight: w, Reverse: rev}
		if !set {
			t.Weight = unsetWeight
		}
		out = append(out, t)
	}
	return out
}

// unsetWeight marks a track whose weight comes from the named block.
const unsetWeight = -1 << 31

// trackWeight parses "[weight W [reverse|noreverse|no_reverse]]" after an
// entry name.
func (d *decoder) trackWeight(e *node, max int) (w int, reverse, set, ok bool) {
	if len(e.args) == 0 {
		return 0, false, false, true
	}
	if e.args[0].text != "weight" || len(e.args) < 2 {
		d.errorf(e.args[0].pos, "unexpected %q after %s (usage: NAME [weight W [reverse]])", e.args[0].text, e.name)
		return 0, false, false, false
	}
	x, ok := d.int(e.args[1], "weight", int64(-max), int64(max))
	if !ok {
		return 0, false, false, false
	}
	if len(e.args) > 2 {
		switch e.args[2].text {
		case "reverse":
			reverse = true
		case "noreverse", "no_reverse":
		default:
			d.errorf(e.args[2].pos, "unexpected %q after weight (want reverse or noreverse)", e.args[2].text)
			return 0, false, false, false
		}
	}
	if len(e.args) > 3 {
		d.errorf(e.args[3].pos, "too many arguments in %s entry (usage: NAME [weight W [reverse]])", e.name)
		return 0, false, false, false
	}
	return int(x), reverse, true, true
}

// weightDir decodes `weight W [reverse]` of tracking blocks.
func (d *decoder) weightDir(w *int, rev *bool, min, max int64) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 2, "weight N [reverse]") {
			return
		}
		x, ok := d.int(c.args[0], "weight", min, max)
		if !ok {
			return
		}
		*w = int(x)
		if len(c.args) == 2 {
			if c.args[1].text != "reverse" {
				d.errorf(c.args[1].pos, "unexpected %q after weight (want reverse)", c.args[1].text)
				return
			}
			*rev = true
		}
	}}
}

func (d *decoder) vrrpScript(n *node) {
	s := &VRRPScript{Pos: n.pos, Interval: time.Second, Rise: 1, Fall: 1}
	if d.nargs(n, 1, 1, "vrrp_script NAME { ... }") {
		s.Name = n.args[0].text
	}
	var user *node
	var timeoutSet bool
	table := map[string]directive{
		"script": {fn: func(c *node) {
			if d.nargs(c, 1, 1, "script COMMAND") {
				s.Script = &Script{Pos: c.pos, Cmd: c.args[0].text}
			}
		}},
		"interval": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "interval SECONDS") {
				return
			}
			if x, ok := d.int(c.args[0], "interval", 1, 86400); ok {
				s.Interval = secs(x)
			}
		}},
		"timeout": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "timeout SECONDS") {
				return
			}
			if x, ok := d.int(c.args[0], "timeout", 1, 86400); ok {
				s.Timeout, timeoutSet = secs(x), true
			}
		}},
		"weight":    d.weightDir(&s.Weight, &s.Reverse, -253, 253),
		"rise":      d.intDir(&s.Rise, 1, 1<<31-1),
		"fall":      d.intDir(&s.Fall, 1, 1<<31-1),
		"init_fail": d.flagDir(&s.InitFail),
		"user": {fn: func(c *node) {
			if d.nargs(c, 1, 2, "user USER [GROUP]") {
				user = c
			}
		}},
	}
	d.walk(n.block, "vrrp_script", table, nil)
	if !timeoutSet {
		s.Timeout = s.Interval
	}
	if s.Script == nil {
		d.errorf(n.pos, "vrrp_script %s needs script", s.Name)
		return
	}
	if user != nil {
		s.Script.User = user.args[0].text
		if len(user.args) > 1 {
			s.Script.Group = user.args[1].text
		}
	}
	d.cfg.VRRPScripts = append(d.cfg.VRRPScripts, s)
}

func (d *decoder) vrrpTrackFile(n *node) {
	f := &VRRPTrackFile{Pos: n.pos, Weight: 1}
	if d.nargs(n, 1, 1, n.name+" NAME { ... }") {
		f.Name = n.args[0].text
	}
	table := map[string]directive{
		"file":   d.stringDir(&f.File),
		"weight": d.weightDir(&f.Weight, &f.Reverse, -(1<<31 - 1), 1<<31-1),
		"init_file": {fn: func(c *node) {
			if !d.nargs(c, 0, 2, "init_file [VALUE] [overwrite]") {
				return
			}
			f.InitFile = true
			for _, a := range c.args {
				if a.text == "overwrite" {
					f.Overwrite = true
					continue
				}
				if x, ok := d.int(a, "init_file value", -(1 << 31), 1<<31-1); ok {
					f.InitValue = int(x)
				}
			}
		}},
	}
	d.walk(n.block, n.name, table, nil)
	if f.File == "" {
		d.errorf(n.pos, "%s %s needs file", n.name, f.Name)
		return
	}
	d.cfg.VRRPTrackFiles = append(d.cfg.VRRPTrackFiles, f)
}

func (d *decoder) vrrpTrackProcess(n *node) {
	p := &VRRPTrackProcess{Pos: n.pos, Weight: 1, Quorum: 1}
	if d.nargs(n, 1, 1, "vrrp_track_process NAME { ... }") {
		p.Name = n.args[0].text
	}
	var quorumMaxSet bool
	table := map[string]directive{
		"process": {fn: func(c *node) {
			if !d.nargs(c, 1, -1, "process NAME [ARGS...]") {
				return
			}
			p.Process = c.args[0].text
			for _, a := range c.args[1:] {
				p.Args = append(p.Args, a.text)
			}
		}},
		"param_match": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "param_match initial|partial") {
				return
			}
			switch c.args[0].text {
			case "initial", "partial":
				p.ParamMatch = c.args[0].text
			default:
				d.errorf(c.args[0].pos, "invalid param_match %q (want initial or partial)", c.args[0].text)
			}
		}},
		"weight": d.weightDir(&p.Weight, &p.Reverse, -254, 254),
		"quorum": d.intDir(&p.Quorum, 1, 1<<31-1),
		"quorum_max": {fn: func(c *node) {
			d.intDir(&p.QuorumMax, 0, 1<<31-1).fn(c)
			quorumMaxSet = true
		}},
		"fork_delay":      d.durationDir(&p.ForkDelay, maxTimer),
		"terminate_delay": d.durationDir(&p.TerminateDelay, maxTimer),
		"delay": {fn: func(c *node) {
			d.durationDir(&p.ForkDelay, maxTimer).fn(c)
			p.TerminateDelay = p.ForkDelay
		}},
		"full_command": d.flagDir(&p.FullCommand),
	}
	d.walk(n.block, "vrrp_track_process", table, nil)
	if p.Process == "" {
		d.errorf(n.pos, "vrrp_track_process %s needs process", p.Name)
		return
	}
	if quorumMaxSet && p.QuorumMax < p.Quorum {
		d.errorf(n.pos, "quorum_max %d is below quorum %d", p.QuorumMax, p.Quorum)
	}
	d.cfg.VRRPTrackProcesses = append(d.cfg.VRRPTrackProcesses, p)
}

func (d *decoder) vrrpSyncGroup(n *node) {
	g := &VRRPSyncGroup{Pos: n.pos}
	if d.nargs(n, 1, 1, "vrrp_sync_group NAME { ... }") {
		g.Name = n.args[0].text
	}
	table := map[string]directive{
		"group": {block: true, fn: func(c *node) {
			d.nargs(c, 0, 0, "group { INSTANCE... }")
			for _, e := range c.block {
				if e.hasBlock || len(e.args) > 0 {
					d.errorf(e.pos, "group entries are one vrrp_instance name per line")
					continue
				}
				g.Instances = append(g.Instances, e.name)
			}
		}},
		"track_interface": {block: true, fn: func(c *node) { g.TrackInterfaces = d.trackInterfaces(c) }},
		"track_script":    {block: true, fn: func(c *node) { g.TrackScripts = d.tracks(c, 253) }},
		"track_file":      {block: true, fn: func(c *node) { g.TrackFiles = d.tracks(c, 254) }},
		"track_process":   {block: true, fn: func(c *node) { g.TrackProcesses = d.tracks(c, 254) }},
		"notify_master":   d.scriptDir(&g.NotifyMaster),
		"notify_backup":   d.scriptDir(&g.NotifyBackup),
		"notify_fault":    d.scriptDir(&g.NotifyFault),
		"notify_stop":     d.scriptDir(&g.NotifyStop),
		"notify":          d.scriptDir(&g.Notify),
	}
	unsupported := map[string]string{
		"track_bfd":                  "use track_script or track_process",
		"smtp_alert":                 "use notify scripts",
		"global_tracking":            "use track_* blocks in the vrrp_sync_group",
		"sync_group_tracking_weight": "",
		"notify_priority_changes":    "",
		"notify_deleted":             "",
	}
	d.walk(n.block, "vrrp_sync_group", table, unsupported)
	if len(g.Instances) == 0 {
		d.errorf(n.pos, "vrrp_sync_group %s needs group { INSTANCE... }", g.Name)
		return
	}
	d.cfg.VRRPSyncGroups = append(d.cfg.VRRPSyncGroups, g)
}

// checkVRRP resolves names between VRRP blocks and reports what needs the
// whole file: unknown or duplicate names, and virtual routers that clash.
func (d *decoder) checkVRRP() {
	g := &d.cfg.Global
	scripts := map[string]*VRRPScript{}
	for _, s := range d.cfg.VRRPScripts {
		if first := scripts[s.Name]; first != nil {
			d.errorf(s.Pos, "duplicate vrrp_script %s (first at %s)", s.Name, first.Pos)
		}
		scripts[s.Name] = s
	}
	files := map[string]*VRRPTrackFile{}
	for _, f := range d.cfg.VRRPTrackFiles {
		if first := files[f.Name]; first != nil {
			d.errorf(f.Pos, "duplicate vrrp_track_file %s (first at %s)", f.Name, first.Pos)
		}
		files[f.Name] = f
	}
	procs := map[string]*VRRPTrackProcess{}
	for _, p := range d.cfg.VRRPTrackProcesses {
		if first := procs[p.Name]; first != nil {
			d.errorf(p.Pos, "duplicate vrrp_track_process %s (first at %s)", p.Name, first.Pos)
		}
		procs[p.Name] = p
	}
	resolve := func(ts []*Track) {
		for _, t := range ts {
			if t.Weight == unsetWeight {
				t.Weight = 0
			}
		}
	}
	resolveAll := func(sc, fi, pr []*Track) {
		for _, t := range sc {
			s := scripts[t.Name]
			if s == nil {
				d.errorf(t.Pos, "unknown vrrp_script %q in track_script", t.Name)
			} else if t.Weight == unsetWeight {
				t.Weight, t.Reverse = s.Weight, s.Reverse
			}
		}
		for _, t := range fi {
			f := files[t.Name]
			if f == nil {
				d.errorf(t.Pos, "unknown vrrp_track_file %q in track_file", t.Name)
			} else if t.Weight == unsetWeight {
				t.Weight, t.Reverse = f.Weight, f.Reverse
			}
		}
		for _, t := range pr {
			p := procs[t.Name]
			if p == nil {
				d.errorf(t.Pos, "unknown vrrp_track_process %q in track_process", t.Name)
			} else if t.Weight == unsetWeight {
				t.Weight, t.Reverse = p.Weight, p.Reverse
			}
		}
		resolve(sc)
		resolve(fi)
		resolve(pr)
	}

	instances := map[string]*VRRPInstance{}
	type routerKey struct {
		ifname string
		vrid   int
		ipv6   bool
	}
	routers := map[routerKey]*VRRPInstance{}
	for _, v := range d.cfg.VRRPInstances {
		if first := instances[v.Name]; first != nil {
			d.errorf(v.Pos, "duplicate vrrp_instance %s (first at %s)", v.Name, first.Pos)
		}
		instances[v.Name] = v
		if v.Version == 0 {
			v.Version = g.VRRPVersion
		}
		if v.AuthPass != "" && v.Version == 3 {
			d.errorf(v.Pos, "authentication is VRRPv2 only; vrrp_instance %s runs version 3", v.Name)
		}
		if v.GARPMasterDelay < 0 {
			v.GARPMasterDelay = g.VRRPGARPMasterDelay
		}
		if v.GARPMasterRepeat < 0 {
			v.GARPMasterRepeat = g.VRRPGARPMasterRepeat
		}
		if v.GARPMasterRefresh < 0 {
			v.GARPMasterRefresh = g.VRRPGARPMasterRefresh
		}
		if v.GARPMasterRefreshRepeat < 0 {
			v.GARPMasterRefreshRepeat = g.VRRPGARPMasterRefreshRepeat
		}
		resolveAll(v.TrackScripts, v.TrackFiles, v.TrackProcesses)
		if v.VirtualRouterID != 0 && len(v.UnicastPeers) == 0 {
			k := routerKey{v.Interface, v.VirtualRouterID, v.IPv6}
			if first := routers[k]; first != nil {
				d.errorf(v.Pos, "vrrp_instance %s uses virtual_router_id %d on %s like vrrp_instance %s (at %s)",
					v.Name, v.VirtualRouterID, v.Interface, first.Name, first.Pos)
			} else {
				routers[k] = v
			}
		}
	}
	for _, sg := range d.cfg.VRRPSyncGroups {
		resolveAll(sg.TrackScripts, sg.TrackFiles, sg.TrackProcesses)
		for _, name := range sg.Instances {
			v := instances[name]
			switch {
			case v == nil:
				d.errorf(sg.Pos, "unknown vrrp_instance %q in vrrp_sync_group %s", name, sg.Name)
			case v.SyncGroup != "":
				d.errorf(sg.Pos, "vrrp_instance %s is already in vrrp_sync_group %s", name, v.SyncGroup)
			default:
				v.SyncGroup = sg.Name
				d.syncWeights(v, sg)
			}
		}
	}
}

// syncWeights reports weighted tracking on a member of a sync group:
// keepalived sets those weights to 0 so that the members' priorities stay
// equal; xlb asks for that to be written instead of changing it silently.
func (d *decoder) syncWeights(v *VRRPInstance, sg *VRRPSyncGroup) {
	for _, t := range v.TrackInterfaces {
		if t.Weight != 0 {
			d.errorf(t.Pos, "track_interface %s of vrrp_instance %s has weight %d, but members of vrrp_sync_group %s track with weight 0; track it in the vrrp_sync_group", t.Name, v.Name, t.Weight, sg.Name)
		}
	}
	for i, ts := range [][]*Track{v.TrackScripts, v.TrackFiles, v.TrackProcesses} {
		kind := []string{"track_script", "track_file", "track_process"}[i]
		for _, t := range ts {
			if t.Weight != 0 {
				d.errorf(t.Pos, "%s %s of vrrp_instance %s has weight %d, but members of vrrp_sync_group %s track with weight 0; set weight 0 or track it in the vrrp_sync_group", kind, t.Name, v.Name, t.Weight, sg.Name)
			}
		}
	}
}
