package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file decodes the LVS blocks: virtual_server, real_server,
// sorry_server and virtual_server_group.

// vsUnsupported are keepalived virtual_server directives xlb does not
// implement, with what to use instead.
var vsUnsupported = map[string]string{
	"persistence_engine":      "",
	"sorry_server_lvs_method": "the sorry server uses the virtual server's lvs_method",
	"smtp_alert":              "use quorum_up/quorum_down or notify_up/notify_down scripts",
	"snmp_name":               "",
	"ip_family":               "",
	"flag-3":                  "",
}

// pendingVS is a `virtual_server group NAME` block, expanded into one
// virtual server per group address once every group is known.
type pendingVS struct {
	vs       *VirtualServer
	groupPos Position // of the group name, for `virtual_server group NAME`
}

func (d *decoder) virtualServer(n *node) {
	vs := &VirtualServer{
		Pos: n.pos, Protocol: ProtoTCP, Scheduler: DefaultScheduler, SchedulerPos: n.pos, MethodPos: n.pos,
		DelayLoop: DefaultDelayLoop, Quorum: 1,
	}
	ok := d.nargs(n, 2, 2, "virtual_server IP PORT { ... }")
	var groupPos Position
	if ok {
		switch n.args[0].text {
		case "group":
			vs.Group, groupPos = n.args[1].text, n.args[1].pos
		case "fwmark":
			d.errorf(n.args[0].pos, "virtual_server fwmark is not supported by xlb; use virtual_server IP PORT or a virtual_server_group")
			ok = false
		default:
			a, aok := d.addr(n.args[0], "virtual_server")
			// Port 0: every port of the address (IPVS's persistent
			// port-zero service).
			p, pok := uint16(0), true
			if n.args[1].text != "0" {
				p, pok = d.port(n.args[1], "virtual_server")
			}
			vs.Addr, vs.Port = a, p
			ok = aok && pok
		}
	}
	var vt timing
	var inhibit *bool
	var vsHost string
	type pendingReal struct {
		rs     *RealServer
		t      timing
		checks []*pendingCheck
		inh    *bool
	}
	var reals []*pendingReal
	var sorryInhibit bool
	var sorry *node
	var mhPos Position

	table := map[string]directive{
		"lvs_sched":  {fn: func(c *node) { d.scheduler(vs, c) }},
		"lb_algo":    {canon: "lvs_sched", fn: func(c *node) { d.scheduler(vs, c) }},
		"lvs_method": {fn: func(c *node) { d.method(vs, c) }},
		"lb_kind":    {canon: "lvs_method", fn: func(c *node) { d.method(vs, c) }},
		"protocol": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "protocol TCP|UDP") {
				return
			}
			switch strings.ToUpper(c.args[0].text) {
			case "TCP":
				vs.Protocol = ProtoTCP
			case "UDP":
				vs.Protocol = ProtoUDP
			case "SCTP":
				d.errorf(c.args[0].pos, "protocol SCTP is not supported by xlb (want TCP or UDP)")
			default:
				d.errorf(c.args[0].pos, "invalid protocol %q (want TCP or UDP)", c.args[0].text)
			}
		}},
		"persistence_timeout": {fn: func(c *node) {
			if !d.nargs(c, 0, 1, "persistence_timeout [SECONDS]") {
				return
			}
			vs.PersistenceTimeout = DefaultPersistenceTimeout
			if len(c.args) == 1 {
				if v, ok := d.int(c.args[0], "persistence_timeout", 1, 1<<31-1); ok {
					vs.PersistenceTimeout = secs(v)
				}
			}
		}},
		"persistence_granularity": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "persistence_granularity NETMASK|PREFIXLEN") {
				return
			}
			bits, ok := parseGranularity(c.args[0].text)
			if !ok {
				d.errorf(c.args[0].pos, "invalid persistence_granularity %q (want a netmask like 255.255.255.0 or a prefix length)", c.args[0].text)
				return
			}
			vs.PersistenceGranularity = bits
		}},
		"virtualhost": d.stringDir(&vsHost),
		"sorry_server": {fn: func(c *node) {
			if d.nargs(c, 1, 2, "sorry_server IP [PORT]") {
				sorry = c
			}
		}},
		"sorry_server_inhibit": d.flagDir(&sorryInhibit),
		"mh_table_size": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "mh_table_size PRIME") {
				return
			}
			v, ok := d.int(c.args[0], "mh_table_size", 2, MaxMHTableSize)
			if !ok {
				return
			}
			if !isPrime(int(v)) {
				d.errorf(c.args[0].pos, "mh_table_size %d is not a prime (nearest primes: %d and %d; keepalived and IPVS default to 65537)", v, prevPrime(int(v)), nextPrime(int(v)))
				return
			}
			vs.MHTableSize, mhPos = int(v), c.pos
		}},
		"quorum":      d.intDir(&vs.Quorum, 1, 1<<31-1),
		"hysteresis":  d.intDir(&vs.Hysteresis, 0, 1<<31-1),
		"quorum_up":   d.scriptDir(&vs.QuorumUp),
		"quorum_down": d.scriptDir(&vs.QuorumDown),
		"omega":       d.flagDir(&vs.Omega),
		"ha_suspend":  d.flagDir(&vs.HASuspend),
		"ops":         d.flagDir(&vs.OnePacket),
		"mh-port":     {canon: "sched-port", fn: d.flagDir(&vs.SchedPort).fn},
		"sh-port":     {canon: "sched-port", fn: d.flagDir(&vs.SchedPort).fn},
		"flag-2":      {canon: "sched-port", fn: d.flagDir(&vs.SchedPort).fn},
		"mh-fallback": {canon: "sched-fallback", fn: d.flagDir(&vs.SchedFallback).fn},
		"sh-fallback": {canon: "sched-fallback", fn: d.flagDir(&vs.SchedFallback).fn},
		"flag-1":      {canon: "sched-fallback", fn: d.flagDir(&vs.SchedFallback).fn},
		"inhibit_on_failure": {fn: func(c *node) {
			var v bool
			d.optBoolDir(&v).fn(c)
			inhibit = &v
		}},
		"real_server": {block: true, repeat: true, fn: func(c *node) {
			pr := &pendingReal{}
			pr.rs, pr.t, pr.checks, pr.inh = d.realServer(vs, c)
			if pr.rs != nil {
				reals = append(reals, pr)
			}
		}},
	}
	d.timingDirs(table, &vt, true)
	// alpha is a plain flag at the virtual server level.
	table["alpha"] = directive{fn: func(c *node) {
		if d.nargs(c, 0, 0, "alpha") {
			vs.Alpha = true
			v := true
			vt.alpha = &v
		}
	}}
	d.walk(n.block, "virtual_server", table, vsUnsupported)
	vs.VirtualHost = vsHost
	if vt.delayLoop != nil {
		vs.DelayLoop = *vt.delayLoop
	}

	if vs.Quorum > 0 && vs.Hysteresis >= vs.Quorum && len(reals) > 0 {
		d.errorf(n.pos, "hysteresis %d must be less than quorum %d", vs.Hysteresis, vs.Quorum)
	}
	if vs.MHTableSize != 0 && vs.Scheduler != "mh" {
		d.errorf(mhPos, "mh_table_size needs lvs_sched mh (the scheduler is %s)", vs.Scheduler)
	}
	if vs.OnePacket && vs.Protocol != ProtoUDP {
		d.errorf(n.pos, "ops (one-packet scheduling) needs protocol UDP")
	}
	allPorts := ok && vs.Group == "" && vs.Port == 0
	if allPorts && vs.PersistenceTimeout == 0 {
		d.errorf(n.args[1].pos, "virtual_server %s port 0 serves every port and needs persistence_timeout, as in IPVS", vs.Addr)
	}
	for _, pr := range reals {
		rs := pr.rs
		if allPorts && rs.Port != 0 {
			d.errorf(rs.Pos, "real_server %s of the all-ports virtual_server %s: its port is the client's, write none (not %d)", rs.Addr, vs.Addr, rs.Port)
		}
		if rs.Port == 0 {
			rs.Port = vs.Port
		}
		switch {
		case pr.inh != nil:
			rs.InhibitOnFailure = *pr.inh
		case inhibit != nil:
			rs.InhibitOnFailure = *inhibit
		}
		for _, pc := range pr.checks {
			pc.resolve(pr.t, vt)
			if pc.c.Kind != CheckMisc && pc.c.ConnectPort == 0 {
				pc.c.ConnectPort = rs.Port
				if allPorts {
					d.errorf(pc.c.Pos, "%s of real_server %s needs connect_port: its virtual server serves every port", pc.c.Kind, rs.Addr)
				}
			}
			if pc.c.HTTP != nil && pc.c.HTTP.VirtualHost == "" {
				pc.c.HTTP.VirtualHost = vsHost
			}
			rs.Checks = append(rs.Checks, pc.c)
		}
		vs.Reals = append(vs.Reals, rs)
	}
	if sorry != nil {
		ss := &SorryServer{Pos: sorry.pos, Inhibit: sorryInhibit}
		sok := true
		if ss.Addr, sok = d.addr(sorry.args[0], "sorry_server"); sok && vs.Addr.IsValid() && ss.Addr.Is4() != vs.Addr.Is4() {
			d.errorf(sorry.args[0].pos, "sorry_server %s is %s but virtual_server %s is %s", ss.Addr, family(ss.Addr), vs.Addr, family(vs.Addr))
			sok = false
		}
		if len(sorry.args) == 2 {
			var pok bool
			ss.Port, pok = d.port(sorry.args[1], "sorry_server")
			sok = sok && pok
		}
		if ss.Port == 0 {
			ss.Port = vs.Port
		}
		if sok {
			vs.SorryServer = ss
		}
	} else if sorryInhibit {
		d.errorf(n.pos, "sorry_server_inhibit needs a sorry_server")
	}
	if !ok {
		return
	}
	if vs.Group != "" {
		// A placeholder, replaced by the group's members in expandGroups.
		d.groupRefs = append(d.groupRefs, pendingVS{vs: vs, groupPos: groupPos})
		d.cfg.VirtualServers = append(d.cfg.VirtualServers, vs)
		return
	}
	if d.granularity(vs) {
		d.cfg.VirtualServers = append(d.cfg.VirtualServers, vs)
	}
}

