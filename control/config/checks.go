package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CheckKind is the type of a real server checker.
type CheckKind uint8

const (
	CheckHTTP CheckKind = iota + 1 // HTTP_GET
	CheckSSL                       // SSL_GET
	CheckTCP                       // TCP_CHECK
	CheckMisc                      // MISC_CHECK
	CheckDNS                       // DNS_CHECK
	CheckSMTP                      // SMTP_CHECK
)

var checkNames = map[CheckKind]string{
	CheckHTTP: "HTTP_GET", CheckSSL: "SSL_GET", CheckTCP: "TCP_CHECK",
	CheckMisc: "MISC_CHECK", CheckDNS: "DNS_CHECK", CheckSMTP: "SMTP_CHECK",
}

// String returns the keepalived block name, e.g. "HTTP_GET".
func (k CheckKind) String() string {
	if s, ok := checkNames[k]; ok {
		return s
	}
	return fmt.Sprintf("CheckKind(%d)", uint8(k))
}

// MarshalText returns String, for JSON and logs.
func (k CheckKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Default checker timing, keepalived's.
const (
	DefaultDelayLoop      = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	// DefaultPersistenceTimeout is persistence_timeout with no value.
	DefaultPersistenceTimeout = 360 * time.Second
)

// Check is one checker block of a real server. The timing fields hold the
// effective values: the checker's own, else the real server's, else the
// virtual server's, else keepalived's default for the kind.
type Check struct {
	Pos  Position
	Kind CheckKind

	// ConnectIP and ConnectPort are where to connect (connect_ip,
	// connect_port; default the real's address and port).
	ConnectIP   netip.Addr
	ConnectPort uint16
	// BindTo and BindPort are the source address and port (bindto,
	// bind_port; default chosen by the kernel); BindIf the interface
	// (bind_if).
	BindTo   netip.Addr
	BindPort uint16
	BindIf   string

	// ConnectTimeout bounds one attempt (connect_timeout, default 5s).
	ConnectTimeout time.Duration
	// Retry is how many more attempts fail a real that was up (retry,
	// alias nb_get_retry; default 1, DNS_CHECK 3, MISC_CHECK 0).
	Retry int
	// DelayBeforeRetry is the pause between those attempts
	// (delay_before_retry; default 3s for HTTP_GET/SSL_GET, delay_loop for
	// DNS_CHECK, else 1s).
	DelayBeforeRetry time.Duration
	// DelayLoop is the interval between checks (delay_loop, default 60s).
	DelayLoop time.Duration
	// Warmup is the most the first check is delayed, at random (warmup,
	// default delay_loop; 0: start at once).
	Warmup time.Duration
	// Alpha starts the checker failed (alpha).
	Alpha bool
	// LogAllFailures logs every failure, not only state changes
	// (log_all_failures).
	LogAllFailures bool

	HTTP *HTTPCheck // HTTP_GET and SSL_GET
	Misc *MiscCheck // MISC_CHECK
	DNS  *DNSCheck  // DNS_CHECK
	SMTP *SMTPCheck // SMTP_CHECK
}

// HTTPCheck holds the HTTP_GET/SSL_GET settings.
type HTTPCheck struct {
	URLs []*URL
	// VirtualHost is the Host header (virtualhost; default the real's,
	// else the virtual server's, else the connect address).
	VirtualHost string
	// Protocol is the HTTP version sent: "1.0" (default), "1.0C" (1.0 with
	// Connection: close) or "1.1" (http_protocol).
	Protocol string
	// FastRecovery checks all URLs without delay_loop between them
	// (fast_recovery).
	FastRecovery bool
	// EnableSNI sends the server name in the TLS handshake (enable_sni,
	// SSL_GET).
	EnableSNI bool
}

// URL is one url block: a request and what the answer must be.
type URL struct {
	Pos  Position
	Path string
	// Digest is the MD5 of the body in lower-case hex (digest); empty: not
	// checked.
	Digest string
	// StatusCodes are the accepted status ranges (status_code; default
	// 200-299).
	StatusCodes []StatusRange
	// VirtualHost overrides the checker's Host header.
	VirtualHost string
	// Regex must match the body (regex), or must not when RegexNoMatch
	// (regex_no_match). It is compiled with Go's regexp (RE2 syntax).
	Regex        string
	RegexNoMatch bool
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// MiscCheck holds the MISC_CHECK settings.
type MiscCheck struct {
	// Script is the program to run (misc_path) and its user (user).
	Script *Script
	// Timeout kills the program after this long (misc_timeout; default
	// the checker's delay_loop).
	Timeout time.Duration
	// Dynamic sets the real's weight from the exit status 2..255 (weight =
	// status - 2); 0 is up, 1 is down (misc_dynamic).
	Dynamic bool
}

// DNSCheck holds the DNS_CHECK settings.
type DNSCheck struct {
	// Type is the query type: A, NS, CNAME, SOA (default), MX, TXT or AAAA.
	Type string
	// Name is the name queried (default ".").
	Name string
}

// SMTPCheck holds the SMTP_CHECK settings.
type SMTPCheck struct {
	// HeloName is the HELO argument (helo_name; empty: the host name).
	HeloName string
}

// timing is checker timing as written at one level (virtual server, real
// server, checker); nil fields were not written.
type timing struct {
	delayLoop, connectTimeout, delayBeforeRetry, warmup *time.Duration
	retry                                               *int
	alpha                                               *bool
}

// over returns t with its unset fields taken from base.
func (t timing) over(base timing) timing {
	if t.delayLoop == nil {
		t.delayLoop = base.delayLoop
	}
	if t.connectTimeout == nil {
		t.connectTimeout = base.connectTimeout
	}
	if t.delayBeforeRetry == nil {
		t.delayBeforeRetry = base.delayBeforeRetry
	}
	if t.warmup == nil {
		t.warmup = base.warmup
	}
	if t.retry == nil {
		t.retry = base.retry
	}
	if t.alpha == nil {
		t.alpha = base.alpha
	}
	return t
}

const maxTimer = 24 * time.Hour

// timingDirs adds the timing directives to table, recording into t.
func (d *decoder) timingDirs(table map[string]directive, t *timing, withConnect bool) {
	table["delay_loop"] = d.optDurationDir(&t.delayLoop, maxTimer)
	table["delay_before_retry"] = d.optDurationDir(&t.delayBeforeRetry, maxTimer)
	table["warmup"] = d.optDurationDir(&t.warmup, maxTimer)
	retry := directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" N") {
			return
		}
		if v, ok := d.int(c.args[0], c.name, 0, 1<<31-1); ok {
			r := int(v)
			t.retry = &r
		}
	}}
	table["retry"] = directive{canon: "retry", fn: retry.fn}
	table["nb_get_retry"] = directive{canon: "retry", fn: retry.fn}
	table["alpha"] = directive{fn: func(c *node) {
		if !d.nargs(c, 0, 1, c.name+" [on|off]") {
			return
		}
		v := true
		if len(c.args) == 1 {
			var ok bool
			if v, ok = d.boolWord(c.args[0], c.name); !ok {
				return
			}
		}
		t.alpha = &v
	}}
	if withConnect {
		table["connect_timeout"] = d.optDurationDir(&t.connectTimeout, maxTimer)
	}
}

