package testenv

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
)

// Interface names inside the namespaces.
const (
	// EndpointIf is the client's and every real's only (non-loopback) interface.
	EndpointIf = "eth0"
	// DirectorFrontIf is the director's interface toward the client; it holds the VIPs.
	DirectorFrontIf = "eth0"
	// DirectorLANIf is the director's interface toward the reals' LAN.
	DirectorLANIf = "eth1"
	// BridgeIf is the bridge in the lan namespace; its ports are p0 (to the
	// director) and p1..pN (to real1..realN).
	BridgeIf = "br0"
)

// MaxReals is the largest Options.Reals: reals take 198.18.1.2 to 198.18.1.254.
const MaxReals = 253

// NetnsDir is where the namespaces are bind-mounted, as iproute2 does.
const NetnsDir = "/run/netns"

// Errors.
var (
	// ErrClosed is returned by a Host of a Topology that was closed.
	ErrClosed = errors.New("topology closed")
	// ErrNotSupported is returned on systems without network namespaces.
	ErrNotSupported = errors.New("network namespaces not supported on this system")
)

// Options choose the shape of a topology. The zero value is a NAT-ready
// topology with two reals and the VIP 198.18.0.100.
type Options struct {
	// Reals is the number of real servers; 0 means 2.
	Reals int
	// DR prepares the reals for direct routing: every VIP on lo,
	// net.ipv4.conf.all.arp_ignore=1 and arp_announce=2.
	DR bool
	// VIPs are added to the director's eth0 (/32 or /128) and, with DR, to
	// every real's lo. Nil means [198.18.0.100]. Each must lie in
	// 198.18.0.0/15 or 2001:db8::/32 and differ from the hosts' addresses.
	VIPs []netip.Addr
}

// Topology is a client, a director, a LAN and the reals, each in its own
// network namespace. See the package documentation for the picture.
type Topology struct {
	Client, Director, LAN *Host
	Reals                 []*Host
	VIPs                  []netip.Addr

	opts Options

	mu     sync.Mutex
	closed bool
}

// Host is one network namespace of a Topology.
type Host struct {
	// Name is the short role name: "client", "director", "lan", "real1", ...
	Name string
	// NSName is the namespace's name under /run/netns.
	NSName string
	// Addr is the primary IPv4 address (invalid for the lan host).
	Addr netip.Addr
	// Addr6 is the primary IPv6 address (invalid for the lan host).
	Addr6 netip.Addr
	// Prefixes are all interface addresses of the host with their prefix
	// length (VIPs excluded): for the director 198.18.0.1/24,
	// 2001:db8::1/64, 198.18.1.1/24 and 2001:db8:1::1/64.
	Prefixes []netip.Prefix

	mu         sync.Mutex
	closed     bool
	servers    map[uint64]func()
	nextServer uint64

	sys hostSys
}

var (
	benchNet4 = netip.MustParsePrefix("198.18.0.0/15")
	docNet6   = netip.MustParsePrefix("2001:db8::/32")

	defaultVIP = netip.MustParseAddr("198.18.0.100")

	clientPrefix      = netip.MustParsePrefix("198.18.0.2/24")
	clientPrefix6     = netip.MustParsePrefix("2001:db8::2/64")
	directorPrefix    = netip.MustParsePrefix("198.18.0.1/24")
	directorPrefix6   = netip.MustParsePrefix("2001:db8::1/64")
	directorLANPrefix = netip.MustParsePrefix("198.18.1.1/24")
	directorLANPrefx6 = netip.MustParsePrefix("2001:db8:1::1/64")
)

// realPrefixes returns real i's (0-based) IPv4 and IPv6 interface addresses.
func realPrefixes(i int) (netip.Prefix, netip.Prefix) {
	v4 := netip.AddrFrom4([4]byte{198, 18, 1, byte(2 + i)})
	v6 := directorLANPrefx6.Addr().As16()
	v6[15] = byte(2 + i)
	return netip.PrefixFrom(v4, 24), netip.PrefixFrom(netip.AddrFrom16(v6), 64)
}