// granularity defaults the persistence mask to the whole address and checks
// one written against the address family.
func (d *decoder) granularity(vs *VirtualServer) bool {
	bits := vs.Addr.BitLen()
	if vs.PersistenceGranularity == 0 {
		vs.PersistenceGranularity = bits
	}
	if vs.PersistenceGranularity > bits {
		d.errorf(vs.Pos, "persistence_granularity /%d is longer than an %s address", vs.PersistenceGranularity, family(vs.Addr))
		return false
	}
	return true
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// parseGranularity parses a persistence mask: an IPv4 netmask
// (255.255.255.0) or a prefix length (24, or /24).
func parseGranularity(s string) (int, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		bits := 0
		for bits < 32 && v&(1<<(31-bits)) != 0 {
			bits++
		}
		if bits == 0 || bits < 32 && v<<bits != 0 {
			return 0, false // zero or not contiguous
		}
		return bits, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "/"))
	if err != nil || n < 1 || n > 128 {
		return 0, false
	}
	return n, true
}

func (d *decoder) scheduler(vs *VirtualServer, c *node) {
	if !d.nargs(c, 1, 1, c.name+" NAME") {
		return
	}
	name := strings.ToLower(c.args[0].text)
	if !slices.Contains(Schedulers, name) {
		d.errorf(c.args[0].pos, "unknown scheduler %q (want one of %s)", c.args[0].text, strings.Join(Schedulers, " "))
		return
	}
	vs.Scheduler, vs.SchedulerPos = name, c.pos
}