// pendingCheck is a decoded checker waiting for the timing of its real and
// virtual server, known only at the end of the virtual_server block.
type pendingCheck struct {
	c *Check
	t timing
}

// resolve fills the effective timing of c from its own, rs and vs levels.
func (p pendingCheck) resolve(rs, vs timing) {
	t := p.t.over(rs.over(vs))
	c := p.c
	c.DelayLoop = DefaultDelayLoop
	if t.delayLoop != nil {
		c.DelayLoop = *t.delayLoop
	}
	c.ConnectTimeout = DefaultConnectTimeout
	if t.connectTimeout != nil {
		c.ConnectTimeout = *t.connectTimeout
	}
	if c.Kind == CheckMisc {
		c.ConnectTimeout = 0 // misc_timeout bounds the program instead
	}
	switch {
	case t.retry != nil:
		c.Retry = *t.retry
	case c.Kind == CheckDNS:
		c.Retry = 3
	case c.Kind == CheckMisc:
		c.Retry = 0
	default:
		c.Retry = 1
	}
	switch {
	case t.delayBeforeRetry != nil:
		c.DelayBeforeRetry = *t.delayBeforeRetry
	case c.Kind == CheckHTTP || c.Kind == CheckSSL:
		c.DelayBeforeRetry = 3 * time.Second
	case c.Kind == CheckDNS:
		c.DelayBeforeRetry = c.DelayLoop
	default:
		c.DelayBeforeRetry = time.Second
	}
	c.Warmup = c.DelayLoop
	if t.warmup != nil {
		c.Warmup = *t.warmup
	}
	if t.alpha != nil {
		c.Alpha = *t.alpha
	}
	if c.Misc != nil && c.Misc.Timeout == 0 {
		c.Misc.Timeout = c.DelayLoop
	}
}

