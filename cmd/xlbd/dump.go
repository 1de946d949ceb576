package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xlbproject/xlb/control/config"
)

// This file prints a parsed configuration back in the keepalived.conf
// dialect with every default written out (`xlbd --dump`). The output parses
// again to the same configuration: every value a default or an inherited
// setting filled in is written where it applies (checker timing in each
// checker, the virtual server's virtualhost in each HTTP checker), so that
// nothing depends on where the original file wrote it.

// dumpConfig writes cfg to w.
func dumpConfig(w io.Writer, cfg *config.Config) error {
	p := &printer{}
	p.global(&cfg.Global)
	if cfg.SSL != nil {
		p.ssl(cfg.SSL)
	}
	for _, g := range cfg.Groups {
		p.group(g)
	}
	written := map[string]bool{}
	for i, vs := range cfg.VirtualServers {
		if vs.Group == "" {
			p.virtualServer([]*config.VirtualServer{vs})
			continue
		}
		if written[vs.Group] {
			continue
		}
		written[vs.Group] = true
		var members []*config.VirtualServer
		for _, m := range cfg.VirtualServers[i:] {
			if m.Group == vs.Group {
				members = append(members, m)
			}
		}
		p.virtualServer(members)
	}
	for _, s := range cfg.VRRPScripts {
		p.vrrpScript(s)
	}
	for _, f := range cfg.VRRPTrackFiles {
		p.vrrpTrackFile(f)
	}
	for _, tp := range cfg.VRRPTrackProcesses {
		p.vrrpTrackProcess(tp)
	}
	for _, v := range cfg.VRRPInstances {
		p.vrrpInstance(v)
	}
	for _, g := range cfg.VRRPSyncGroups {
		p.vrrpSyncGroup(g)
	}
	if _, err := io.WriteString(w, p.b.String()); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// printer builds the dump with the indentation of nested blocks.
type printer struct {
	b     strings.Builder
	depth int
}

// line writes one directive: words quoted where the lexer needs it.
func (p *printer) line(words ...string) {
	p.b.WriteString(strings.Repeat("    ", p.depth))
	for i, w := range words {
		if i > 0 {
			p.b.WriteByte(' ')
		}
		p.b.WriteString(w)
	}
	p.b.WriteByte('\n')
}

// open starts a block; close ends it.
func (p *printer) open(words ...string) {
	p.line(append(words, "{")...)
	p.depth++
}

func (p *printer) close() {
	p.depth--
	p.line("}")
	if p.depth == 0 {
		p.b.WriteByte('\n')
	}
}

// quote returns s as one word of the dialect: as is when it holds nothing
// the lexer treats specially, else in double quotes with C escapes.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\v\f{}#!\"'\\") && printable(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// seconds writes a duration as keepalived seconds, fractions to the
// microsecond (the parser's resolution).
func seconds(d time.Duration) string {
	us := d.Microseconds()
	s := strconv.FormatInt(us/1e6, 10)
	if frac := us % 1e6; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	// The parser truncates seconds*1e6 to whole microseconds; where float
	// rounding would lose one, half a microsecond more lands on the value.
	if f, err := strconv.ParseFloat(s, 64); err == nil && time.Duration(f*1e6) != time.Duration(us) {
		s = fmt.Sprintf("%d.%06d5", us/1e6, us%1e6)
	}
	return s
}

func itoa(v int) string { return strconv.Itoa(v) }

func port(v uint16) string { return strconv.Itoa(int(v)) }

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// script writes `KEYWORD COMMAND [USER [GROUP]]`.
func (p *printer) script(keyword string, s *config.Script) {
	if s == nil {
		return
	}
	words := []string{keyword, quote(s.Cmd)}
	if s.User != "" {
		words = append(words, quote(s.User))
		if s.Group != "" {
			words = append(words, quote(s.Group))
		}
	}
	p.line(words...)
}

func (p *printer) flag(keyword string, v bool) {
	if v {
		p.line(keyword)
	}
}

func (p *printer) str(keyword, v string) {
	if v != "" {
		p.line(keyword, quote(v))
	}
}

func (p *printer) global(g *config.GlobalDefs) {
	p.open("global_defs")
	if len(g.XDPInterfaces) > 0 {
		p.line(append([]string{"xdp_interface"}, g.XDPInterfaces...)...)
	}
	if g.XDPMode != config.XDPModeAuto {
		p.line("xdp_mode", g.XDPMode.String())
	}
	p.str("router_id", g.RouterID)
	if g.ScriptUser != "" {
		words := []string{"script_user", quote(g.ScriptUser)}
		if g.ScriptGroup != "" {
			words = append(words, quote(g.ScriptGroup))
		}
		p.line(words...)
	}
	p.flag("enable_script_security", g.EnableScriptSecurity)
	p.line("vrrp_version", itoa(g.VRRPVersion))
	p.line("vrrp_garp_master_delay", seconds(g.VRRPGARPMasterDelay))
	p.line("vrrp_garp_master_repeat", itoa(g.VRRPGARPMasterRepeat))
	p.line("vrrp_garp_master_refresh", seconds(g.VRRPGARPMasterRefresh))
	p.line("vrrp_garp_master_refresh_repeat", itoa(g.VRRPGARPMasterRefreshRepeat))
	p.line("vrrp_mcast_group4", g.VRRPMcastGroup4.String())
	p.line("vrrp_mcast_group6", g.VRRPMcastGroup6.String())
	var timeouts []string
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"tcp", g.LVSTimeoutTCP}, {"tcpfin", g.LVSTimeoutTCPFin}, {"udp", g.LVSTimeoutUDP}} {
		if t.d > 0 {
			timeouts = append(timeouts, t.name, strconv.FormatInt(int64(t.d/time.Second), 10))
		}
	}
	if len(timeouts) > 0 {
		p.line(append([]string{"lvs_timeouts"}, timeouts...)...)
	}
	p.flag("expire_nodest_conn", g.ExpireNodestConn)
	p.close()
}

