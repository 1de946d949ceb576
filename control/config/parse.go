package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ParseFile reads and parses the configuration file at path. Configuration
// errors are returned as an ErrorList holding every error found; a file that
// cannot be read is a plain error.
func ParseFile(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}

// Parse parses src, naming it filename in error positions. The error, if
// any, is an ErrorList.
func Parse(filename string, src []byte) (*Config, error) {
	var errs ErrorList
	p := &treeParser{toks: lex(filename, src, &errs), errs: &errs}
	root := p.parseBlock(nil)
	d := &decoder{errs: &errs, cfg: &Config{}}
	d.top(root)
	d.check()
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File),
				cmp.Compare(a.Pos.Line, b.Pos.Line),
				cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		return nil, errs
	}
	return d.cfg, nil
}

// decoder turns the statement tree into typed configuration.
type decoder struct {
	errs *ErrorList
	cfg  *Config
}

func (d *decoder) errorf(pos Position, format string, args ...any) {
	*d.errs = append(*d.errs, Errorf(pos, format, args...))
}

// directive describes one keyword a block accepts.
type directive struct {
	block  bool   // takes a { } block
	repeat bool   // may be given more than once
	canon  string // name for the given-twice check when this is an alias
	fn     func(n *node)
}

// walk runs the directives of parent's block through table. where names
// the block in errors. unsupported maps keepalived directives xlb does not
// implement to a hint of what to use instead ("" for none).
func (d *decoder) walk(children []*node, where string, table map[string]directive, unsupported map[string]string) {
	seen := map[string]*node{}
	for _, c := range children {
		if hint, ok := unsupported[c.name]; ok {
			msg := fmt.Sprintf("%s is not supported by xlb", c.name)
			if hint != "" {
				msg += "; " + hint
			}
			d.errorf(c.pos, "%s", msg)
			continue
		}
		dir, ok := table[c.name]
		if !ok {
			d.errorf(c.pos, "unknown directive %q in %s", c.name, where)
			continue
		}
		if dir.block && !c.hasBlock {
			d.errorf(c.pos, "%s needs a { } block", c.name)
			continue
		}
		if !dir.block && c.hasBlock {
			d.errorf(c.open, "%s does not take a { } block", c.name)
			continue
		}
		if !dir.repeat {
			key := cmp.Or(dir.canon, c.name)
			if first := seen[key]; first != nil {
				d.errorf(c.pos, "%s given twice in %s (first at %s)", c.name, where, first.pos)
				continue
			}
			seen[key] = c
		}
		dir.fn(c)
	}
}

// nargs checks that n has between min and max arguments (max < 0: no
// limit); usage is shown in the error.
func (d *decoder) nargs(n *node, min, max int, usage string) bool {
	if len(n.args) < min {
		d.errorf(n.pos, "missing argument to %s (usage: %s)", n.name, usage)
		return false
	}
	if max >= 0 && len(n.args) > max {
		d.errorf(n.args[max].pos, "too many arguments to %s (usage: %s)", n.name, usage)
		return false
	}
	return true
}

// addr parses an IP address argument of a directive.
func (d *decoder) addr(t token, what string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" {
		d.errorf(t.pos, "invalid IP address %q in %s", t.text, what)
		return netip.Addr{}, false
	}
	return a, true
}

// port parses a port argument, 1..65535.
func (d *decoder) port(t token, what string) (uint16, bool) {
	v, err := strconv.ParseUint(t.text, 10, 16)
	if err != nil || v == 0 {
		d.errorf(t.pos, "invalid port %q in %s (want 1..65535)", t.text, what)
		return 0, false
	}
	return uint16(v), true
}

// uint parses an unsigned integer argument in [min, max].
func (d *decoder) uint(t token, what string, min, max uint64) (uint64, bool) {
	v, err := strconv.ParseUint(t.text, 10, 64)
	if err != nil || v < min || v > max {
		d.errorf(t.pos, "invalid %s %q (want %d..%d)", what, t.text, min, max)
		return 0, false
	}
	return v, true
}