// checkKinds maps checker block names to kinds.
var checkKinds = map[string]CheckKind{
	"HTTP_GET": CheckHTTP, "SSL_GET": CheckSSL, "TCP_CHECK": CheckTCP,
	"MISC_CHECK": CheckMisc, "DNS_CHECK": CheckDNS, "SMTP_CHECK": CheckSMTP,
}

// unsupportedChecks are keepalived checkers xlb does not implement.
var unsupportedChecks = map[string]string{
	"BFD_CHECK":  "use TCP_CHECK or MISC_CHECK",
	"PING_CHECK": "use TCP_CHECK or MISC_CHECK",
	"UDP_CHECK":  "use DNS_CHECK or MISC_CHECK",
	"FILE_CHECK": "use MISC_CHECK",
}

// check decodes a checker block of real server rs.
func (d *decoder) check(n *node, rs *RealServer, rsHost *string) *pendingCheck {
	kind := checkKinds[n.name]
	d.nargs(n, 0, 0, n.name+" { ... }")
	c := &Check{Pos: n.pos, Kind: kind}
	p := &pendingCheck{c: c}
	table := map[string]directive{}
	d.timingDirs(table, &p.t, kind != CheckMisc)
	if kind != CheckMisc {
		table["connect_ip"] = d.addrDir(&c.ConnectIP)
		table["connect_port"] = d.portDir(&c.ConnectPort)
		table["bindto"] = d.addrDir(&c.BindTo)
		table["bind_port"] = d.portDir(&c.BindPort)
		table["bind_if"] = directive{fn: func(x *node) {
			if !d.nargs(x, 1, 1, "bind_if IFNAME") {
				return
			}
			if !validIfName(x.args[0].text) {
				d.errorf(x.args[0].pos, "invalid interface name %q in bind_if", x.args[0].text)
				return
			}
			c.BindIf = x.args[0].text
		}}
	}
	table["log_all_failures"] = d.optBoolDir(&c.LogAllFailures)
	unsupported := map[string]string{
		"fwmark": "checker packets cannot be marked",
	}
	var where = n.name
	switch kind {
	case CheckHTTP, CheckSSL:
		c.HTTP = &HTTPCheck{Protocol: "1.0"}
		table["virtualhost"] = d.stringDir(&c.HTTP.VirtualHost)
		table["fast_recovery"] = d.optBoolDir(&c.HTTP.FastRecovery)
		table["http_protocol"] = directive{fn: func(x *node) {
			if !d.nargs(x, 1, 1, "http_protocol 1.0|1.0C|1.1") {
				return
			}
			switch v := strings.ToUpper(x.args[0].text); v {
			case "1.0", "1.0C", "1.1":
				c.HTTP.Protocol = v
			default:
				d.errorf(x.args[0].pos, "invalid http_protocol %q (want 1.0, 1.0C or 1.1)", x.args[0].text)
			}
		}}
		table["url"] = directive{block: true, repeat: true, fn: func(x *node) {
			if u := d.url(x); u != nil {
				c.HTTP.URLs = append(c.HTTP.URLs, u)
			}
		}}
		if kind == CheckSSL {
			table["enable_sni"] = d.flagDir(&c.HTTP.EnableSNI)
		}
	case CheckMisc:
		c.Misc = &MiscCheck{}
		var user *node
		table["misc_path"] = directive{fn: func(x *node) {
			if !d.nargs(x, 1, 1, "misc_path COMMAND") {
				return
			}
			c.Misc.Script = &Script{Pos: x.pos, Cmd: x.args[0].text}
		}}
		table["misc_timeout"] = d.durationDir(&c.Misc.Timeout, maxTimer)
		table["misc_dynamic"] = d.flagDir(&c.Misc.Dynamic)
		table["user"] = directive{fn: func(x *node) {
			if d.nargs(x, 1, 2, "user USER [GROUP]") {
				user = x
			}
		}}
		defer func() {
			if c.Misc.Script == nil {
				d.errorf(n.pos, "MISC_CHECK needs misc_path")
				return
			}
			if user != nil {
				c.Misc.Script.User = user.args[0].text
				if len(user.args) > 1 {
					c.Misc.Script.Group = user.args[1].text
				}
			}
		}()
	case CheckDNS:
		c.DNS = &DNSCheck{Type: "SOA", Name: "."}
		table["type"] = directive{fn: func(x *node) {
			if !d.nargs(x, 1, 1, "type A|NS|CNAME|SOA|MX|TXT|AAAA") {
				return
			}
			switch v := strings.ToUpper(x.args[0].text); v {
			case "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA":
				c.DNS.Type = v
			default:
				d.errorf(x.args[0].pos, "invalid DNS type %q (want A, NS, CNAME, SOA, MX, TXT or AAAA)", x.args[0].text)
			}
		}}
		table["name"] = d.stringDir(&c.DNS.Name)
	case CheckSMTP:
		c.SMTP = &SMTPCheck{}
		table["helo_name"] = d.stringDir(&c.SMTP.HeloName)
		unsupported["host"] = "use one SMTP_CHECK per address with connect_ip and connect_port"
	}
	d.walk(n.block, where, table, unsupported)
	if c.HTTP != nil {
		if len(c.HTTP.URLs) == 0 {
			d.errorf(n.pos, "%s needs at least one url block", n.name)
		}
		if c.HTTP.VirtualHost == "" {
			c.HTTP.VirtualHost = *rsHost
		}
	}
	if kind == CheckMisc {
		return p // connects nowhere
	}
	if !c.ConnectIP.IsValid() {
		c.ConnectIP = rs.Addr
	}
	if c.ConnectPort == 0 {
		c.ConnectPort = rs.Port // 0 when the real has no port: set with it by the virtual server
	}
	if c.ConnectIP.IsValid() && c.BindTo.IsValid() && c.ConnectIP.Is4() != c.BindTo.Is4() {
		d.errorf(n.pos, "%s: bindto %s and connect address %s are of different families", n.name, c.BindTo, c.ConnectIP)
	}
	return p
}

