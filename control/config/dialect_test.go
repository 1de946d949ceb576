package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseErrors parses src and returns its error lines; it fails the test
// when there is no ErrorList.
func parseErrors(t *testing.T, name string, src []byte) []string {
	t.Helper()
	cfg, err := Parse(name, src)
	if err == nil {
		t.Fatalf("Parse: no error (config %s)", dump(cfg))
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse: error %T %v is not an ErrorList", err, err)
	}
	return strings.Split(list.Error(), "\n")
}

func TestParseDialectErrors(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want []string
	}{
		{
			desc: "virtual_server_group ranges",
			src: `virtual_server_group g {
  198.18.0.10-9 80
  198.18.0.10-256 80
  198.18.0.0/23 80
  2001:db8::1-fff 80
  198.18.0.1-x 80
  198.18.0.1
  fwmark 1
  198.18.0.5 80 90
  198.18.0.1-2 80
  198.18.0.2 80
  2001:db8::1 80
}
virtual_server group g {
}
`,
			want: []string{
				`t.conf:2:3: address range "198.18.0.10-9" in virtual_server_group is reversed; did you mean "198.18.0.9-10"?`,
				`t.conf:3:3: address range "198.18.0.10-256" in virtual_server_group ends past the last address of its block; the nearest valid one is "198.18.0.10-255"`,
				`t.conf:4:3: address range 198.18.0.0/23 in virtual_server_group holds more than 256 addresses; the nearest valid one is 198.18.0.0/24`,
				`t.conf:5:3: address range "2001:db8::1-fff" in virtual_server_group holds 4095 addresses, more than 256; the nearest valid one is "2001:db8::1-100"`,
				`t.conf:6:3: invalid address range "198.18.0.1-x" in virtual_server_group`,
				`t.conf:7:3: missing port after 198.18.0.1 in virtual_server_group (usage: IP|RANGE PORT)`,
				`t.conf:8:3: fwmark in virtual_server_group is not supported by xlb; list the addresses and ports instead`,
				`t.conf:9:17: too many arguments in virtual_server_group entry (usage: IP|RANGE PORT)`,
				`t.conf:11:3: 198.18.0.2:80 listed twice in virtual_server_group g (first at t.conf:10:3)`,
				`t.conf:12:3: virtual_server_group g mixes IPv4 and IPv6 addresses`,
			},
		},
		{
			desc: "virtual_server group references",
			src: `virtual_server_group v4 {
  198.18.0.1 80
}
virtual_server group nope {
}
virtual_server group v4 {
  real_server 2001:db8::1 80 {
  }
}
virtual_server fwmark 1 {
}
`,
			want: []string{
				`t.conf:4:22: unknown virtual_server_group "nope"`,
				`t.conf:7:3: real_server 2001:db8::1 is IPv6 but virtual_server_group v4 is IPv4`,
				`t.conf:10:16: virtual_server fwmark is not supported by xlb; use virtual_server IP PORT or a virtual_server_group`,
			},
		},
		{
			desc: "group members that duplicate a virtual server",
			src: `virtual_server_group g {
  198.18.0.1-2 80
}
virtual_server 198.18.0.2 80 {
}
virtual_server group g {
}
`,
			want: []string{
				`t.conf:6:1: duplicate virtual_server 198.18.0.2:80 TCP (first at t.conf:4:1)`,
			},
		},
		{
			desc: "virtual_server directives",
			src: `virtual_server 198.18.0.1 80 {
  persistence_timeout 0
  persistence_granularity 255.0.255.0
  quorum 0
  delay_loop -1
  delay_loop 1x
  smtp_alert on
  sorry_server 2001:db8::1 80
  ops
  persistence_engine sip
  sh-port
  flag-2
}
virtual_server 198.18.0.2 80 {
  sorry_server_inhibit
  quorum 2
  hysteresis 2
  persistence_granularity 33
  real_server 198.18.1.1 80 {
  }
}
`,
			want: []string{
				`t.conf:1:1: ops (one-packet scheduling) needs protocol UDP`,
				`t.conf:2:23: invalid persistence_timeout "0" (want 1..2147483647)`,
				`t.conf:3:27: invalid persistence_granularity "255.0.255.0" (want a netmask like 255.255.255.0 or a prefix length)`,
				`t.conf:4:10: invalid quorum "0" (want 1..2147483647)`,
				`t.conf:5:14: invalid delay_loop "-1" (want seconds, 0..86400)`,
				`t.conf:6:3: delay_loop given twice in virtual_server (first at t.conf:5:3)`,
				`t.conf:7:3: smtp_alert is not supported by xlb; use quorum_up/quorum_down or notify_up/notify_down scripts`,
				`t.conf:8:16: sorry_server 2001:db8::1 is IPv6 but virtual_server 198.18.0.1 is IPv4`,
				`t.conf:10:3: persistence_engine is not supported by xlb`,
				`t.conf:12:3: flag-2 given twice in virtual_server (first at t.conf:11:3)`,
				`t.conf:14:1: hysteresis 2 must be less than quorum 2`,
				`t.conf:14:1: sorry_server_inhibit needs a sorry_server`,
				`t.conf:14:1: persistence_granularity /33 is longer than an IPv4 address`,
			},
		},
		{
			desc: "real_server directives",
			src: `virtual_server 198.18.0.1 80 {
  real_server 198.18.1.1 80 {
    lvs_method DR
    uthreshold 10
    lthreshold 20
    notify_up
    notify_down "" root
    inhibit_on_failure maybe
    PING_CHECK {
    }
  }
}
`,
			want: []string{
				`t.conf:2:3: lthreshold 20 is above uthreshold 10`,
				`t.conf:3:5: lvs_method is not supported by xlb; set lvs_method in the virtual_server; xlb forwards all reals of a virtual server the same way`,
				`t.conf:6:5: missing argument to notify_up (usage: notify_up COMMAND [USER [GROUP]])`,
				`t.conf:7:17: empty command in notify_down`,
				`t.conf:8:24: invalid inhibit_on_failure "maybe" (want on, off, true, false, yes or no)`,
				`t.conf:9:5: PING_CHECK is not supported by xlb; use TCP_CHECK or MISC_CHECK`,
			},
		},
		{
			desc: "checker errors",
			src: `virtual_server 198.18.0.1 80 {
  real_server 198.18.1.1 80 {
    HTTP_GET {
      url {
        digest 1234
        status_code 200-199 99 600 abc
        regex "a("
        regex_options caseless
      }
      url {
        path /
        regex_no_match
      }
      http_protocol 2
      enable_sni
    }
    SSL_GET {
    }
    MISC_CHECK {
      connect_port 80
    }
    DNS_CHECK {
      type PTR
      bindto 2001:db8::1
    }
    TCP_CHECK {
      connect_port 0
      retry -1
      nb_get_retry 3
      fwmark 1
    }
  }
}
`,
			want: []string{
				`t.conf:4:7: url needs a path`,
				`t.conf:5:16: invalid digest "1234" (want 32 hex digits of an MD5 sum)`,
				`t.conf:6:21: invalid status_code "200-199" (want 100..599 or a range like 200-299)`,
				`t.conf:6:29: invalid status_code "99" (want 100..599 or a range like 200-299)`,
				`t.conf:6:32: invalid status_code "600" (want 100..599 or a range like 200-299)`,
				`t.conf:6:36: invalid status_code "abc" (want 100..599 or a range like 200-299)`,
				"t.conf:7:15: invalid regex \"a(\": error parsing regexp: missing closing ): `a(`",
				`t.conf:8:9: regex_options is not supported by xlb; use Go regexp flags in the regex, e.g. (?i)`,
				`t.conf:10:7: regex_no_match needs a regex`,
				`t.conf:14:21: invalid http_protocol "2" (want 1.0, 1.0C or 1.1)`,
				`t.conf:15:7: unknown directive "enable_sni" in HTTP_GET`,
				`t.conf:17:5: SSL_GET needs at least one url block`,
				`t.conf:19:5: MISC_CHECK needs misc_path`,
				`t.conf:20:7: unknown directive "connect_port" in MISC_CHECK`,
				`t.conf:22:5: DNS_CHECK: bindto 2001:db8::1 and connect address 198.18.1.1 are of different families`,
				`t.conf:23:12: invalid DNS type "PTR" (want A, NS, CNAME, SOA, MX, TXT or AAAA)`,
				`t.conf:27:20: invalid port "0" in connect_port (want 1..65535)`,
				`t.conf:28:13: invalid retry "-1" (want 0..2147483647)`,
				`t.conf:29:7: nb_get_retry given twice in TCP_CHECK (first at t.conf:28:7)`,
				`t.conf:30:7: fwmark is not supported by xlb; checker packets cannot be marked`,
			},
		},
		{
			desc: "vrrp_instance errors",
			src: `vrrp_instance A {
  state PRIMARY
  priority 0
  advert_int 0.001
  version 4
  virtual_ipaddress {
    198.18.0.1/33
    198.18.0.2 dev
    198.18.0.3 nodad
    2001:db8::1
    198.18.0.4 scope moon
  }
  use_vmac
  authentication {
    auth_pass secret
  }
}
vrrp_instance B {
  state MASTER
  interface eth0
  virtual_router_id 7
  nopreempt
  version 3
  authentication {
    auth_type PASS
    auth_pass 12345678
  }
  virtual_ipaddress {
    2001:db8::5
  }
  unicast_src_ip 198.18.0.9
}
vrrp_instance C {
  interface eth0
  virtual_router_id 7
  authentication {
    auth_type pass
    auth_pass 123456789
  }
  virtual_ipaddress {
    2001:db8::6
  }
  track_script {
    nope
    chk weight 300
    chk bogus
  }
}
vrrp_sync_group S {
  group {
    C
    D
  }
}
vrrp_sync_group T {
}
`,
			want: []string{
				`t.conf:1:1: vrrp_instance A needs virtual_router_id`,
				`t.conf:1:1: vrrp_instance A needs an interface (or unicast_peer)`,
				`t.conf:2:9: invalid state "PRIMARY" (want MASTER or BACKUP)`,
				`t.conf:3:12: invalid priority "0" (want 1..255)`,
				`t.conf:4:14: invalid advert_int "0.001" (want at least 0.01 seconds)`,
				`t.conf:5:11: invalid version "4" (want 2..3)`,
				`t.conf:7:5: invalid address "198.18.0.1/33" in virtual_ipaddress (want IP or IP/LEN)`,
				`t.conf:8:16: missing value after dev in virtual_ipaddress`,
				`t.conf:9:16: option "nodad" of virtual_ipaddress is not supported by xlb (want brd, dev, scope or label)`,
				`t.conf:11:22: invalid scope "moon" (want site, link, host, nowhere or global)`,
				`t.conf:13:3: use_vmac is not supported by xlb`,
				`t.conf:14:3: authentication needs auth_type PASS`,
				`t.conf:18:1: unicast_src_ip 198.18.0.9 is IPv4 but the virtual addresses are IPv6`,
				`t.conf:18:1: authentication is VRRPv2 only; vrrp_instance B runs version 3`,
				`t.conf:22:3: nopreempt needs state BACKUP (state MASTER at t.conf:19:3)`,
				`t.conf:33:1: vrrp_instance C uses virtual_router_id 7 on eth0 like vrrp_instance B (at t.conf:18:1)`,
				`t.conf:38:15: auth_pass is longer than 8 characters; VRRP uses only the first 8, write those`,
				`t.conf:44:5: unknown vrrp_script "nope" in track_script`,
				`t.conf:45:16: invalid weight "300" (want -253..253)`,
				`t.conf:46:9: unexpected "bogus" after chk (usage: NAME [weight W [reverse]])`,
				`t.conf:49:1: unknown vrrp_instance "D" in vrrp_sync_group S`,
				`t.conf:55:1: vrrp_sync_group T needs group { INSTANCE... }`,
			},
		},
		{
			desc: "vrrp tracking blocks",
			src: `vrrp_script s {
  interval 0
  weight 254
  rise 0
}
vrrp_script s2 {
  script /bin/true
  weight 5 backwards
}
vrrp_track_file f {
  weight 1
}
vrrp_track_process p {
  process
  param_match some
  quorum 3
  quorum_max 2
}
vrrp_script s2 {
  script /bin/false
}
`,
			want: []string{
				`t.conf:1:1: vrrp_script s needs script`,
				`t.conf:2:12: invalid interval "0" (want 1..86400)`,
				`t.conf:3:10: invalid weight "254" (want -253..253)`,
				`t.conf:4:8: invalid rise "0" (want 1..2147483647)`,
				`t.conf:8:12: unexpected "backwards" after weight (want reverse)`,
				`t.conf:10:1: vrrp_track_file f needs file`,
				`t.conf:13:1: vrrp_track_process p needs process`,
				`t.conf:14:3: missing argument to process (usage: process NAME [ARGS...])`,
				`t.conf:15:15: invalid param_match "some" (want initial or partial)`,
				`t.conf:19:1: duplicate vrrp_script s2 (first at t.conf:6:1)`,
			},
		},
		{
			desc: "global_defs and top-level blocks xlb does not implement",
			src: `global_defs {
  notification_email {
    ops@example.test
  }
  vrrp_version 4
  vrrp_mcast_group4 198.18.0.1
  router_id a
  lvs_id b
}
static_routes {
}
SSL {
  certificate /etc/xlb/c.pem
}
`,
			want: []string{
				`t.conf:2:3: notification_email is not supported by xlb; use notify scripts`,
				`t.conf:5:16: invalid vrrp_version "4" (want 2..3)`,
				`t.conf:6:21: vrrp_mcast_group4 198.18.0.1 is not an IPv4 multicast address`,
				`t.conf:8:3: lvs_id given twice in global_defs (first at t.conf:7:3)`,
				`t.conf:10:1: static_routes is not supported by xlb; configure the routes with the system's network configuration`,
				`t.conf:12:1: SSL needs both certificate and key, or neither`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := parseErrors(t, "t.conf", []byte(tt.src))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse errors:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// writeFiles creates files (name -> content) under a new temporary
// directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestInclude(t *testing.T) {
	tests := []struct {
		desc  string
		files map[string]string
		// want are the virtual servers' addresses, in order, or the errors
		// with the temporary directory written as DIR.
		wantVS   []string
		wantErrs []string
	}{
		{
			desc: "glob relative to the including file, in name order, nested",
			files: map[string]string{
				"main.conf":     "include conf.d/*.conf\nvirtual_server 198.18.0.9 80 {\n}\n",
				"conf.d/b.conf": "virtual_server 198.18.0.2 80 {\n}\n",
				"conf.d/a.conf": "virtual_server 198.18.0.1 80 {\n}\ninclude ../more/x.conf\n",
				"more/x.conf":   "virtual_server 198.18.0.3 80 {\n}\n",
				"conf.d/c.txt":  "not included\n",
			},
			wantVS: []string{"198.18.0.1:80", "198.18.0.3:80", "198.18.0.2:80", "198.18.0.9:80"},
		},
		{
			desc: "include inside a block",
			files: map[string]string{
				"main.conf":  "virtual_server 198.18.0.1 80 {\n  include reals.conf\n}\n",
				"reals.conf": "real_server 198.18.1.1 80 {\n}\nreal_server 198.18.1.2 80 {\n}\n",
			},
			wantVS: []string{"198.18.0.1:80 198.18.1.1:80 198.18.1.2:80"},
		},
		{
			desc:   "a glob that matches nothing is fine",
			files:  map[string]string{"main.conf": "include conf.d/*.conf\n"},
			wantVS: nil,
		},
		{
			desc:     "a missing file is an error",
			files:    map[string]string{"main.conf": "\ninclude  nothere.conf\n"},
			wantErrs: []string{"DIR/main.conf:2:10: included file DIR/nothere.conf does not exist"},
		},
		{
			desc: "include loop",
			files: map[string]string{
				"main.conf": "include a.conf\n",
				"a.conf":    "# a\ninclude b.conf\n",
				"b.conf":    "include a.conf\n",
			},
			wantErrs: []string{"DIR/b.conf:1:1: include loop: DIR/a.conf includes DIR/b.conf includes DIR/a.conf"},
		},
		{
			desc: "errors in included files carry their positions",
			files: map[string]string{
				"main.conf": "include sub.conf\nbogus\n",
				"sub.conf":  "virtual_server 198.18.0.1 80 {\n  lvs_sched x\n",
			},
			wantErrs: []string{
				`DIR/main.conf:2:1: unknown directive "bogus" in top level`,
				`DIR/sub.conf:1:30: unclosed "{" of virtual_server`,
				`DIR/sub.conf:2:13: unknown scheduler "x" (want one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos)`,
			},
		},
		{
			desc:     "include arguments",
			files:    map[string]string{"main.conf": "include\ninclude a b\n"},
			wantErrs: []string{"DIR/main.conf:1:1: missing argument to include (usage: include PATTERN)", "DIR/main.conf:2:11: too many arguments to include (usage: include PATTERN)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			cfg, err := ParseFile(filepath.Join(dir, "main.conf"))
			if tt.wantErrs != nil {
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("ParseFile: error %v, want an ErrorList", err)
				}
				got := strings.Split(strings.ReplaceAll(list.Error(), dir, "DIR"), "\n")
				if !reflect.DeepEqual(got, tt.wantErrs) {
					t.Errorf("errors:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantErrs, "\n"))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			var got []string
			for _, vs := range cfg.VirtualServers {
				s := vs.AddrPort().String()
				for _, rs := range vs.Reals {
					s += " " + rs.AddrPort().String()
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tt.wantVS) {
				t.Errorf("virtual servers = %q, want %q", got, tt.wantVS)
			}
		})
	}
}

func TestCheckerTiming(t *testing.T) {
	src := `virtual_server 198.18.0.1 80 {
  delay_loop 20
  connect_timeout 7
  retry 2
  warmup 4
  real_server 198.18.1.1 {
    delay_before_retry 9
    HTTP_GET {
      url {
        path /
      }
    }
    DNS_CHECK {
      retry 5
    }
  }
  real_server 198.18.1.2 8080 {
    delay_loop 2.5
    retry 0
    TCP_CHECK {
      connect_timeout 1
    }
    MISC_CHECK {
      misc_path /bin/true
    }
  }
}
virtual_server 198.18.0.2 80 {
  real_server 198.18.1.1 80 {
    HTTP_GET {
      url {
        path /
      }
    }
    DNS_CHECK {
    }
    TCP_CHECK {
    }
    MISC_CHECK {
      misc_path /bin/true
    }
  }
}
`
	cfg, err := Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type timing struct {
		kind                                                CheckKind
		connect                                             string
		delayLoop, connectTimeout, delayBeforeRetry, warmup time.Duration
		retry                                               int
	}
	var got []timing
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.Reals {
			for _, c := range rs.Checks {
				connect := ""
				if c.ConnectIP.IsValid() {
					connect = netip.AddrPortFrom(c.ConnectIP, c.ConnectPort).String()
				}
				got = append(got, timing{c.Kind, connect, c.DelayLoop, c.ConnectTimeout, c.DelayBeforeRetry, c.Warmup, c.Retry})
			}
		}
	}
	s := time.Second
	want := []timing{
		// Virtual server defaults, real server delay_before_retry.
		{CheckHTTP, "198.18.1.1:80", 20 * s, 7 * s, 9 * s, 4 * s, 2},
		{CheckDNS, "198.18.1.1:80", 20 * s, 7 * s, 9 * s, 4 * s, 5},
		// Real server delay_loop and retry, checker connect_timeout.
		{CheckTCP, "198.18.1.2:8080", 2500 * time.Millisecond, 1 * s, 1 * s, 4 * s, 0},
		{CheckMisc, "", 2500 * time.Millisecond, 0, 1 * s, 4 * s, 0},
		// keepalived's defaults per checker kind.
		{CheckHTTP, "198.18.1.1:80", 60 * s, 5 * s, 3 * s, 60 * s, 1},
		{CheckDNS, "198.18.1.1:80", 60 * s, 5 * s, 60 * s, 60 * s, 3},
		{CheckTCP, "198.18.1.1:80", 60 * s, 5 * s, 1 * s, 60 * s, 1},
		{CheckMisc, "", 60 * s, 0, 1 * s, 60 * s, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("checker timing:\n got %+v\nwant %+v", got, want)
	}
	if m := cfg.VirtualServers[1].Reals[0].Checks[3].Misc; m.Timeout != time.Minute {
		t.Errorf("misc_timeout default = %v, want delay_loop 1m", m.Timeout)
	}
}

func TestScriptArgs(t *testing.T) {
	tests := []struct {
		desc string
		cmd  string
		want []string
	}{
		{"program alone", "/bin/true", []string{"/bin/true"}},
		{"arguments", "/etc/xlb/notify.sh  master\tVI_1", []string{"/etc/xlb/notify.sh", "master", "VI_1"}},
		{"single quotes keep spaces", "/bin/x 'a b' c'd e'", []string{"/bin/x", "a b", "cd e"}},
		{"empty quoted argument", "/bin/x ''", []string{"/bin/x", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := (&Script{Cmd: tt.cmd}).Args(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Args(%q) = %q, want %q", tt.cmd, got, tt.want)
			}
		})
	}
}

func TestLexQuotes(t *testing.T) {
	tests := []struct {
		desc string
		src  string
		want []string
	}{
		{"keepalived's example: quotes join", `abcd" efg h jkl "mnop`, []string{"abcd efg h jkl mnop"}},
		{"three strings", `abcd "efg h jkl" mnop`, []string{"abcd", "efg h jkl", "mnop"}},
		{"escapes in double quotes", `"a\tb\x41\101\\\"" 'c\td'`, []string{"a\tbAA\\\"", `c\td`}},
		{"braces and comments in quotes", `"{" "# x" '!'`, []string{"{", "# x", "!"}},
		{"braces split words", `a{b}c`, []string{"a", "{", "b", "}", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var errs ErrorList
			var got []string
			for _, tok := range lex("t.conf", []byte(tt.src), &errs) {
				got = append(got, tok.text)
			}
			if len(errs) > 0 {
				t.Fatalf("lex errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lex(%s) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}
