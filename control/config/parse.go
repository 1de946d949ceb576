package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Parse parses src, naming it filename in error positions. Relative include
// patterns are taken from the directory of filename. The error, if any, is
// an ErrorList.
func Parse(filename string, src []byte) (*Config, error) {
	return parse(filename, src, os.ReadFile, filepath.Glob)
}

// parse is Parse with the file system access of include given.
func parse(filename string, src []byte, readFile func(string) ([]byte, error), glob func(string) ([]string, error)) (*Config, error) {
	var errs ErrorList
	l := &loader{errs: &errs, readFile: readFile, glob: glob}
	root := l.parse(filename, src)
	d := &decoder{errs: &errs, cfg: &Config{}}
	d.cfg.Global = GlobalDefs{
		VRRPVersion:                 DefaultVRRPVersion,
		VRRPGARPMasterDelay:         DefaultGARPDelay,
		VRRPGARPMasterRepeat:        DefaultGARPRepeat,
		VRRPGARPMasterRefreshRepeat: DefaultGARPRefreshes,
		VRRPMcastGroup4:             netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6:             netip.MustParseAddr("ff02::12"),
	}
	d.top(root)
	d.expandGroups()
	d.checkLVS()
	d.checkVRRP()
	if len(errs) > 0 {
		return nil, sortErrors(errs)
	}
	return d.cfg, nil
}

// sortErrors orders errs by position and drops repeats (a group's virtual
// server is checked once per address).
func sortErrors(errs ErrorList) ErrorList {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return slices.CompactFunc(errs, func(a, b *Error) bool { return *a == *b })
}

// loader reads a file and the files it includes into one statement tree.
type loader struct {
	errs     *ErrorList
	readFile func(string) ([]byte, error)
	glob     func(string) ([]string, error)
	stack    []string // absolute paths of the files being read, outermost first
	files    int      // files read, to bound include fan-out
}

// maxIncludedFiles bounds how many files one configuration may include.
const maxIncludedFiles = 1000

func (l *loader) parse(name string, src []byte) []*node {
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	l.stack = append(l.stack, abs)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	p := &treeParser{toks: lex(name, src, l.errs), errs: l.errs, include: l.include}
	return p.parseBlock(nil)
}

// include expands `include PATTERN`: the files matching the glob PATTERN,
// relative to the directory of the including file, in name order. A
// pattern without wildcards must name a file that exists.
func (l *loader) include(n *node) []*node {
	errorf := func(pos Position, format string, args ...any) {
		*l.errs = append(*l.errs, Errorf(pos, format, args...))
	}
	if len(n.args) != 1 {
		if len(n.args) == 0 {
			errorf(n.pos, "missing argument to include (usage: include PATTERN)")
		} else {
			errorf(n.args[1].pos, "too many arguments to include (usage: include PATTERN)")
		}
		return nil
	}
	pattern := n.args[0].text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(n.pos.File), pattern)
	}
	matches, err := l.glob(pattern)
	if err != nil {
		errorf(n.args[0].pos, "invalid include pattern %q: %v", n.args[0].text, err)
		return nil
	}
	if len(matches) == 0 && !strings.ContainsAny(n.args[0].text, "*?[") {
		errorf(n.args[0].pos, "included file %s does not exist", pattern)
		return nil
	}
	var out []*node
	for _, m := range matches {
		abs, err := filepath.Abs(m)
		if err != nil {
			abs = m
		}
		if i := slices.Index(l.stack, abs); i >= 0 {
			chain := append(slices.Clone(l.stack[i:]), abs)
			errorf(n.pos, "include loop: %s", strings.Join(chain, " includes "))
			continue
		}
		if l.files++; l.files > maxIncludedFiles {
			errorf(n.pos, "more than %d included files", maxIncludedFiles)
			return out
		}
		src, err := l.readFile(m)
		if err != nil {
			errorf(n.args[0].pos, "read included file: %v", err)
			continue
		}
		out = append(out, l.parse(m, src)...)
	}
	return out
}

