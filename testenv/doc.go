// Package testenv builds the network-namespace topology that xlb's
// integration tests and the demo run in, and runs small servers inside it.
//
// New (or Start, in a test) creates one named network namespace per host,
// bind-mounted under /run/netns so that `nsenter --net=/run/netns/NAME` and
// `ip netns exec NAME` reach it:
//
//	client ns                 director ns                     lan ns (bridge br0)       real ns (x N)
//	eth0 198.18.0.2/24  <->   eth0 198.18.0.1/24 (+VIPs)
//	                          eth1 198.18.1.1/24   <->        p0 ... pN (bridge ports)  <->  eth0 198.18.1.(2+i)/24
//	                                                                                          default via 198.18.1.1
//
// IPv6 runs beside IPv4: client 2001:db8::2/64, director eth0 2001:db8::1/64
// and eth1 2001:db8:1::1/64, real i 2001:db8:1::(2+i)/64 with a default
// route via 2001:db8:1::1. Addresses are added with nodad (and DAD is off in
// every namespace), so they are usable at once.
//
// The client routes everything via the director; every real routes
// everything via the director, so one topology serves both NAT (the director
// is the reals' gateway) and DR. The director forwards (IPv4 and IPv6),
// has rp_filter=0 and accept_local=1 (DR replies with source VIP come back
// through it), and holds the VIPs (Options.VIPs, default 198.18.0.100) on
// its eth0 as /32 or /128, as a VRRP master would. With Options.DR every real
// also holds every VIP on lo, with net.ipv4.conf.all.arp_ignore=1 and
// arp_announce=2, the classic LVS-DR real server preparation.
//
// veth specifics (see DESIGN.md, "veth facts"): GRO is enabled on every veth
// end so that frames an XDP program redirects or transmits to a peer have
// NAPI to land on, and TX checksum offload is off on the client's and the
// reals' eth0 so that their locally generated TCP carries a full checksum
// that survives an XDP rewrite on the director.
//
// Every link is created inside its namespace through a netlink handle bound
// to that namespace (the peer end of a veth is created directly in the
// peer's namespace); nothing is ever created in the caller's namespace.
// Namespace names are unique per process and topology
// (xlb<pid>-<seq>-<role>), so several test binaries can run at once.
//
// A Host runs code inside its namespace (Do), starts commands there
// (Command, through nsenter so the host's mount namespace and its bpffs pins
// stay visible), opens sockets there (Listen, ListenPacket, DialContext,
// HTTPClient) and runs test servers (ServeHTTP, ServeTCPEcho,
// ServeUDPEcho). Close stops the servers and removes every namespace; it is
// safe after a partial failure and safe to call twice.
//
// A typical test:
//
//	func TestIntegrationSomething(t *testing.T) {
//		topo := testenv.Start(t, testenv.Options{Reals: 2})
//		stop, err := topo.Reals[0].ServeHTTP(80)
//		...
//		defer stop()
//		resp, err := topo.Client.HTTPClient(2 * time.Second).Get("http://198.18.1.2/")
//		...
//	}
//
// Privileged tests use Start or RequirePrivileged: without root they skip
// with the reason, unless XLB_REQUIRE_PRIVILEGED=1, in which case they fail.
package testenv