func (p *printer) ssl(s *config.SSL) {
	p.open("SSL")
	p.str("password", s.Password)
	p.str("ca", s.CA)
	p.str("certificate", s.Certificate)
	p.str("key", s.Key)
	p.close()
}

func (p *printer) group(g *config.VirtualServerGroup) {
	p.open("virtual_server_group", quote(g.Name))
	for _, ap := range g.Addrs {
		p.line(ap.Addr().String(), port(ap.Port()))
	}
	p.close()
}

// virtualServer writes one virtual_server block: for `virtual_server IP
// PORT` members holds the one virtual server, for `virtual_server group
// NAME` every expansion of it, in group order. A port a group member took
// from its own address (a real, checker or sorry server without a port) is
// left out, so that each member takes it again.
func (p *printer) virtualServer(members []*config.VirtualServer) {
	vs := members[0]
	if vs.Group != "" {
		p.open("virtual_server", "group", quote(vs.Group))
	} else {
		p.open("virtual_server", vs.Addr.String(), port(vs.Port))
	}
	// samePort reports whether the port of every member's item, picked by
	// get, is that member's own port: it was not written.
	samePort := func(get func(m *config.VirtualServer) uint16) bool {
		if vs.Group == "" {
			return false
		}
		for _, m := range members {
			if get(m) != m.Port {
				return false
			}
		}
		return true
	}
	p.line("protocol", vs.Protocol.String())
	p.line("lvs_sched", vs.Scheduler)
	if vs.Scheduler == "mh" && vs.MHTableSize > 0 {
		p.line("mh_table_size", itoa(vs.MHTableSize))
	}
	p.line("lvs_method", vs.Method.String())
	p.line("delay_loop", seconds(vs.DelayLoop))
	if vs.PersistenceTimeout > 0 {
		p.line("persistence_timeout", strconv.FormatInt(int64(vs.PersistenceTimeout/time.Second), 10))
	}
	if vs.PersistenceTimeout > 0 || vs.PersistenceGranularity != vs.Addr.BitLen() {
		p.line("persistence_granularity", itoa(vs.PersistenceGranularity))
	}
	p.str("virtualhost", vs.VirtualHost)
	if ss := vs.SorryServer; ss != nil {
		if samePort(func(m *config.VirtualServer) uint16 { return m.SorryServer.Port }) {
			p.line("sorry_server", ss.Addr.String())
		} else {
			p.line("sorry_server", ss.Addr.String(), port(ss.Port))
		}
		p.flag("sorry_server_inhibit", ss.Inhibit)
	}
	p.line("quorum", itoa(vs.Quorum))
	p.line("hysteresis", itoa(vs.Hysteresis))
	p.script("quorum_up", vs.QuorumUp)
	p.script("quorum_down", vs.QuorumDown)
	p.flag("alpha", vs.Alpha)
	p.flag("omega", vs.Omega)
	p.flag("ha_suspend", vs.HASuspend)
	p.flag("ops", vs.OnePacket)
	prefix := "sh"
	if vs.Scheduler == "mh" {
		prefix = "mh"
	}
	p.flag(prefix+"-port", vs.SchedPort)
	p.flag(prefix+"-fallback", vs.SchedFallback)
	for i, rs := range vs.Reals {
		realPort := samePort(func(m *config.VirtualServer) uint16 { return m.Reals[i].Port })
		p.realServer(vs, rs, realPort, func(j int) bool {
			return samePort(func(m *config.VirtualServer) uint16 { return m.Reals[i].Checks[j].ConnectPort })
		})
	}
	p.close()
}