func (d *decoder) method(vs *VirtualServer, c *node) {
	if !d.nargs(c, 1, 1, c.name+" NAT|DR|TUN") {
		return
	}
	m, ok := parseMethod(c.args[0].text)
	if !ok {
		d.errorf(c.args[0].pos, "invalid %s %q (want NAT, DR or TUN)", c.name, c.args[0].text)
		return
	}
	vs.Method, vs.MethodPos = m, c.pos
}

func parseMethod(s string) (Method, bool) {
	switch strings.ToUpper(s) {
	case "NAT":
		return MethodNAT, true
	case "DR":
		return MethodDR, true
	case "TUN":
		return MethodTUN, true
	}
	return 0, false
}

// rsUnsupported are keepalived real_server directives xlb does not
// implement.
var rsUnsupported = map[string]string{
	"lvs_method": "set lvs_method in the virtual_server; xlb forwards all reals of a virtual server the same way",
	"lb_kind":    "set lvs_method in the virtual_server; xlb forwards all reals of a virtual server the same way",
	"smtp_alert": "use notify_up/notify_down scripts",
	"snmp_name":  "",
}

// realServer decodes a real_server block. rs is nil when its address is
// invalid; t are the checker timings written in it, inh its
// inhibit_on_failure if written.
func (d *decoder) realServer(vs *VirtualServer, n *node) (rs *RealServer, t timing, checks []*pendingCheck, inh *bool) {
	rs = &RealServer{Pos: n.pos, Weight: 1}
	ok := d.nargs(n, 1, 2, "real_server IP [PORT] { ... }")
	if ok {
		rs.Addr, ok = d.addr(n.args[0], "real_server")
		if ok && vs.Addr.IsValid() && rs.Addr.Is4() != vs.Addr.Is4() {
			d.errorf(n.args[0].pos, "real_server %s is %s but virtual_server %s is %s", rs.Addr, family(rs.Addr), vs.Addr, family(vs.Addr))
			ok = false
		}
		// Port 0 is the all-ports virtual server's own (the client's port).
		if len(n.args) == 2 && !(n.args[1].text == "0" && vs.Group == "" && vs.Addr.IsValid() && vs.Port == 0) {
			var pok bool
			rs.Port, pok = d.port(n.args[1], "real_server")
			ok = ok && pok
		}
	}
	var host string
	table := map[string]directive{
		"weight": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "weight N") {
				return
			}
			if v, ok := d.uint(c.args[0], "weight", 0, 65535); ok {
				rs.Weight = int(v)
			}
		}},
		"inhibit_on_failure": {fn: func(c *node) {
			var v bool
			d.optBoolDir(&v).fn(c)
			inh = &v
		}},
		"notify_up":   d.scriptDir(&rs.NotifyUp),
		"notify_down": d.scriptDir(&rs.NotifyDown),
		"uthreshold":  d.intDir(&rs.UThreshold, 0, 1<<31-1),
		"lthreshold":  d.intDir(&rs.LThreshold, 0, 1<<31-1),
		"virtualhost": d.stringDir(&host),
	}
	d.timingDirs(table, &t, true)
	for name := range checkKinds {
		table[name] = directive{block: true, repeat: true, fn: func(c *node) {
			if pc := d.check(c, rs, &host); pc != nil {
				checks = append(checks, pc)
			}
		}}
	}
	unsupported := map[string]string{}
	for k, v := range rsUnsupported {
		unsupported[k] = v
	}
	for k, v := range unsupportedChecks {
		unsupported[k] = v
	}
	d.walk(n.block, "real_server", table, unsupported)
	if rs.LThreshold > 0 && rs.UThreshold > 0 && rs.LThreshold > rs.UThreshold {
		d.errorf(n.pos, "lthreshold %d is above uthreshold %d", rs.LThreshold, rs.UThreshold)
	}
	if !ok {
		return nil, t, nil, nil
	}
	return rs, t, checks, inh
}