// decoder turns the statement tree into typed configuration.
type decoder struct {
	errs      *ErrorList
	cfg       *Config
	groupRefs []pendingVS // `virtual_server group NAME` blocks, expanded at the end
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

// topUnsupported are keepalived top-level blocks xlb does not implement.
var topUnsupported = map[string]string{
	"bfd_instance":        "use vrrp_script or MISC_CHECK",
	"static_ipaddress":    "configure the addresses with the system's network configuration",
	"static_routes":       "configure the routes with the system's network configuration",
	"static_rules":        "configure the rules with the system's network configuration",
	"static_track_group":  "",
	"garp_group":          "",
	"linkbeat_interfaces": "",
}

// top decodes the statements at the top level of the file.
func (d *decoder) top(root []*node) {
	table := map[string]directive{
		"global_defs":          {block: true, repeat: true, fn: d.globalDefs},
		"virtual_server":       {block: true, repeat: true, fn: d.virtualServer},
		"virtual_server_group": {block: true, repeat: true, fn: d.virtualServerGroup},
		"SSL":                  {block: true, fn: d.ssl},
		"vrrp_instance":        {block: true, repeat: true, fn: d.vrrpInstance},
		"vrrp_script":          {block: true, repeat: true, fn: d.vrrpScript},
		"vrrp_track_file":      {block: true, repeat: true, fn: d.vrrpTrackFile},
		"track_file":           {block: true, repeat: true, fn: d.vrrpTrackFile},
		"vrrp_track_process":   {block: true, repeat: true, fn: d.vrrpTrackProcess},
		"vrrp_sync_group":      {block: true, repeat: true, fn: d.vrrpSyncGroup},
	}
	d.walk(root, "top level", table, topUnsupported)
}

// globalUnsupported are keepalived global_defs directives xlb does not
// implement.
var globalUnsupported = map[string]string{
	"notification_email":       "use notify scripts",
	"notification_email_from":  "use notify scripts",
	"smtp_server":              "use notify scripts",
	"smtp_helo_name":           "use notify scripts",
	"smtp_connect_timeout":     "use notify scripts",
	"smtp_alert":               "use notify scripts",
	"smtp_alert_vrrp":          "use notify scripts",
	"smtp_alert_checker":       "use notify scripts",
	"vrrp_strict":              "",
	"vrrp_skip_check_adv_addr": "",
	"vrrp_iptables":            "",
	"vrrp_ipsets":              "",
	"vrrp_garp_interval":       "",
	"vrrp_gna_interval":        "",
	"vrrp_min_garp":            "set vrrp_garp_master_repeat 1 and vrrp_garp_master_delay 0",
	"lvs_sync_daemon":          "connections are kept in pinned BPF maps on each director",
	"lvs_flush":                "",
	"lvs_flush_on_stop":        "",
	"net_namespace":            "run xlbd in the namespace",
	"enable_snmp_vrrp":         "",
	"enable_snmp_checker":      "",
	"enable_snmp_rfc":          "",
	"enable_traps":             "",
	"enable_dbus":              "",
	"dynamic_interfaces":       "",
	"default_interface":        "give each vrrp_instance an interface",
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
		"lvs_timeouts": {fn: func(c *node) {
			if !d.nargs(c, 2, 6, "lvs_timeouts [tcp SECONDS] [tcpfin SECONDS] [udp SECONDS]") {
				return
			}
			if len(c.args)%2 != 0 {
				d.errorf(c.pos, "lvs_timeouts takes pairs: tcp SECONDS, tcpfin SECONDS, udp SECONDS")
				return
			}
			for i := 0; i < len(c.args); i += 2 {
				var dst *time.Duration
				switch strings.ToLower(c.args[i].text) {
				case "tcp":
					dst = &g.LVSTimeoutTCP
				case "tcpfin":
					dst = &g.LVSTimeoutTCPFin
				case "udp":
					dst = &g.LVSTimeoutUDP
				default:
					d.errorf(c.args[i].pos, "unknown lvs_timeouts kind %q (want tcp, tcpfin or udp)", c.args[i].text)
					continue
				}
				if v, ok := d.int(c.args[i+1], "lvs_timeouts "+c.args[i].text, 1, 86400*365); ok {
					*dst = time.Duration(v) * time.Second
				}
			}
		}},
		"expire_nodest_conn": d.flagDir(&g.ExpireNodestConn),
		"router_id":          {canon: "router_id", fn: d.stringDir(&g.RouterID).fn},
		"lvs_id":             {canon: "router_id", fn: d.stringDir(&g.RouterID).fn},
		"script_user": {fn: func(c *node) {
			if !d.nargs(c, 1, 2, "script_user USER [GROUP]") {
				return
			}
			g.ScriptUser = c.args[0].text
			if len(c.args) > 1 {
				g.ScriptGroup = c.args[1].text
			}
		}},
		"enable_script_security":          d.flagDir(&g.EnableScriptSecurity),
		"vrrp_version":                    d.intDir(&g.VRRPVersion, 2, 3),
		"vrrp_garp_master_delay":          d.durationDir(&g.VRRPGARPMasterDelay, 255*time.Second),
		"vrrp_garp_master_repeat":         d.intDir(&g.VRRPGARPMasterRepeat, 1, 255),
		"vrrp_garp_master_refresh":        d.durationDir(&g.VRRPGARPMasterRefresh, 86400*time.Second),
		"vrrp_garp_master_refresh_repeat": d.intDir(&g.VRRPGARPMasterRefreshRepeat, 1, 255),
		"vrrp_mcast_group4": {fn: func(c *node) {
			if d.nargs(c, 1, 1, "vrrp_mcast_group4 IP") {
				if a, ok := d.addr(c.args[0], c.name); ok {
					if !a.Is4() || !a.IsMulticast() {
						d.errorf(c.args[0].pos, "vrrp_mcast_group4 %s is not an IPv4 multicast address", a)
						return
					}
					g.VRRPMcastGroup4 = a
				}
			}
		}},
		"vrrp_mcast_group6": {fn: func(c *node) {
			if d.nargs(c, 1, 1, "vrrp_mcast_group6 IP") {
				if a, ok := d.addr(c.args[0], c.name); ok {
					if !a.Is6() || !a.IsLinkLocalMulticast() {
						d.errorf(c.args[0].pos, "vrrp_mcast_group6 %s is not an IPv6 link-local multicast address", a)
						return
					}
					g.VRRPMcastGroup6 = a
				}
			}
		}},
	}
	d.walk(n.block, "global_defs", table, globalUnsupported)
}

// ssl decodes the SSL block.
func (d *decoder) ssl(n *node) {
	s := &SSL{Pos: n.pos}
	d.nargs(n, 0, 0, "SSL { ... }")
	table := map[string]directive{
		"password":    d.stringDir(&s.Password),
		"ca":          d.stringDir(&s.CA),
		"certificate": d.stringDir(&s.Certificate),
		"key":         d.stringDir(&s.Key),
	}
	d.walk(n.block, "SSL", table, nil)
	if (s.Certificate == "") != (s.Key == "") {
		d.errorf(n.pos, "SSL needs both certificate and key, or neither")
	}
	d.cfg.SSL = s
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
