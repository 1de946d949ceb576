/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Sizes, limits and named codes shared by the xlb data plane and its Go loader. */
#ifndef XLB_CONSTS_H
#define XLB_CONSTS_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_ALEN 6

#define AF_INET 2
#define AF_INET6 10

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

/* At most this many VLAN tags (802.1Q or 802.1ad) are walked. */
#define MAX_VLAN_DEPTH 2
/* At most this many IPv6 extension headers (hop-by-hop, destination options) are walked. */
#define MAX_IPV6_EXT 4

/* Virtual services the data plane can hold; a service's id indexes its arrays. */
#define MAX_SERVICES 1024
/* (service, real) pairs: a real's id indexes the reals and real_stats maps. */
#define MAX_REALS 65536

/*
 * Limits the control plane must respect; an enum so that bpf2go carries
 * them to Go.
 */
enum limits {
	/* Reals of one service; lc, wlc, sed and nq walk them all per new flow. */
	XLB_MAX_SVC_REALS = 1024,
	/* Entries of one scheduling ring (a Maglev table is the largest). */
	XLB_MAX_RING = 1048576,
	/* Ring entries per ring map value (struct ring_chunk): a cache line. */
	XLB_RING_CHUNK = 16,
	XLB_RING_CHUNK_BITS = 4,
	/* Default connection timeouts, in seconds (IPVS's). */
	XLB_TIMEOUT_TCP = 900,
	XLB_TIMEOUT_TCPFIN = 120,
	XLB_TIMEOUT_UDP = 300,
	/* addr_filter: words (of 64 bits) per half, and bits of an address hash. */
	XLB_ADDR_FILTER_WORDS = 4096,
	XLB_ADDR_FILTER_HASH_BITS = 18,
	/* Devices with reason counters of their own (slot 0: every other one). */
	XLB_MAX_IF_SLOTS = 64,
	/* Devices with an ifindex at or above this share slot 0. */
	XLB_MAX_IFINDEX = 65536,
	/*
	 * flow_cache and flow_cache_reply: slots per CPU (a power of two), and
	 * their index bits; eight for each of the 4,096 flows a CPU's cache is
	 * sized for, so that few sets of two slots have a third flow.
	 */
	XLB_FLOW_CACHE_SLOTS = 32768,
	XLB_FLOW_CACHE_BITS = 15,
	/* The longest a flow cache slot serves after it was filled, in seconds. */
	XLB_FLOW_CACHE_TTL_SECONDS = 1,
	/*
	 * The most CPUs whose caches a reopening SYN may read (Linux's largest
	 * NR_CPUS); the loop ends at the flow cache's last CPU.
	 */
	XLB_MAX_CPUS = 8192,
	/* flow.cached_on: more than one CPU may cache the flow. */
	XLB_CACHED_ON_MANY = 0xffffffff,
};

/*
 * The real was removed from the configuration: it takes no new flows, its
 * established flows continue.
 */
enum real_flags {
	XLB_REAL_F_REMOVED = 0x1,
};

/* Scheduler of a service; only the switch in sched.h knows them. */
enum sched {
	XLB_SCHED_RR = 0,
	XLB_SCHED_WRR = 1, /* the ring holds IPVS's interleaved sequence */
	XLB_SCHED_LC = 2,  /* least connections: ActiveConn*256 + InActConn */
	XLB_SCHED_WLC = 3, /* lc divided by weight */
	XLB_SCHED_SED = 4, /* shortest expected delay: (ActiveConn+1)/weight */
	XLB_SCHED_NQ = 5,  /* never queue: an idle real first, else sed */
	XLB_SCHED_SH = 6,  /* source hash over the weighted ring */
	XLB_SCHED_MH = 7,  /* source hash over a Maglev table */
};

enum service_flags {
	XLB_SVC_F_HASH_PORT = 0x1, /* sh/mh hash the source port too */
};

/* Data-plane-wide switches in dp_flags[0], set by the control plane. */
enum dp_flags {
	/*
	 * Some service has port 0 (all ports of its VIP): a packet that
	 * matches no (VIP, port) service looks for (VIP, 0), and a packet
	 * from no NAT real (address, port) for (address, 0).
	 */
	XLB_DP_F_ANY_PORT = 0x1,
	/* addr_filter holds every VIP and NAT real address: trust its misses. */
	XLB_DP_F_ADDR_FILTER = 0x2,
};

/*
 * Connection states, IPVS's TCP states in its order, and UDP. ESTABLISHED
 * counts as an active connection, every other state as inactive.
 */
enum conn_state {
	XLB_CS_NONE = 0,
	XLB_CS_ESTABLISHED,
	XLB_CS_SYN_SENT,
	XLB_CS_SYN_RECV,
	XLB_CS_FIN_WAIT,
	XLB_CS_TIME_WAIT,
	XLB_CS_CLOSE,
	XLB_CS_CLOSE_WAIT,
	XLB_CS_LAST_ACK,
	XLB_CS_LISTEN,
	XLB_CS_SYNACK,
	XLB_CS_UDP,
	XLB_CS_MAX,
};

/* How a packet reaches its real. */
enum method {
	XLB_METHOD_NAT = 0,
	XLB_METHOD_DR = 1,
};

/* Direction of a connection table entry. */
enum flow_dir {
	XLB_FLOW_FORWARD = 0, /* client -> VIP: pick the real */
	XLB_FLOW_REPLY = 1,   /* NAT real -> client: restore VIP:port */
};

/*
 * Why a packet was passed to the kernel or dropped. Forwarded packets are
 * counted per real instead (struct real_counters), which keeps the fast path
 * at one per-CPU counter update.
 */
enum reason {
	XLB_PASS_NOT_IP = 0,   /* ARP, LLDP, anything that is neither IPv4 nor IPv6 */
	XLB_PASS_MALFORMED,    /* truncated or invalid L2/L3/L4 header */
	XLB_PASS_FRAGMENT,     /* IPv4 or IPv6 fragment: the kernel reassembles */
	XLB_PASS_NOT_TCP_UDP,  /* neither TCP nor UDP (ICMP, ICMPv6 ND, ...) */
	XLB_PASS_NO_SERVICE,   /* not for a virtual service, not a NAT reply */
	XLB_PASS_NO_NEIGH,     /* NAT: next hop unresolved, the kernel forwards it */
	XLB_PASS_FRAG_NEEDED,  /* larger than the egress MTU: the kernel answers */
	XLB_DROP_NO_REAL,      /* service has no real that takes new flows */
	XLB_DROP_BAD_REAL,     /* a ring or flow names an unconfigured real */
	XLB_DROP_NO_ROUTE,     /* fib lookup: no route, blackhole, unreachable */
	XLB_DROP_FWD_DISABLED, /* fib lookup: forwarding off on the ingress device */
	XLB_DROP_NO_NEIGH,     /* DR: the real's MAC is not resolved yet */
	XLB_PASS_IPV6_EXT, /* IPv6 extension headers xlb does not walk (routing, AH, ESP, too many)
			    */
	XLB_TX_TOO_BIG, /* too big for the next hop, DF: answered with ICMP frag needed / packet too
			   big */
	XLB_REASON_MAX,
};

#endif /* XLB_CONSTS_H */
