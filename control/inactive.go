package control

import (
	"fmt"
	"net/netip"

	"github.com/xlbproject/xlb/control/config"
)

// The VRRP multicast groups adverts are sent to.
var (
	vrrpGroup4 = netip.MustParseAddr("224.0.0.18")
	vrrpGroup6 = netip.MustParseAddr("ff02::12")
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
		if vs.PersistenceTimeout > 0 {
			add(vs.Pos, "virtual_server %s: persistence_timeout is not active yet: clients are scheduled per connection", name)
		}
		if vs.SchedPort || vs.SchedFallback || vs.OnePacket {
			add(vs.Pos, "virtual_server %s: scheduler flags and ops are not active yet", name)
		}
		for _, rs := range vs.Reals {
			if rs.UThreshold != 0 || rs.LThreshold != 0 {
				add(rs.Pos, "real_server %s of %s: uthreshold and lthreshold are not active yet", rs.AddrPort(), name)
			}
		}
	}
	g := cfg.Global
	if g.VRRPMcastGroup4.IsValid() && g.VRRPMcastGroup4 != vrrpGroup4 || g.VRRPMcastGroup6.IsValid() && g.VRRPMcastGroup6 != vrrpGroup6 {
		add(g.Pos, "global_defs: vrrp_mcast_group4/6 are not active yet: adverts use %s and %s", vrrpGroup4, vrrpGroup6)
	}
	for _, vi := range cfg.VRRPInstances {
		if !vi.Accept {
			add(vi.Pos, "vrrp_instance %s: no_accept is not active yet: the master accepts traffic to its addresses", vi.Name)
		}
	}
	return out
}
