/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connection table: an established flow keeps its real whatever happens
 * to the service's real set. NAT flows have a second, reply entry keyed by
 * the real's packets (real:port -> client), which restores the VIP.
 */
#ifndef XLB_CONNTRACK_H
#define XLB_CONNTRACK_H

#include "maps.h"
#include "packet.h"

static __always_inline void flow_key_of(struct packet *p, struct flow_key *k)
{
	k->src[0] = p->ip->saddr;
	k->dst[0] = p->ip->daddr;
	k->sport = *p->sport;
	k->dport = *p->dport;
	k->proto = p->proto;
	k->family = AF_INET;
}

/*
 * ct_insert_forward records a new flow. When another CPU recorded the same
 * flow first (a retransmitted SYN), its choice wins and is returned.
 */
static __always_inline __u32 ct_insert_forward(struct flow_key *k, struct service *svc,
					       __u32 real_id, __u64 now)
{
	struct flow f = {
		.atime_ns = now,
		.dir = XLB_FLOW_FORWARD,
		.real_id = real_id,
		.svc_id = svc->id,
	};
	struct flow *won;

	if (bpf_map_update_elem(&flows, k, &f, BPF_NOEXIST) == 0)
		return real_id;
	won = bpf_map_lookup_elem(&flows, k);
	return won ? won->real_id : real_id;
}

/* ct_insert_reply records where a NAT real's replies for this flow go. */
static __always_inline void ct_insert_reply(struct flow_key *fwd, struct real *rl, __u32 real_id,
					    __u64 now)
{
	struct flow_key k = {
		.src = { rl->addr[0] },
		.dst = { fwd->src[0] },
		.sport = rl->port,
		.dport = fwd->sport,
		.proto = fwd->proto,
		.family = AF_INET,
	};
	struct flow f = {
		.atime_ns = now,
		.vaddr = { fwd->dst[0] },
		.vport = fwd->dport,
		.dir = XLB_FLOW_REPLY,
		.real_id = real_id,
		.svc_id = rl->svc_id,
	};

	bpf_map_update_elem(&flows, &k, &f, BPF_ANY);
}

#endif /* XLB_CONNTRACK_H */