// realServer writes a real_server block. omitPort leaves its port out;
// omitConnectPort(j) leaves out connect_port of checker j.
func (p *printer) realServer(vs *config.VirtualServer, rs *config.RealServer, omitPort bool, omitConnectPort func(int) bool) {
	if omitPort {
		p.open("real_server", rs.Addr.String())
	} else {
		p.open("real_server", rs.Addr.String(), port(rs.Port))
	}
	p.line("weight", itoa(rs.Weight))
	if rs.InhibitOnFailure {
		p.line("inhibit_on_failure")
	}
	p.script("notify_up", rs.NotifyUp)
	p.script("notify_down", rs.NotifyDown)
	if rs.UThreshold != 0 {
		p.line("uthreshold", itoa(rs.UThreshold))
	}
	if rs.LThreshold != 0 {
		p.line("lthreshold", itoa(rs.LThreshold))
	}
	for j, c := range rs.Checks {
		p.check(vs, rs, c, omitConnectPort(j))
	}
	p.close()
}

// check writes a checker block with its effective timing.
func (p *printer) check(vs *config.VirtualServer, rs *config.RealServer, c *config.Check, omitConnectPort bool) {
	p.open(c.Kind.String())
	if c.Kind != config.CheckMisc {
		p.line("connect_ip", c.ConnectIP.String())
		if !omitConnectPort && c.ConnectPort != 0 {
			p.line("connect_port", port(c.ConnectPort))
		}
		if c.BindTo.IsValid() {
			p.line("bindto", c.BindTo.String())
		}
		if c.BindPort != 0 {
			p.line("bind_port", port(c.BindPort))
		}
		p.str("bind_if", c.BindIf)
		p.line("connect_timeout", seconds(c.ConnectTimeout))
	}
	p.line("delay_loop", seconds(c.DelayLoop))
	p.line("retry", itoa(c.Retry))
	p.line("delay_before_retry", seconds(c.DelayBeforeRetry))
	p.line("warmup", seconds(c.Warmup))
	switch {
	case c.Alpha:
		p.line("alpha")
	case vs.Alpha:
		p.line("alpha", "off") // the virtual server's alpha would apply
	}
	p.flag("log_all_failures", c.LogAllFailures)
	if h := c.HTTP; h != nil {
		p.str("virtualhost", h.VirtualHost)
		p.line("http_protocol", h.Protocol)
		p.flag("fast_recovery", h.FastRecovery)
		if c.Kind == config.CheckSSL {
			p.flag("enable_sni", h.EnableSNI)
		}
		for _, u := range h.URLs {
			p.url(u)
		}
	}
	if m := c.Misc; m != nil {
		p.line("misc_path", quote(m.Script.Cmd))
		if m.Script.User != "" {
			words := []string{"user", quote(m.Script.User)}
			if m.Script.Group != "" {
				words = append(words, quote(m.Script.Group))
			}
			p.line(words...)
		}
		p.line("misc_timeout", seconds(m.Timeout))
		p.flag("misc_dynamic", m.Dynamic)
	}
	if d := c.DNS; d != nil {
		p.line("type", d.Type)
		p.line("name", quote(d.Name))
	}
	if s := c.SMTP; s != nil {
		p.str("helo_name", s.HeloName)
	}
	p.close()
}