// virtualServerGroup decodes a virtual_server_group block.
func (d *decoder) virtualServerGroup(n *node) {
	g := &VirtualServerGroup{Pos: n.pos}
	if d.nargs(n, 1, 1, "virtual_server_group NAME { ... }") {
		g.Name = n.args[0].text
	}
	seen := map[netip.AddrPort]Position{}
	for _, e := range n.block {
		if e.hasBlock {
			d.errorf(e.open, "virtual_server_group entries do not take a { } block")
			continue
		}
		if e.name == "fwmark" {
			d.errorf(e.pos, "fwmark in virtual_server_group is not supported by xlb; list the addresses and ports instead")
			continue
		}
		if len(e.args) != 1 {
			if len(e.args) == 0 {
				d.errorf(e.pos, "missing port after %s in virtual_server_group (usage: IP|RANGE PORT)", e.name)
			} else {
				d.errorf(e.args[1].pos, "too many arguments in virtual_server_group entry (usage: IP|RANGE PORT)")
			}
			continue
		}
		addrs, ok := d.addrRange(token{text: e.name, pos: e.pos})
		port, pok := d.port(e.args[0], "virtual_server_group")
		if !ok || !pok {
			continue
		}
		if len(g.Addrs) > 0 && g.Addrs[0].Addr().Is4() != addrs[0].Is4() {
			d.errorf(e.pos, "virtual_server_group %s mixes IPv4 and IPv6 addresses", g.Name)
			continue
		}
		for _, a := range addrs {
			ap := netip.AddrPortFrom(a, port)
			if first, dup := seen[ap]; dup {
				d.errorf(e.pos, "%s listed twice in virtual_server_group %s (first at %s)", ap, g.Name, first)
				continue
			}
			seen[ap] = e.pos
			g.Addrs = append(g.Addrs, ap)
		}
	}
	for _, other := range d.cfg.Groups {
		if other.Name == g.Name && g.Name != "" {
			d.errorf(n.pos, "duplicate virtual_server_group %s (first at %s)", g.Name, other.Pos)
			return
		}
	}
	d.cfg.Groups = append(d.cfg.Groups, g)
}

