/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The data plane's maps. All are pinned by name under the bpffs root, so a
 * restarted xlbd (or a new program version) adopts them and no flow is lost.
 */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "structs.h"

/*
 * (VIP, port, protocol) -> service. Not preallocated: a replaced value is
 * freed after an RCU grace period, so a packet that looked up the old one
 * reads it whole.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint);
	__type(value, struct service);
	__uint(max_entries, MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

/*
 * A scheduling ring: chunk index -> XLB_RING_CHUNK real ids. Every ring is
 * an array map of its own size (BPF_F_INNER_MAP), created by the control
 * plane; this one is only the template.
 */
struct ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	/*
	 * By size: no map or global function has a struct ring_chunk, so BTF
	 * would name it here only as a forward declaration.
	 */
	__uint(value_size, sizeof(struct ring_chunk));
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
};

/* svc_id * 2 + slot -> that slot's ring. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, MAX_SERVICES * 2);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct ring);
} svc_rings SEC(".maps");

/* [0]: enum dp_flags. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dp_flags SEC(".maps");

/* svc_id -> scheduler state (struct sched_state). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sched_state);
	__uint(max_entries, MAX_SERVICES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sched_states SEC(".maps");

/* real id -> real. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct real);
	__uint(max_entries, MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reals SEC(".maps");

/* real id -> its connections, for lc/wlc/sed/nq and xlb list. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct conn_counts);
	__uint(max_entries, MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_conns SEC(".maps");

/* [0]: the kernel's HZ, jiffies per second (clock.h); written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} clock_hz_map SEC(".maps");

/* real id -> the next hop toward it, filled by the program (fwd.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nexthop);
	__uint(max_entries, MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_nexthops SEC(".maps");

/*
 * [0]: the FIB generation. xlbd bumps it on every route, neighbour, link
 * and address change, which makes every cached next hop stale; 0 (no xlbd
 * has watched the FIB yet) turns the cache off.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fib_gen SEC(".maps");

/*
 * A filter of addresses, one bit per hash (filter.h, addr_maybe): words
 * [0, XLB_ADDR_FILTER_WORDS) have the bits of every VIP, the rest those of
 * every NAT real. A packet whose destination and source bits are both
 * clear is for no service and from no NAT real: it passes after two array
 * reads instead of two hash lookups. Used while XLB_DP_F_ADDR_FILTER is set.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2 * XLB_ADDR_FILTER_WORDS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} addr_filter SEC(".maps");

/* NAT reals' (address, port, protocol): their packets may be replies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint);
	__type(value, __u32);
	__uint(max_entries, MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_reals SEC(".maps");

/* The connection table; its size is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/*
 * The flow cache (flowcache.h): XLB_FLOW_CACHE_SLOTS slots for each CPU,
 * CPU n's from n * XLB_FLOW_CACHE_SLOTS on; the loader sizes it for the
 * machine's CPUs. One array rather than a per-CPU one: a slot is then one
 * address computation away, where a per-CPU array reads a pointer first.
 * Mmapable only so that its values start on a page, so that a set's two
 * slots share a 128-byte block and no other slot's lines. Not pinned: a
 * program starts with an empty cache.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct flow_cache_entry);
	__uint(max_entries, XLB_FLOW_CACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
} flow_cache SEC(".maps");

/*
 * The NAT reply part of each flow cache slot, at the slot's index, sized
 * with flow_cache by the loader; mmapable and not pinned for the same
 * reasons. Apart, so that the slots forward flows' packets read are dense:
 * with these fields in the slot (two lines a slot), the bench's "DR
 * established, 4096 flows" cost 141-150 ns above the floor in three runs
 * on one CPU; with them apart, 40-50 in two of three (130 in the third).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct flow_cache_reply);
	__uint(max_entries, XLB_FLOW_CACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
} flow_cache_reply SEC(".maps");

/*
 * The flow cache's generation, bumped by xlbd (its only writer) when flows
 * a cache may still serve leave the connection table (flowcache.h). A
 * slot is good while its gen is this, so a bump empties every CPU's cache
 * at once. Pinned, so that every program running over the same
 * connection table sees the bumps.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_cache_gen SEC(".maps");

/* Persistence templates (persistence_timeout); sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct persist_key);
	__type(value, struct persist);
	__uint(max_entries, 1 << 18);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} persist_tmpl SEC(".maps");

/* real id -> per-CPU counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct real_counters);
	__uint(max_entries, MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_stats SEC(".maps");

/* if slot * XLB_REASON_MAX + enum reason -> per-CPU counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct reason_counters);
	__uint(max_entries, XLB_MAX_IF_SLOTS *XLB_REASON_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reason_stats SEC(".maps");

/* ifindex -> its slot of reason_stats (0: not given one). Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, XLB_MAX_IFINDEX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_slots SEC(".maps");

/* slot -> the device that has it, for readers of reason_stats; the program does not read it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct if_slot);
	__uint(max_entries, XLB_MAX_IF_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_slot_names SEC(".maps");

#endif /* XLB_MAPS_H */