func (p *printer) url(u *config.URL) {
	p.open("url")
	p.line("path", quote(u.Path))
	p.str("digest", u.Digest)
	codes := []string{"status_code"}
	for _, r := range u.StatusCodes {
		if r.Min == r.Max {
			codes = append(codes, itoa(r.Min))
		} else {
			codes = append(codes, itoa(r.Min)+"-"+itoa(r.Max))
		}
	}
	p.line(codes...)
	p.str("virtualhost", u.VirtualHost)
	p.str("regex", u.Regex)
	p.flag("regex_no_match", u.RegexNoMatch)
	p.close()
}

// weight writes `weight W [reverse]`.
func (p *printer) weight(w int, reverse bool) {
	if reverse {
		p.line("weight", itoa(w), "reverse")
	} else {
		p.line("weight", itoa(w))
	}
}

func (p *printer) vrrpScript(s *config.VRRPScript) {
	p.open("vrrp_script", quote(s.Name))
	p.line("script", quote(s.Script.Cmd))
	if s.Script.User != "" {
		words := []string{"user", quote(s.Script.User)}
		if s.Script.Group != "" {
			words = append(words, quote(s.Script.Group))
		}
		p.line(words...)
	}
	p.line("interval", strconv.FormatInt(int64(s.Interval/time.Second), 10))
	p.line("timeout", strconv.FormatInt(int64(s.Timeout/time.Second), 10))
	p.weight(s.Weight, s.Reverse)
	p.line("rise", itoa(s.Rise))
	p.line("fall", itoa(s.Fall))
	p.flag("init_fail", s.InitFail)
	p.close()
}

func (p *printer) vrrpTrackFile(f *config.VRRPTrackFile) {
	p.open("vrrp_track_file", quote(f.Name))
	p.line("file", quote(f.File))
	p.weight(f.Weight, f.Reverse)
	if f.InitFile {
		words := []string{"init_file", itoa(f.InitValue)}
		if f.Overwrite {
			words = append(words, "overwrite")
		}
		p.line(words...)
	}
	p.close()
}

func (p *printer) vrrpTrackProcess(tp *config.VRRPTrackProcess) {
	p.open("vrrp_track_process", quote(tp.Name))
	words := []string{"process", quote(tp.Process)}
	for _, a := range tp.Args {
		words = append(words, quote(a))
	}
	p.line(words...)
	p.str("param_match", tp.ParamMatch)
	p.weight(tp.Weight, tp.Reverse)
	p.line("quorum", itoa(tp.Quorum))
	if tp.QuorumMax > 0 {
		p.line("quorum_max", itoa(tp.QuorumMax))
	}
	p.line("fork_delay", seconds(tp.ForkDelay))
	p.line("terminate_delay", seconds(tp.TerminateDelay))
	p.flag("full_command", tp.FullCommand)
	p.close()
}

