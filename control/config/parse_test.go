package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func pos(line, col int) Position { return Position{File: "t.conf", Line: line, Col: col} }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseValid(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want *Config
	}{
		{
			desc: "empty file",
			src:  "",
			want: &Config{},
		},
		{
			desc: "comments only",
			src:  "# a comment\n! another\n   # indented\n",
			want: &Config{},
		},
		{
			desc: "defaults",
			src: `virtual_server 198.18.0.100 80 {
    real_server 198.18.1.1 8080 {
    }
}
`,
			want: &Config{VirtualServers: []*VirtualServer{{
				Pos: pos(1, 1), Addr: mustAddr("198.18.0.100"), Port: 80, Protocol: ProtoTCP,
				Scheduler: "wlc", SchedulerPos: pos(1, 1), Method: MethodNAT, MethodPos: pos(1, 1),
				Reals: []*RealServer{{Pos: pos(2, 5), Addr: mustAddr("198.18.1.1"), Port: 8080, Weight: 1}},
			}}},
		},
		{
			desc: "full phase-one config",
			src: `! xlb director
global_defs {
    xdp_interface eth0 eth1   # two at once
    xdp_interface "veth-a"
    xdp_mode generic
}

virtual_server 198.18.0.100 443
{
    lvs_sched RR
    lvs_method dr
    protocol udp
    real_server 198.18.1.1 443 {
        weight 3
    }
    real_server 198.18.1.2 443 { weight 0 }
    real_server 198.18.1.3 {
        weight 65535
    }
}

virtual_server 2001:db8::100 80 {
    lb_algo mh
    lb_kind TUN
    real_server 2001:db8::1 80 {
    }
}
`,
			want: &Config{
				Global: GlobalDefs{XDPInterfaces: []string{"eth0", "eth1", "veth-a"}, XDPMode: XDPModeGeneric, Pos: pos(2, 1)},
				VirtualServers: []*VirtualServer{{
					Pos: pos(8, 1), Addr: mustAddr("198.18.0.100"), Port: 443, Protocol: ProtoUDP,
					Scheduler: "rr", SchedulerPos: pos(10, 5), Method: MethodDR, MethodPos: pos(11, 5),
					Reals: []*RealServer{
						{Pos: pos(13, 5), Addr: mustAddr("198.18.1.1"), Port: 443, Weight: 3},
						{Pos: pos(16, 5), Addr: mustAddr("198.18.1.2"), Port: 443, Weight: 0},
						{Pos: pos(17, 5), Addr: mustAddr("198.18.1.3"), Port: 443, Weight: 65535},
					},
				}, {
					Pos: pos(22, 1), Addr: mustAddr("2001:db8::100"), Port: 80, Protocol: ProtoTCP,
					Scheduler: "mh", SchedulerPos: pos(23, 5), Method: MethodTUN, MethodPos: pos(24, 5),
					Reals: []*RealServer{{Pos: pos(25, 5), Addr: mustAddr("2001:db8::1"), Port: 80, Weight: 1}},
				}},
			},
		},
		{
			desc: "same address and port, different protocols",
			src: `virtual_server 198.18.0.1 53 { protocol TCP
}
virtual_server 198.18.0.1 53 {
  protocol UDP
}
`,
			want: &Config{VirtualServers: []*VirtualServer{{
				Pos: pos(1, 1), Addr: mustAddr("198.18.0.1"), Port: 53, Protocol: ProtoTCP,
				Scheduler: "wlc", SchedulerPos: pos(1, 1), MethodPos: pos(1, 1),
			}, {
				Pos: pos(3, 1), Addr: mustAddr("198.18.0.1"), Port: 53, Protocol: ProtoUDP,
				Scheduler: "wlc", SchedulerPos: pos(3, 1), MethodPos: pos(3, 1),
			}}},
		},
		{
			desc: "xdp_mode native and quoted words",
			src:  "global_defs {\n\txdp_mode 'native'\n\txdp_interface \"e\"th0\n}\n",
			want: &Config{Global: GlobalDefs{XDPInterfaces: []string{"eth0"}, XDPMode: XDPModeNative, Pos: pos(1, 1)}},
		},
		{
			desc: "comments start anywhere outside quotes",
			src:  "global_defs {\n xdp_interface a#b c\n xdp_interface \"d#e\" 'f!g'! real comment\n}\n",
			want: &Config{Global: GlobalDefs{XDPInterfaces: []string{"a", "d#e", "f!g"}, Pos: pos(1, 1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := Parse("t.conf", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: unexpected error:\n%v", err)
			}
			withDefaults(tt.want)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

// withDefaults fills the keepalived defaults into the fields of want that
// a test row leaves zero, so rows spell out only what they test.
func withDefaults(want *Config) {
	g := &want.Global
	if g.VRRPVersion == 0 {
		g.VRRPVersion = 2
	}
	if g.VRRPGARPMasterDelay == 0 {
		g.VRRPGARPMasterDelay = 5 * time.Second
	}
	if g.VRRPGARPMasterRepeat == 0 {
		g.VRRPGARPMasterRepeat = 5
	}
	if g.VRRPGARPMasterRefreshRepeat == 0 {
		g.VRRPGARPMasterRefreshRepeat = 1
	}
	if !g.VRRPMcastGroup4.IsValid() {
		g.VRRPMcastGroup4 = mustAddr("224.0.0.18")
	}
	if !g.VRRPMcastGroup6.IsValid() {
		g.VRRPMcastGroup6 = mustAddr("ff02::12")
	}
	for _, vs := range want.VirtualServers {
		if vs.DelayLoop == 0 {
			vs.DelayLoop = time.Minute
		}
		if vs.Quorum == 0 {
			vs.Quorum = 1
		}
		if vs.PersistenceGranularity == 0 {
			vs.PersistenceGranularity = vs.Addr.BitLen()
		}
	}
}

// dump prints a Config with its pointers followed, for failure messages.
func dump(c *Config) string {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v (%v)", c, err)
	}
	return string(b)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want []string
	}{
		{
			desc: "unknown directive in virtual_server",
			src:  "virtual_server 198.18.0.1 80 {\n  foo bar\n}\n",
			want: []string{`t.conf:2:3: unknown directive "foo" in virtual_server`},
		},
		{
			desc: "unknown directive at top level",
			src:  "  bogus 1 2\n",
			want: []string{`t.conf:1:3: unknown directive "bogus" in top level`},
		},
		{
			desc: "unknown directive in real_server and global_defs",
			src:  "global_defs {\n router_idx x\n}\nvirtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80 {\n  wieght 2\n }\n}\n",
			want: []string{
				`t.conf:2:2: unknown directive "router_idx" in global_defs`,
				`t.conf:6:3: unknown directive "wieght" in real_server`,
			},
		},
		{
			desc: "missing and extra arguments",
			src: `virtual_server 198.18.0.1 {
  lvs_sched
  lvs_method DR NAT
  protocol
}
virtual_server 198.18.0.2 80 90 {
}
`,
			want: []string{
				`t.conf:1:1: missing argument to virtual_server (usage: virtual_server IP PORT { ... })`,
				`t.conf:2:3: missing argument to lvs_sched (usage: lvs_sched NAME)`,
				`t.conf:3:17: too many arguments to lvs_method (usage: lvs_method NAT|DR|TUN)`,
				`t.conf:4:3: missing argument to protocol (usage: protocol TCP|UDP)`,
				`t.conf:6:30: too many arguments to virtual_server (usage: virtual_server IP PORT { ... })`,
			},
		},
		{
			desc: "bad addresses",
			src: `virtual_server 198.18.0.256 80 {
  real_server fe80::1%eth0 80 {
  }
}
virtual_server 198.18.0.1 80 {
  real_server 198.18.1 80 {
  }
}
`,
			want: []string{
				`t.conf:1:16: invalid IP address "198.18.0.256" in virtual_server`,
				`t.conf:2:15: invalid IP address "fe80::1%eth0" in real_server`,
				`t.conf:6:15: invalid IP address "198.18.1" in real_server`,
			},
		},
		{
			desc: "ports out of range",
			src: `virtual_server 198.18.0.1 0 {
}
virtual_server 198.18.0.2 65536 {
  real_server 198.18.1.1 -1 {
  }
  real_server 198.18.1.2 http {
  }
}
`,
			want: []string{
				`t.conf:1:27: virtual_server 198.18.0.1 port 0 serves every port and needs persistence_timeout, as in IPVS`,
				`t.conf:3:27: invalid port "65536" in virtual_server (want 1..65535)`,
				`t.conf:4:26: invalid port "-1" in real_server (want 1..65535)`,
				`t.conf:6:26: invalid port "http" in real_server (want 1..65535)`,
			},
		},
		{
			desc: "weight out of range",
			src: `virtual_server 198.18.0.1 80 {
  real_server 198.18.1.1 80 {
    weight 65536
  }
  real_server 198.18.1.2 80 {
    weight -1
  }
  real_server 198.18.1.3 80 {
    weight
  }
}
`,
			want: []string{
				`t.conf:3:12: invalid weight "65536" (want 0..65535)`,
				`t.conf:6:12: invalid weight "-1" (want 0..65535)`,
				`t.conf:9:5: missing argument to weight (usage: weight N)`,
			},
		},
		{
			desc: "real server of the other address family",
			src: `virtual_server 198.18.0.1 80 {
  real_server 2001:db8::1 80 {
  }
}
virtual_server 2001:db8::100 80 {
  real_server 198.18.1.1 80 {
  }
}
`,
			want: []string{
				`t.conf:2:15: real_server 2001:db8::1 is IPv6 but virtual_server 198.18.0.1 is IPv4`,
				`t.conf:6:15: real_server 198.18.1.1 is IPv4 but virtual_server 2001:db8::100 is IPv6`,
			},
		},
		{
			desc: "duplicate virtual servers and reals",
			src: `virtual_server 198.18.0.1 80 {
  real_server 198.18.1.1 80 {
  }
  real_server 198.18.1.1 80 {
  }
}
virtual_server 198.18.0.1 80 {
  protocol tcp
}
virtual_server 2001:db8::1 80 {
  real_server 2001:db8::2 {
  }
  real_server 2001:db8::2 80 {
  }
}
`,
			want: []string{
				`t.conf:4:3: duplicate real_server 198.18.1.1:80 in virtual_server 198.18.0.1:80 (first at t.conf:2:3)`,
				`t.conf:7:1: duplicate virtual_server 198.18.0.1:80 TCP (first at t.conf:1:1)`,
				`t.conf:13:3: duplicate real_server [2001:db8::2]:80 in virtual_server [2001:db8::1]:80 (first at t.conf:11:3)`,
			},
		},
		{
			desc: "unclosed brace",
			src: `virtual_server 198.18.0.1 80 {
  real_server 198.18.1.1 80 {
    weight 2
}
`,
			want: []string{`t.conf:1:30: unclosed "{" of virtual_server`},
		},
		{
			desc: "stray closing brace",
			src: `virtual_server 198.18.0.1 80 {
}
}
global_defs {
}
  }
`,
			want: []string{
				`t.conf:3:1: unexpected "}" with no open block`,
				`t.conf:6:3: unexpected "}" with no open block`,
			},
		},
		{
			desc: "brace with no directive",
			src:  "{\n  xdp_mode native\n}\n",
			want: []string{`t.conf:1:1: unexpected "{" with no directive before it`},
		},
		{
			desc: "block where none is taken and none where one is needed",
			src:  "virtual_server 198.18.0.1 80 {\n  lvs_sched rr {\n  }\n}\nvirtual_server 198.18.0.2 80\nglobal_defs\n",
			want: []string{
				`t.conf:2:16: lvs_sched does not take a { } block`,
				`t.conf:5:1: virtual_server needs a { } block`,
				`t.conf:6:1: global_defs needs a { } block`,
			},
		},
		{
			desc: "bad values",
			src: `global_defs {
  xdp_mode fast
  xdp_interface eth0 a/b eth0 waytoolonginterfacename
}
virtual_server 198.18.0.1 80 {
  lvs_sched fastest
  lvs_method gate
  protocol ICMP
}
virtual_server 198.18.0.2 80 {
  protocol sctp
  lb_kind masq
}
`,
			want: []string{
				`t.conf:2:12: invalid xdp_mode "fast" (want native or generic)`,
				`t.conf:3:22: invalid interface name "a/b" in xdp_interface`,
				`t.conf:3:26: interface "eth0" listed twice in xdp_interface`,
				`t.conf:3:31: invalid interface name "waytoolonginterfacename" in xdp_interface`,
				`t.conf:6:13: unknown scheduler "fastest" (want one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos)`,
				`t.conf:7:14: invalid lvs_method "gate" (want NAT, DR or TUN)`,
				`t.conf:8:12: invalid protocol "ICMP" (want TCP or UDP)`,
				`t.conf:11:12: protocol SCTP is not supported by xlb (want TCP or UDP)`,
				`t.conf:12:11: invalid lb_kind "masq" (want NAT, DR or TUN)`,
			},
		},
		{
			desc: "directive given twice, also through its alias",
			src: `virtual_server 198.18.0.1 80 {
  lvs_sched rr
  lb_algo wrr
  protocol TCP
  protocol UDP
}
`,
			want: []string{
				`t.conf:3:3: lb_algo given twice in virtual_server (first at t.conf:2:3)`,
				`t.conf:5:3: protocol given twice in virtual_server (first at t.conf:4:3)`,
			},
		},
		{
			desc: "nesting too deep",
			src:  strings.Repeat("a {\n", 40) + strings.Repeat("}\n", 40) + "bogus\n",
			want: []string{
				`t.conf:1:1: unknown directive "a" in top level`,
				`t.conf:33:3: blocks nested deeper than 32`,
				`t.conf:81:1: unknown directive "bogus" in top level`,
			},
		},
		{
			desc: "unterminated quote",
			src:  "global_defs {\n  xdp_interface \"eth0\n}\n",
			want: []string{`t.conf:2:17: unterminated quoted string`},
		},
		{
			desc: "errors after an error are still found",
			src: `virtual_server 198.18.0.999 80 {
  lvs_sched nope
  real_server 198.18.1.1 80 {
    weight 99999
  }
}
`,
			want: []string{
				`t.conf:1:16: invalid IP address "198.18.0.999" in virtual_server`,
				`t.conf:2:13: unknown scheduler "nope" (want one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos)`,
				`t.conf:4:12: invalid weight "99999" (want 0..65535)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cfg, err := Parse("t.conf", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse: no error, want:\n%s\n(config %s)", strings.Join(tt.want, "\n"), dump(cfg))
			}
			if cfg != nil {
				t.Errorf("Parse: config %s returned with errors, want nil", dump(cfg))
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse: error %T %v is not an ErrorList", err, err)
			}
			got := strings.Split(list.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse errors:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var one *Error
			if !errors.As(err, &one) || one != list[0] {
				t.Errorf("errors.As(*Error) = %v, want the first error %v", one, list[0])
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "xlb.conf")
	if err := os.WriteFile(path, []byte("virtual_server 198.18.0.1 80 {\n  lvs_sched sh\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseFile(path)
	if err != nil {
		t.Fatalf("ParseFile(%s): %v", path, err)
	}
	if len(cfg.VirtualServers) != 1 || cfg.VirtualServers[0].Scheduler != "sh" || cfg.VirtualServers[0].SchedulerPos.File != path {
		t.Errorf("ParseFile(%s) = %s, want one VS with scheduler sh at %s", path, dump(cfg), path)
	}

	_, err = ParseFile(filepath.Join(dir, "missing.conf"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile(missing) error = %v, want one wrapping os.ErrNotExist", err)
	}
	var list ErrorList
	if errors.As(err, &list) {
		t.Errorf("ParseFile(missing) returned an ErrorList %v, want a read error", list)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		desc string
		got  string
		want string
	}{
		{"position", pos(3, 7).String(), "t.conf:3:7"},
		{"error", Errorf(pos(1, 2), "bad %s", "thing").Error(), "t.conf:1:2: bad thing"},
		{"error list", ErrorList{Errorf(pos(1, 1), "a"), Errorf(pos(2, 1), "b")}.Error(), "t.conf:1:1: a\nt.conf:2:1: b"},
		{"TCP", ProtoTCP.String(), "TCP"},
		{"UDP", ProtoUDP.String(), "UDP"},
		{"other protocol", Protocol(1).String(), "Protocol(1)"},
		{"NAT", MethodNAT.String(), "NAT"},
		{"DR", MethodDR.String(), "DR"},
		{"TUN", MethodTUN.String(), "TUN"},
		{"auto", XDPModeAuto.String(), "auto"},
		{"native", XDPModeNative.String(), "native"},
		{"generic", XDPModeGeneric.String(), "generic"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