// maxRange is the most addresses one virtual_server_group range may hold.
const maxRange = 256

// addrRange parses a virtual_server_group address: IP, IP-LAST (the last
// IPv4 octet in decimal, or the last IPv6 group in hex) or IP/PREFIX.
func (d *decoder) addrRange(t token) ([]netip.Addr, bool) {
	s := t.text
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.errorf(t.pos, "invalid address range %q in virtual_server_group", s)
			return nil, false
		}
		if p.Addr().BitLen()-p.Bits() > 8 {
			d.errorf(t.pos, "address range %s in virtual_server_group holds more than %d addresses; the nearest valid one is %s", s, maxRange,
				netip.PrefixFrom(p.Addr(), p.Addr().BitLen()-8).Masked())
			return nil, false
		}
		p = p.Masked()
		var out []netip.Addr
		for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
			out = append(out, a)
		}
		return out, true
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" {
		d.errorf(t.pos, "invalid IP address %q in virtual_server_group", first)
		return nil, false
	}
	if !isRange {
		return []netip.Addr{a}, true
	}
	var start, end uint64
	if a.Is4() {
		start = uint64(a.As4()[3])
		end, err = strconv.ParseUint(last, 10, 16)
	} else {
		b := a.As16()
		start = uint64(b[14])<<8 | uint64(b[15])
		end, err = strconv.ParseUint(last, 16, 32)
	}
	switch {
	case err != nil || last == "":
		d.errorf(t.pos, "invalid address range %q in virtual_server_group", s)
		return nil, false
	case a.Is4() && end > 255, !a.Is4() && end > 0xffff:
		d.errorf(t.pos, "address range %q in virtual_server_group ends past the last address of its block; the nearest valid one is %q", s,
			rangeText(a, first, min(start+maxRange-1, blockEnd(a))))
		return nil, false
	case end < start:
		d.errorf(t.pos, "address range %q in virtual_server_group is reversed; did you mean %q?", s, rangeText(withLast(a, end), "", start))
		return nil, false
	case end-start+1 > maxRange:
		d.errorf(t.pos, "address range %q in virtual_server_group holds %d addresses, more than %d; the nearest valid one is %q", s, end-start+1, maxRange,
			rangeText(a, first, start+maxRange-1))
		return nil, false
	}
	out := make([]netip.Addr, 0, end-start+1)
	for i, x := uint64(0), a; i <= end-start; i, x = i+1, x.Next() {
		out = append(out, x)
	}
	return out, true
}

// blockEnd is the last value of a range's last part: 255 for IPv4, ffff
// for IPv6.
func blockEnd(a netip.Addr) uint64 {
	if a.Is4() {
		return 255
	}
	return 0xffff
}

// withLast returns a with its range part (last byte of IPv4, last 16 bits
// of IPv6) set to v.
func withLast(a netip.Addr, v uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		b[3] = byte(v)
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	b[14], b[15] = byte(v>>8), byte(v)
	return netip.AddrFrom16(b)
}

// rangeText writes a range in the dialect: FIRST-LAST with LAST the last
// byte (IPv4, decimal) or 16 bits (IPv6, hex). first is a's text as
// written, or "" to format a.
func rangeText(a netip.Addr, first string, last uint64) string {
	if first == "" {
		first = a.String()
	}
	if a.Is4() {
		return fmt.Sprintf("%s-%d", first, last)
	}
	return fmt.Sprintf("%s-%x", first, last)
}

