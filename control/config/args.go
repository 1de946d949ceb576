package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// This file holds the argument parsers and directive constructors the block
// decoders share.

// duration parses a keepalived <TIMER>: seconds, fractions allowed
// ("2.5"), resolution one microsecond.
func (d *decoder) duration(t token, what string, max time.Duration) (time.Duration, bool) {
	f, err := strconv.ParseFloat(t.text, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(time.Second) > float64(max) ||
		strings.ContainsAny(t.text, "xXpPeEnN_") {
		d.errorf(t.pos, "invalid %s %q (want seconds, 0..%g)", what, t.text, max.Seconds())
		return 0, false
	}
	return time.Duration(f*1e6) * time.Microsecond, true
}

// int parses a signed integer argument in [min, max].
func (d *decoder) int(t token, what string, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(t.text, 10, 64)
	if err != nil || v < min || v > max {
		d.errorf(t.pos, "invalid %s %q (want %d..%d)", what, t.text, min, max)
		return 0, false
	}
	return v, true
}

// boolWord parses a keepalived <BOOL>.
func (d *decoder) boolWord(t token, what string) (bool, bool) {
	switch strings.ToLower(t.text) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	d.errorf(t.pos, "invalid %s %q (want on, off, true, false, yes or no)", what, t.text)
	return false, false
}

// Script is a program a directive names (notify scripts, checker and
// tracking scripts), with the user and group to run it as.
type Script struct {
	Pos Position // of the directive
	// Cmd is the command as written: the program and its arguments
	// separated by spaces; a single-quoted part is one argument.
	Cmd   string
	User  string // empty: the global script_user
	Group string // empty: the user's group
}

// Args splits Cmd into the program and its arguments, keepalived style:
// words separated by white space, '...' keeping spaces.
func (s *Script) Args() []string {
	var args []string
	var b strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s.Cmd); i++ {
		c := s.Cmd[i]
		switch {
		case c == '\'':
			quoted = !quoted
			in = true
		case !quoted && (c == ' ' || c == '\t'):
			if in {
				args = append(args, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if in {
		args = append(args, b.String())
	}
	return args
}

// script decodes `KEYWORD CMD [USER [GROUP]]`.
func (d *decoder) script(n *node) *Script {
	if !d.nargs(n, 1, 3, n.name+" COMMAND [USER [GROUP]]") {
		return nil
	}
	s := &Script{Pos: n.pos, Cmd: n.args[0].text}
	if strings.TrimSpace(s.Cmd) == "" {
		d.errorf(n.args[0].pos, "empty command in %s", n.name)
		return nil
	}
	if len(n.args) > 1 {
		s.User = n.args[1].text
	}
	if len(n.args) > 2 {
		s.Group = n.args[2].text
	}
	return s
}

// Directive constructors for the common shapes.

// flagDir is a directive with no argument that sets *p.
func (d *decoder) flagDir(p *bool) directive {
	return directive{fn: func(c *node) {
		if d.nargs(c, 0, 0, c.name) {
			*p = true
		}
	}}
}

// optBoolDir is `KEYWORD [<BOOL>]`: alone it means on.
func (d *decoder) optBoolDir(p *bool) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 0, 1, c.name+" [on|off]") {
			return
		}
		if len(c.args) == 0 {
			*p = true
			return
		}
		if v, ok := d.boolWord(c.args[0], c.name); ok {
			*p = v
		}
	}}
}

// stringDir is `KEYWORD STRING`.
func (d *decoder) stringDir(p *string) directive {
	return directive{fn: func(c *node) {
		if d.nargs(c, 1, 1, c.name+" STRING") {
			*p = c.args[0].text
		}
	}}
}

// durationDir is `KEYWORD SECONDS`.
func (d *decoder) durationDir(p *time.Duration, max time.Duration) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" SECONDS") {
			return
		}
		if v, ok := d.duration(c.args[0], c.name, max); ok {
			*p = v
		}
	}}
}

// optDurationDir is durationDir into an optional value.
func (d *decoder) optDurationDir(p **time.Duration, max time.Duration) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" SECONDS") {
			return
		}
		if v, ok := d.duration(c.args[0], c.name, max); ok {
			*p = &v
		}
	}}
}

// intDir is `KEYWORD N` with N in [min, max].
func (d *decoder) intDir(p *int, min, max int64) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" N") {
			return
		}
		if v, ok := d.int(c.args[0], c.name, min, max); ok {
			*p = int(v)
		}
	}}
}

// scriptDir is `KEYWORD COMMAND [USER [GROUP]]`.
func (d *decoder) scriptDir(p **Script) directive {
	return directive{fn: func(c *node) {
		if s := d.script(c); s != nil {
			*p = s
		}
	}}
}

// addrDir is `KEYWORD IP`.
func (d *decoder) addrDir(p *netip.Addr) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" IP") {
			return
		}
		if a, ok := d.addr(c.args[0], c.name); ok {
			*p = a
		}
	}}
}

// portDir is `KEYWORD PORT`.
func (d *decoder) portDir(p *uint16) directive {
	return directive{fn: func(c *node) {
		if !d.nargs(c, 1, 1, c.name+" PORT") {
			return
		}
		if v, ok := d.port(c.args[0], c.name); ok {
			*p = v
		}
	}}
}
