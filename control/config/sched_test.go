package config

import (
	"strings"
	"testing"
	"time"
)

func TestDataPlaneDirectives(t *testing.T) {
	for _, tc := range []struct {
		desc, src string
		wantErr   string // "" : parses
		check     func(*testing.T, *Config)
	}{
		{desc: "mh_table_size a prime",
			src: "virtual_server 198.18.0.100 80 {\n lvs_sched mh\n mh_table_size 251\n}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.VirtualServers[0].MHTableSize; got != 251 {
					t.Errorf("MHTableSize %d, want 251", got)
				}
			}},
		{desc: "mh_table_size not a prime names the nearest",
			src:     "virtual_server 198.18.0.100 80 {\n lvs_sched mh\n mh_table_size 65536\n}\n",
			wantErr: "c.conf:3:16: mh_table_size 65536 is not a prime (nearest primes: 65521 and 65537"},
		{desc: "mh_table_size too large",
			src:     "virtual_server 198.18.0.100 80 {\n lvs_sched mh\n mh_table_size 2000003\n}\n",
			wantErr: "c.conf:3:16:"},
		{desc: "mh_table_size without mh",
			src:     "virtual_server 198.18.0.100 80 {\n lvs_sched rr\n mh_table_size 251\n}\n",
			wantErr: "c.conf:3:2: mh_table_size needs lvs_sched mh (the scheduler is rr)"},
		{desc: "lvs_timeouts",
			src: "global_defs {\n lvs_timeouts tcp 7200 tcpfin 30 udp 60\n}\n",
			check: func(t *testing.T, c *Config) {
				g := c.Global
				if g.LVSTimeoutTCP != 7200*time.Second || g.LVSTimeoutTCPFin != 30*time.Second || g.LVSTimeoutUDP != 60*time.Second {
					t.Errorf("timeouts tcp %v tcpfin %v udp %v, want 2h 30s 1m", g.LVSTimeoutTCP, g.LVSTimeoutTCPFin, g.LVSTimeoutUDP)
				}
			}},
		{desc: "lvs_timeouts unknown kind",
			src:     "global_defs {\n lvs_timeouts tcp 7200 sctp 30\n}\n",
			wantErr: `c.conf:2:24: unknown lvs_timeouts kind "sctp" (want tcp, tcpfin or udp)`},
		{desc: "lvs_timeouts odd",
			src:     "global_defs {\n lvs_timeouts tcp 7200 udp\n}\n",
			wantErr: "c.conf:2:2: lvs_timeouts takes pairs"},
		{desc: "weight out of range",
			src:     "virtual_server 198.18.0.100 80 {\n real_server 198.18.1.2 80 {\n  weight 65536\n }\n}\n",
			wantErr: "c.conf:3:10:"},
		{desc: "all ports with persistence",
			src: "virtual_server 198.18.0.100 0 {\n persistence_timeout 60\n real_server 198.18.1.2 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				vs := c.VirtualServers[0]
				if vs.Port != 0 || vs.Reals[0].Port != 0 || vs.Reals[0].Checks[0].ConnectPort != 80 {
					t.Errorf("port %d, real port %d, check port %d; want 0, 0, 80", vs.Port, vs.Reals[0].Port, vs.Reals[0].Checks[0].ConnectPort)
				}
			}},
		{desc: "all ports without persistence",
			src:     "virtual_server 198.18.0.100 0 {\n}\n",
			wantErr: "c.conf:1:29: virtual_server 198.18.0.100 port 0 serves every port and needs persistence_timeout, as in IPVS"},
		{desc: "all ports with a real port",
			src:     "virtual_server 198.18.0.100 0 {\n persistence_timeout 60\n real_server 198.18.1.2 80 {\n }\n}\n",
			wantErr: "c.conf:3:2: real_server 198.18.1.2 of the all-ports virtual_server 198.18.0.100: its port is the client's, write none (not 80)"},
		{desc: "all ports, a checker without connect_port",
			src:     "virtual_server 198.18.0.100 0 {\n persistence_timeout 60\n real_server 198.18.1.2 {\n  TCP_CHECK {\n  }\n }\n}\n",
			wantErr: "needs connect_port: its virtual server serves every port"},
		{desc: "port 0 of a real of a normal virtual server",
			src:     "virtual_server 198.18.0.100 80 {\n real_server 198.18.1.2 0 {\n }\n}\n",
			wantErr: "c.conf:2:25: invalid port"},
		{desc: "unknown scheduler",
			src:     "virtual_server 198.18.0.100 80 {\n lvs_sched maglev\n}\n",
			wantErr: `c.conf:2:12: unknown scheduler "maglev"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := Parse("c.conf", []byte(tc.src))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tc.check(t, cfg)
		})
	}
}
