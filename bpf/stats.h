/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: one update per packet. */
#ifndef XLB_STATS_H
#define XLB_STATS_H

#include "maps.h"

/* count_reason counts a passed or dropped packet and returns its verdict. */
static __always_inline int count_reason(enum reason reason, __u32 len, int verdict)
{
	__u32 key = reason;
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

/* any_port: does some service serve all ports of its VIP (port 0)? */
static __always_inline int any_port(void)
{
	__u32 key = 0;
	__u32 *f = bpf_map_lookup_elem(&dp_flags, &key);

	return f && (*f & XLB_DP_F_ANY_PORT);
}

#endif /* XLB_STATS_H */