func (p *printer) vrrpInstance(v *config.VRRPInstance) {
	p.open("vrrp_instance", quote(v.Name))
	p.line("state", v.State.String())
	p.str("interface", v.Interface)
	p.line("virtual_router_id", itoa(v.VirtualRouterID))
	p.line("priority", itoa(v.Priority))
	p.line("advert_int", seconds(v.AdvertInt))
	p.line("version", itoa(v.Version))
	if v.NoPreempt {
		p.line("nopreempt")
	}
	if v.PreemptDelay > 0 {
		p.line("preempt_delay", seconds(v.PreemptDelay))
	}
	if v.Accept {
		p.line("accept")
	} else {
		p.line("no_accept")
	}
	if v.AuthPass != "" {
		p.open("authentication")
		p.line("auth_type", "PASS")
		p.line("auth_pass", quote(v.AuthPass))
		p.close()
	}
	p.virtualIPs("virtual_ipaddress", v.VirtualIPs)
	p.virtualIPs("virtual_ipaddress_excluded", v.ExcludedIPs)
	if v.UnicastSrcIP.IsValid() {
		p.line("unicast_src_ip", v.UnicastSrcIP.String())
	}
	if len(v.UnicastPeers) > 0 {
		p.open("unicast_peer")
		for _, a := range v.UnicastPeers {
			p.line(a.String())
		}
		p.close()
	}
	p.flag("dont_track_primary", v.DontTrackPrimary)
	p.tracking(v.TrackInterfaces, v.TrackScripts, v.TrackFiles, v.TrackProcesses)
	p.script("notify_master", v.NotifyMaster)
	p.script("notify_backup", v.NotifyBackup)
	p.script("notify_fault", v.NotifyFault)
	p.script("notify_stop", v.NotifyStop)
	p.script("notify", v.Notify)
	p.line("garp_master_delay", seconds(v.GARPMasterDelay))
	p.line("garp_master_repeat", itoa(v.GARPMasterRepeat))
	p.line("garp_master_refresh", seconds(v.GARPMasterRefresh))
	p.line("garp_master_refresh_repeat", itoa(v.GARPMasterRefreshRepeat))
	p.close()
}

func (p *printer) virtualIPs(keyword string, ips []*config.VirtualIP) {
	if len(ips) == 0 {
		return
	}
	p.open(keyword)
	for _, ip := range ips {
		words := []string{ip.Prefix.String()}
		if ip.Brd.IsValid() {
			words = append(words, "brd", ip.Brd.String())
		}
		if ip.Dev != "" {
			words = append(words, "dev", quote(ip.Dev))
		}
		if ip.Scope != "" {
			words = append(words, "scope", ip.Scope)
		}
		if ip.Label != "" {
			words = append(words, "label", quote(ip.Label))
		}
		p.line(words...)
	}
	p.close()
}

// tracking writes the track_* blocks of an instance or sync group, every
// weight written out.
func (p *printer) tracking(ifs []*config.TrackInterface, scripts, files, procs []*config.Track) {
	if len(ifs) > 0 {
		p.open("track_interface")
		for _, t := range ifs {
			p.trackEntry(t.Name, t.Weight, t.Reverse)
		}
		p.close()
	}
	for i, ts := range [][]*config.Track{scripts, files, procs} {
		if len(ts) == 0 {
			continue
		}
		p.open([]string{"track_script", "track_file", "track_process"}[i])
		for _, t := range ts {
			p.trackEntry(t.Name, t.Weight, t.Reverse)
		}
		p.close()
	}
}

func (p *printer) trackEntry(name string, weight int, reverse bool) {
	words := []string{quote(name), "weight", itoa(weight)}
	if reverse {
		words = append(words, "reverse")
	}
	p.line(words...)
}

func (p *printer) vrrpSyncGroup(g *config.VRRPSyncGroup) {
	p.open("vrrp_sync_group", quote(g.Name))
	p.open("group")
	for _, name := range g.Instances {
		p.line(quote(name))
	}
	p.close()
	p.tracking(g.TrackInterfaces, g.TrackScripts, g.TrackFiles, g.TrackProcesses)
	p.script("notify_master", g.NotifyMaster)
	p.script("notify_backup", g.NotifyBackup)
	p.script("notify_fault", g.NotifyFault)
	p.script("notify_stop", g.NotifyStop)
	p.script("notify", g.Notify)
	p.close()
}