// expandGroups replaces each `virtual_server group NAME` with one virtual
// server per address of the group, in the group's order.
func (d *decoder) expandGroups() {
	byName := map[string]*VirtualServerGroup{}
	for _, g := range d.cfg.Groups {
		byName[g.Name] = g
	}
	members := map[*VirtualServer][]*VirtualServer{}
	for _, p := range d.groupRefs {
		members[p.vs] = nil
		g := byName[p.vs.Group]
		if g == nil {
			d.errorf(p.groupPos, "unknown virtual_server_group %q", p.vs.Group)
			continue
		}
		if len(g.Addrs) == 0 {
			d.errorf(p.groupPos, "virtual_server_group %q has no addresses", p.vs.Group)
			continue
		}
		fam := g.Addrs[0].Addr()
		bad := false
		for _, rs := range p.vs.Reals {
			if rs.Addr.Is4() != fam.Is4() {
				d.errorf(rs.Pos, "real_server %s is %s but virtual_server_group %s is %s", rs.Addr, family(rs.Addr), g.Name, family(fam))
				bad = true
			}
		}
		if ss := p.vs.SorryServer; ss != nil && ss.Addr.Is4() != fam.Is4() {
			d.errorf(ss.Pos, "sorry_server %s is %s but virtual_server_group %s is %s", ss.Addr, family(ss.Addr), g.Name, family(fam))
			bad = true
		}
		if bad {
			continue
		}
		for _, ap := range g.Addrs {
			vs := cloneVS(p.vs)
			vs.Addr, vs.Port = ap.Addr(), ap.Port()
			if !d.granularity(vs) {
				break
			}
			for i, rs := range vs.Reals {
				if p.vs.Reals[i].Port == 0 {
					rs.Port = vs.Port
				}
				for _, c := range rs.Checks {
					if c.Kind != CheckMisc && c.ConnectPort == 0 {
						c.ConnectPort = rs.Port
					}
				}
			}
			if vs.SorryServer != nil && vs.SorryServer.Port == 0 {
				vs.SorryServer.Port = vs.Port
			}
			members[p.vs] = append(members[p.vs], vs)
		}
	}
	if len(members) == 0 {
		return
	}
	var out []*VirtualServer
	for _, vs := range d.cfg.VirtualServers {
		if m, ok := members[vs]; ok {
			out = append(out, m...)
			continue
		}
		out = append(out, vs)
	}
	d.cfg.VirtualServers = out
}

// cloneVS copies vs deep enough that expanded group members share no
// mutable state.
func cloneVS(vs *VirtualServer) *VirtualServer {
	c := *vs
	c.Reals = make([]*RealServer, len(vs.Reals))
	for i, rs := range vs.Reals {
		r := *rs
		r.Checks = make([]*Check, len(rs.Checks))
		for j, ch := range rs.Checks {
			cc := *ch
			r.Checks[j] = &cc
		}
		c.Reals[i] = &r
	}
	if vs.SorryServer != nil {
		s := *vs.SorryServer
		c.SorryServer = &s
	}
	return &c
}

// checkLVS reports errors that need the whole file: duplicate virtual
// servers and duplicate real servers within one.
func (d *decoder) checkLVS() {
	type vsKey struct {
		ap    netip.AddrPort
		proto Protocol
	}
	vss := map[vsKey]*VirtualServer{}
	for _, vs := range d.cfg.VirtualServers {
		k := vsKey{vs.AddrPort(), vs.Protocol}
		if first := vss[k]; first != nil {
			d.errorf(vs.Pos, "duplicate virtual_server %s %s (first at %s)", vs.AddrPort(), vs.Protocol, first.Pos)
		} else {
			vss[k] = vs
		}
		reals := map[netip.AddrPort]*RealServer{}
		for _, rs := range vs.Reals {
			if first := reals[rs.AddrPort()]; first != nil {
				d.errorf(rs.Pos, "duplicate real_server %s in virtual_server %s (first at %s)", rs.AddrPort(), vs.AddrPort(), first.Pos)
			} else {
				reals[rs.AddrPort()] = rs
			}
		}
	}
}

// secs converts whole seconds to a duration.
func secs(v int64) time.Duration { return time.Duration(v) * time.Second }

// MaxMHTableSize is the largest mh_table_size: the largest prime that fits
// the data plane's ring of 2^20 entries.
const MaxMHTableSize = 1048573

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// prevPrime is the largest prime below n (2 if none).
func prevPrime(n int) int {
	for p := n - 1; p > 2; p-- {
		if isPrime(p) {
			return p
		}
	}
	return 2
}

// nextPrime is the smallest prime above n.
func nextPrime(n int) int {
	p := n + 1
	for !isPrime(p) {
		p++
	}
	return p
}
