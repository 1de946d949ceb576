/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys and values shared with Go. The Go types are generated from these
 * by bpf2go (-type), never copied by hand; padding is explicit.
 */
#ifndef XLB_STRUCTS_H
#define XLB_STRUCTS_H

#include <linux/types.h>

#include "consts.h"

/* An L4 endpoint: a service's VIP:port or a NAT real's address:port. */
struct endpoint {
	__be32 addr[4]; /* IPv4 in addr[0], the rest zero */
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* AF_INET or AF_INET6 */
};

/*
 * A virtual service. Its scheduling ring has two slots in svc_rings (each
 * an array map of its own size); the control plane fills the idle slot,
 * then replaces this value (an atomic hash map update) to make it live, so
 * a packet never sees a half-written ring.
 */
struct service {
	__u32 id; /* svc_rings[id * 2 + slot] is a ring; sched_states[id] */
	enum sched sched;
	__u32 slot;	       /* live ring slot: 0 or 1 */
	__u32 ring_len;	       /* entries in the live slot; 0 = no real takes new flows */
	__u32 flags;	       /* enum service_flags */
	__u32 persist_timeout; /* seconds; 0: no persistence */
	__u8 persist_plen;     /* persistence granularity: client prefix length */
	__u8 pad[3];
};

/*
 * XLB_RING_CHUNK consecutive entries of a scheduling ring: entry i is
 * ids[i % XLB_RING_CHUNK] of value i / XLB_RING_CHUNK. The lc family reads
 * every entry per new flow, and a ring is an inner map (BPF_F_INNER_MAP),
 * whose lookups are helper calls the verifier cannot inline: one per chunk
 * instead of one per real.
 */
struct ring_chunk {
	__u32 ids[XLB_RING_CHUNK];
};

/*
 * A real server of one service (IPVS: a destination). Weight and flags are
 * for the operator's view (xlb list); the program reads only where to send.
 */
struct real {
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u8 pad;
	enum method method;
	__u32 svc_id;
	__u32 weight;
	enum real_flags flags;
};

/* Per-real, per-CPU traffic counters. */
struct real_counters {
	__u64 conns;	  /* new connections scheduled to this real */
	__u64 packets_in; /* client -> real */
	__u64 bytes_in;
	__u64 packets_out; /* real -> client (NAT replies) */
	__u64 bytes_out;
};

/* A device with its own reason counters (if_slot_names). */
struct if_slot {
	__u32 ifindex;
	char name[16]; /* IFNAMSIZ */
};

/* Per-CPU counter of one pass or drop reason. */
struct reason_counters {
	__u64 packets;
	__u64 bytes;
};

/*
 * A real's connections (IPVS: ActiveConn, InActConn), shared by all CPUs and
 * updated with atomics when a flow starts or changes state; the control
 * plane's sweeper expires flows and recounts these.
 */
struct conn_counts {
	__s64 active;	/* TCP ESTABLISHED */
	__s64 inactive; /* every other state, and UDP */
};

/* Scheduler state shared by all CPUs, updated with atomics. */
struct sched_state {
	__u64 rr_next;
};

/* Connection table key: the packet's own 5-tuple. */
struct flow_key {
	__be32 src[4];
	__be32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

/*
 * A next hop as bpf_fib_lookup answered it, cached (fwd.h): toward a real
 * in real_nexthops, toward the client in a NAT reply entry.
 */
struct nexthop {
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
	__u16 mtu; /* the route's MTU: the longest IP datagram it takes */
	__u16 pad;
	__u32 ifindex; /* egress device */
	__u32 ingress; /* the device the lookup was made for */
	__u32 gen;     /* fib_gen[0] when filled; 0: empty */
	__u32 stamp;   /* when filled, in jiffies (the low 32 bits) */
};

/* Connection table value. */
struct flow {
	__u64 atime;	 /* last packet seen, in jiffies (clock.h) */
	__be32 vaddr[4]; /* the VIP, restored on NAT replies */
	__be16 vport;
	__u16 pad;
	enum flow_dir dir;
	__u32 state; /* enum conn_state, kept in the forward entry */
	__u32 real_id;
	__u32 svc_id;
	/*
	 * Forward entries: the CPUs whose flow cache may hold the flow, for a
	 * SYN reopening it to clear (flowcache.h): 0 none, CPU c's only as
	 * c + 1, XLB_CACHED_ON_MANY more than one.
	 */
	__u32 cached_on;
	struct nexthop reply_hop; /* reply entries: the way to the client */
};

/*
 * A slot of the flow cache (flowcache.h): what a packet of a cached flow
 * reads, as the connection table had it when the slot was filled. One
 * cache line (the map's values start on a page), so that a set's two
 * slots are one 128-byte block; a NAT reply's VIP and next hop are in
 * flow_cache_reply, at the same index.
 */
struct flow_cache_entry {
	struct flow_key key;
	/*
	 * When filled, in jiffies: all 64 bits, as a slot's generation may
	 * stay the same for longer than 32 bits of jiffies last (flowcache.h).
	 */
	__u64 stamp;
	__u32 gen; /* fcache_gen() when filled */
	__u32 real_id;
	enum flow_dir dir;
	__u32 pad;
};

/* What a flow cache slot holding a NAT reply entry adds: the way back to the client. */
struct flow_cache_reply {
	__be32 vaddr[4];
	__be16 vport;
	__u16 pad;
	__u32 pad2;
	struct nexthop reply_hop;
	__u64 pad3;
};

/* Persistence template key: a client prefix of one service. */
struct persist_key {
	__be32 addr[4]; /* client address masked to the service's granularity */
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
};

/* Persistence template: the real a client prefix sticks to. */
struct persist {
	__u64 atime; /* last new connection of the prefix, in jiffies */
	__u32 real_id;
	__u32 pad;
};

/*
 * Reason codes index reason_stats by number; this read-only global carries
 * the enum into BTF, from which bpf2go makes the Go constants and names.
 */
const volatile enum reason reason_btf_anchor __attribute__((unused));
/* Likewise for the limits, service flags and connection states. */
const volatile enum limits limits_btf_anchor __attribute__((unused));
const volatile enum service_flags service_flags_btf_anchor __attribute__((unused));
const volatile enum conn_state conn_state_btf_anchor __attribute__((unused));
const volatile enum dp_flags dp_flags_btf_anchor __attribute__((unused));

#endif /* XLB_STRUCTS_H */