// top decodes the statements at the top level of the file.
func (d *decoder) top(root []*node) {
	table := map[string]directive{
		"global_defs":    {block: true, repeat: true, fn: d.globalDefs},
		"virtual_server": {block: true, repeat: true, fn: d.virtualServer},
	}
	d.walk(root, "top level", table, nil)
}

func (d *decoder) globalDefs(n *node) {
	g := &d.cfg.Global
	if !g.Pos.IsValid() {
		g.Pos = n.pos
	}
	d.nargs(n, 0, 0, "global_defs { ... }")
	table := map[string]directive{
		"xdp_interface": {repeat: true, fn: func(c *node) {
			if !d.nargs(c, 1, -1, "xdp_interface IFNAME...") {
				return
			}
			for _, a := range c.args {
				if !validIfName(a.text) {
					d.errorf(a.pos, "invalid interface name %q in xdp_interface", a.text)
					continue
				}
				if slices.Contains(g.XDPInterfaces, a.text) {
					d.errorf(a.pos, "interface %q listed twice in xdp_interface", a.text)
					continue
				}
				g.XDPInterfaces = append(g.XDPInterfaces, a.text)
			}
		}},
		"xdp_mode": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "xdp_mode native|generic") {
				return
			}
			switch strings.ToLower(c.args[0].text) {
			case "native":
				g.XDPMode = XDPModeNative
			case "generic":
				g.XDPMode = XDPModeGeneric
			default:
				d.errorf(c.args[0].pos, "invalid xdp_mode %q (want native or generic)", c.args[0].text)
			}
		}},
	}
	d.walk(n.block, "global_defs", table, nil)
}

// validIfName reports whether s can be a Linux interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == '/' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

func (d *decoder) virtualServer(n *node) {
	vs := &VirtualServer{Pos: n.pos, Protocol: ProtoTCP, Scheduler: DefaultScheduler, SchedulerPos: n.pos, MethodPos: n.pos}
	ok := d.nargs(n, 2, 2, "virtual_server IP PORT { ... }")
	if ok {
		a, aok := d.addr(n.args[0], "virtual_server")
		p, pok := d.port(n.args[1], "virtual_server")
		vs.Addr, vs.Port = a, p
		ok = aok && pok
	}
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
		"real_server": {block: true, repeat: true, fn: func(c *node) {
			if rs := d.realServer(vs, c); rs != nil {
				vs.Reals = append(vs.Reals, rs)
			}
		}},
	}
	d.walk(n.block, "virtual_server", table, nil)
	if !ok {
		return
	}
	for _, rs := range vs.Reals {
		if rs.Port == 0 {
			rs.Port = vs.Port
		}
	}
	d.cfg.VirtualServers = append(d.cfg.VirtualServers, vs)
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
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

// realServer decodes a real_server block; nil when its address is invalid.
func (d *decoder) realServer(vs *VirtualServer, n *node) *RealServer {
	rs := &RealServer{Pos: n.pos, Weight: 1}
	ok := d.nargs(n, 1, 2, "real_server IP [PORT] { ... }")
	if ok {
		rs.Addr, ok = d.addr(n.args[0], "real_server")
		if ok && vs.Addr.IsValid() && rs.Addr.Is4() != vs.Addr.Is4() {
			d.errorf(n.args[0].pos, "real_server %s is %s but virtual_server %s is %s", rs.Addr, family(rs.Addr), vs.Addr, family(vs.Addr))
			ok = false
		}
		if len(n.args) == 2 {
			var pok bool
			rs.Port, pok = d.port(n.args[1], "real_server")
			ok = ok && pok
		}
	}
	table := map[string]directive{
		"weight": {fn: func(c *node) {
			if !d.nargs(c, 1, 1, "weight N") {
				return
			}
			if v, ok := d.uint(c.args[0], "weight", 0, 65535); ok {
				rs.Weight = int(v)
			}
		}},
	}
	d.walk(n.block, "real_server", table, nil)
	if !ok {
		return nil
	}
	return rs
}

// check reports errors that need the whole file: duplicate virtual servers
// and duplicate real servers within one.
func (d *decoder) check() {
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
