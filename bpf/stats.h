/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: one update per packet. */
#ifndef XLB_STATS_H
#define XLB_STATS_H

#include "maps.h"
#include "packet.h"

/*
 * if_slot is the reason counters' slot of the device ingress: the loader
 * gives each device it attaches to one; 0 holds the rest.
 */
static __always_inline __u32 if_slot(__u32 ingress)
{
	__u32 *slot = bpf_map_lookup_elem(&if_slots, &ingress);

	return slot && *slot < XLB_MAX_IF_SLOTS ? *slot : 0;
}

/* count_reason counts p as passed or dropped for reason and returns verdict. */
#define count_reason(p, reason, verdict) count_reason_on((p)->ingress, (p)->len, reason, verdict)

static __always_inline int count_reason_on(__u32 ingress, __u32 len, enum reason reason,
					   int verdict)
{
	__u32 key = if_slot(ingress) * XLB_REASON_MAX + reason;
	struct reason_counters *c = bpf_map_lookup_elem(&reason_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
	return verdict;
}

static __always_inline void count_real_in(__u32 real_id, __u32 len, int new_conn)
{
	struct real_counters *c = bpf_map_lookup_elem(&real_stats, &real_id);

	if (c) {
		c->conns += new_conn;
		c->packets_in++;
		c->bytes_in += len;
	}
}

static __always_inline void count_real_out(__u32 real_id, __u32 len)
{
	struct real_counters *c = bpf_map_lookup_elem(&real_stats, &real_id);

	if (c) {
		c->packets_out++;
		c->bytes_out += len;
	}
}

#endif /* XLB_STATS_H */