// url decodes a url block of an HTTP_GET/SSL_GET checker.
func (d *decoder) url(n *node) *URL {
	d.nargs(n, 0, 0, "url { ... }")
	u := &URL{Pos: n.pos}
	table := map[string]directive{
		"path": d.stringDir(&u.Path),
		"digest": {fn: func(x *node) {
			if !d.nargs(x, 1, 1, "digest MD5HEX") {
				return
			}
			v := strings.ToLower(x.args[0].text)
			if b, err := hex.DecodeString(v); err != nil || len(b) != 16 {
				d.errorf(x.args[0].pos, "invalid digest %q (want 32 hex digits of an MD5 sum)", x.args[0].text)
				return
			}
			u.Digest = v
		}},
		"status_code": {fn: func(x *node) {
			if !d.nargs(x, 1, -1, "status_code CODE|MIN-MAX...") {
				return
			}
			for _, a := range x.args {
				r, ok := parseStatusRange(a.text)
				if !ok {
					d.errorf(a.pos, "invalid status_code %q (want 100..599 or a range like 200-299)", a.text)
					continue
				}
				u.StatusCodes = append(u.StatusCodes, r)
			}
		}},
		"virtualhost": d.stringDir(&u.VirtualHost),
		"regex": {fn: func(x *node) {
			if !d.nargs(x, 1, 1, "regex REGEX") {
				return
			}
			if _, err := regexp.Compile(x.args[0].text); err != nil {
				d.errorf(x.args[0].pos, "invalid regex %q: %v", x.args[0].text, err)
				return
			}
			u.Regex = x.args[0].text
		}},
		"regex_no_match": d.flagDir(&u.RegexNoMatch),
	}
	unsupported := map[string]string{
		"regex_options":    "use Go regexp flags in the regex, e.g. (?i)",
		"regex_stack":      "",
		"regex_min_offset": "",
		"regex_max_offset": "",
	}
	d.walk(n.block, "url", table, unsupported)
	if u.Path == "" {
		d.errorf(n.pos, "url needs a path")
		return nil
	}
	if u.RegexNoMatch && u.Regex == "" {
		d.errorf(n.pos, "regex_no_match needs a regex")
	}
	if len(u.StatusCodes) == 0 {
		u.StatusCodes = []StatusRange{{200, 299}}
	}
	return u
}

func parseStatusRange(s string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
		return StatusRange{}, false
	}
	return StatusRange{a, b}, true
}
