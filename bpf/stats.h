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

#endif /* XLB_STATS_H */
