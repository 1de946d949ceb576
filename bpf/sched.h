/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Scheduling of new flows. A service's live ring slot lists the real ids that
 * take new flows (the control plane computes it: one entry per real for rr,
 * an interleaved sequence for weighted schedulers); the scheduler picks an
 * index into it.
 */
#ifndef XLB_SCHED_H
#define XLB_SCHED_H

#include "maps.h"

static __always_inline __u32 sched_rr(struct service *svc)
{
	struct sched_state *st = bpf_map_lookup_elem(&sched_states, &svc->id);

	if (!st)
		return 0;
	return __sync_fetch_and_add(&st->rr_next, 1) % svc->ring_len;
}

/* sched_pick stores the chosen real's id in *real_id; -1: no real takes new flows. */
static __always_inline int sched_pick(struct service *svc, __u32 *real_id)
{
	__u32 idx, key, *id;

	if (svc->ring_len == 0 || svc->ring_len > RING_SIZE)
		return -1;

	switch (svc->sched) {
	case XLB_SCHED_RR:
	case XLB_SCHED_WRR:
	default:
		idx = sched_rr(svc);
		break;
	}

	key = (svc->id * 2 + (svc->slot & 1)) * RING_SIZE + idx;
	id = bpf_map_lookup_elem(&svc_rings, &key);
	if (!id)
		return -1;
	*real_id = *id;
	return 0;
}

#endif /* XLB_SCHED_H */
