package control

import (
	"fmt"

	"github.com/xlbproject/xlb/control/config"
)

// NotActive lists what cfg configures that xlb parses but does not act on
// yet, one line each with its position, so that the daemon can say plainly
// what an operator's file asks for that is not happening.
func NotActive(cfg *config.Config) []string {
	var out []string
	add := func(pos config.Position, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s", pos, fmt.Sprintf(format, args...)))
	}
	for _, vs := range cfg.VirtualServers {
		name := vs.AddrPort().String()
		if vs.SchedFallback {
			add(vs.Pos, "virtual_server %s: sh-fallback/mh-fallback is not active yet: a real that takes no new flows is not skipped for another", name)
		}
		if vs.OnePacket {
			add(vs.Pos, "virtual_server %s: ops (one-packet scheduling) is not active yet: UDP datagrams of a client stay on one real", name)
		}
		for _, rs := range vs.Reals {
			if rs.UThreshold != 0 || rs.LThreshold != 0 {
				add(rs.Pos, "real_server %s of %s: uthreshold and lthreshold are not active yet", rs.AddrPort(), name)
			}
		}
	}
	for _, vi := range cfg.VRRPInstances {
		if !vi.Accept {
			add(vi.Pos, "vrrp_instance %s: no_accept is not active yet: the master accepts traffic to its addresses", vi.Name)
		}
	}
	return out
}