// normalize fills defaults and checks o.
func (o Options) normalize() (Options, error) {
	switch {
	case o.Reals == 0:
		o.Reals = 2
	case o.Reals < 0 || o.Reals > MaxReals:
		return o, fmt.Errorf("check options: %d reals, want 1 to %d", o.Reals, MaxReals)
	}
	if o.VIPs == nil {
		o.VIPs = []netip.Addr{defaultVIP}
	}
	used := map[netip.Addr]string{
		clientPrefix.Addr(): "client", clientPrefix6.Addr(): "client",
		directorPrefix.Addr(): "director", directorPrefix6.Addr(): "director",
		directorLANPrefix.Addr(): "director", directorLANPrefx6.Addr(): "director",
	}
	for i := range o.Reals {
		p4, p6 := realPrefixes(i)
		used[p4.Addr()] = fmt.Sprintf("real%d", i+1)
		used[p6.Addr()] = fmt.Sprintf("real%d", i+1)
	}
	vips := make([]netip.Addr, 0, len(o.VIPs))
	seen := map[netip.Addr]bool{}
	for _, v := range o.VIPs {
		v = v.Unmap()
		switch {
		case !v.IsValid():
			return o, errors.New("check options: invalid VIP")
		case !benchNet4.Contains(v) && !docNet6.Contains(v):
			return o, fmt.Errorf("check options: VIP %s outside %s and %s", v, benchNet4, docNet6)
		case used[v] != "":
			return o, fmt.Errorf("check options: VIP %s is %s's address", v, used[v])
		case seen[v]:
			return o, fmt.Errorf("check options: VIP %s listed twice", v)
		}
		seen[v] = true
		vips = append(vips, v)
	}
	o.VIPs = vips
	return o, nil
}

var topoSeq atomic.Uint64

// newTopology lays out the hosts of a topology without creating anything.
func newTopology(o Options) *Topology {
	prefix := fmt.Sprintf("xlb%d-%d", os.Getpid(), topoSeq.Add(1))
	host := func(name string, prefixes ...netip.Prefix) *Host {
		h := &Host{Name: name, NSName: prefix + "-" + name, Prefixes: prefixes}
		if len(prefixes) >= 2 {
			h.Addr, h.Addr6 = prefixes[0].Addr(), prefixes[1].Addr()
		}
		h.sys.init()
		return h
	}
	t := &Topology{
		Client:   host("client", clientPrefix, clientPrefix6),
		Director: host("director", directorPrefix, directorPrefix6, directorLANPrefix, directorLANPrefx6),
		LAN:      host("lan"),
		VIPs:     o.VIPs,
		opts:     o,
	}
	for i := range o.Reals {
		p4, p6 := realPrefixes(i)
		t.Reals = append(t.Reals, host(fmt.Sprintf("real%d", i+1), p4, p6))
	}
	return t
}

// hosts returns every host, client first, reals last.
func (t *Topology) hosts() []*Host {
	return append([]*Host{t.Client, t.Director, t.LAN}, t.Reals...)
}

// Host returns the host with the given role name ("client", "real2", ...),
// or nil.
func (t *Topology) Host(name string) *Host {
	for _, h := range t.hosts() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close stops every server started on the topology's hosts and removes
// everything New made: links and namespaces. It also cleans up after a
// partial failure, and a second call does nothing and returns nil.
func (t *Topology) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	hosts := t.hosts()
	for _, h := range hosts {
		h.stopServers()
	}
	var errs []error
	if err := t.unlink(); err != nil {
		errs = append(errs, err)
	}
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := hosts[i].destroy(); err != nil {
			errs = append(errs, fmt.Errorf("remove host %s: %w", hosts[i].Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close topology: %w", err)
	}
	return nil
}

// addServer registers a server's stop function so that Close stops it; it
// returns a function that stops the server once and unregisters it.
func (h *Host) addServer(stop func()) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		stop()
		return nil, ErrClosed
	}
	if h.servers == nil {
		h.servers = map[uint64]func(){}
	}
	id := h.nextServer
	h.nextServer++
	once := sync.OnceFunc(stop)
	h.servers[id] = once
	return func() {
		h.mu.Lock()
		delete(h.servers, id)
		h.mu.Unlock()
		once()
	}, nil
}

// stopServers stops every server still running on h and marks h closed.
func (h *Host) stopServers() {
	h.mu.Lock()
	h.closed = true
	servers := h.servers
	h.servers = nil
	h.mu.Unlock()
	for _, stop := range servers {
		stop()
	}
}
