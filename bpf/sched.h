/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Scheduling of new flows. A service's live ring slot lists real ids; the
 * control plane computes it per scheduler:
 *   rr, lc, wlc, sed, nq: each real that takes new flows, once;
 *   wrr, sh: IPVS's interleaved weighted sequence;
 *   mh: a weighted Maglev lookup table (its size a prime).
 * rr/wrr walk the ring with a shared counter, sh/mh index it by a hash of
 * the client's address (and port), the lc family compares the live
 * connection counts of every real in it (IPVS's overhead formulas).
 */
#ifndef XLB_SCHED_H
#define XLB_SCHED_H

#include "maps.h"

static __always_inline __u32 hash_mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* hash_src hashes the client's address, and its port for sh-port/mh-port. */
static __always_inline __u32 hash_src(struct flow_key *k, int with_port)
{
	__u32 h = 0x9e3779b9;

	h = hash_mix(h ^ k->src[0]);
	h = hash_mix(h ^ k->src[1]);
	h = hash_mix(h ^ k->src[2]);
	h = hash_mix(h ^ k->src[3]);
	if (with_port)
		h = hash_mix(h ^ k->sport);
	return h;
}

static __always_inline __u32 ring_key(struct service *svc)
{
	return svc->id * 2 + (svc->slot & 1);
}

/* ring_chunk_at is chunk c of the service's live ring; NULL if it has none. */
static __always_inline struct ring_chunk *ring_chunk_at(__u32 key, __u32 c)
{
	void *ring = bpf_map_lookup_elem(&svc_rings, &key);

	if (!ring)
		return NULL;
	return bpf_map_lookup_elem(ring, &c);
}

/* ring_at reads entry idx of the service's live ring; -1 if it has none. */
static __always_inline int ring_at(__u32 key, __u32 idx, __u32 *real_id)
{
	struct ring_chunk *chunk = ring_chunk_at(key, idx >> XLB_RING_CHUNK_BITS);

	if (!chunk)
		return -1;
	*real_id = chunk->ids[idx & (XLB_RING_CHUNK - 1)];
	return 0;
}

static __always_inline __u32 sched_rr(struct service *svc)
{
	struct sched_state *st = bpf_map_lookup_elem(&sched_states, &svc->id);

	if (!st)
		return 0;
	return __sync_fetch_and_add(&st->rr_next, 1) % svc->ring_len;
}

/* The least-connection family's walk over the ring. */
struct lc_walk {
	__u32 key; /* the ring */
	__u32 len; /* its live entries */
	__u32 sched;
	__u32 best_id;
	__u32 best_w;
	__u64 best_oh;
	int found;
};

/* lc_consider compares real id with the best so far; 1: it takes the flow. */
static __always_inline int lc_consider(struct lc_walk *w, __u32 id)
{
	struct conn_counts *cc = bpf_map_lookup_elem(&real_conns, &id);
	struct real *rl;
	__u64 act, oh, wt;

	if (!cc)
		return 0;
	/* The sweeper's recount may race an update: never below zero. */
	act = cc->active > 0 ? cc->active : 0;
	if (w->sched == XLB_SCHED_NQ && act == 0) {
		/* An idle real takes the flow at once. */
		w->best_id = id;
		w->found = 1;
		return 1;
	}
	if (w->sched == XLB_SCHED_LC || w->sched == XLB_SCHED_WLC)
		oh = (act << 8) + (cc->inactive > 0 ? cc->inactive : 0);
	else /* sed, nq */
		oh = act + 1;
	if (w->sched == XLB_SCHED_LC) {
		wt = 1;
	} else {
		/*
		 * The ring says which reals take new flows (the control plane
		 * leaves out weight 0 and removed ones). A real's weight is
		 * written before the ring that drops it goes live: for that
		 * instant its old ring still holds it, so weight 0 counts as 1
		 * rather than as "none left".
		 */
		rl = bpf_map_lookup_elem(&reals, &id);
		if (!rl)
			return 0;
		wt = rl->weight ? rl->weight : 1;
	}
	/* oh/wt < best_oh/best_w; the first real wins a tie, as in IPVS. */
	if (!w->found || oh * w->best_w < w->best_oh * wt) {
		w->best_id = id;
		w->best_w = wt;
		w->best_oh = oh;
		w->found = 1;
	}
	return 0;
}

/*
 * lc_chunk is bpf_loop's step c: the ring's chunk c, one ring lookup (a
 * helper call) for XLB_RING_CHUNK reals.
 */
static int lc_chunk(__u32 c, void *data)
{
	struct lc_walk *w = data;
	struct ring_chunk *chunk = ring_chunk_at(w->key, c);
	__u32 first = c << XLB_RING_CHUNK_BITS;

	if (!chunk)
		return 1;
	for (__u32 j = 0; j < XLB_RING_CHUNK; j++) {
		if (first + j >= w->len)
			return 1;
		if (lc_consider(w, chunk->ids[j]))
			return 1;
	}
	return 0;
}

/*
 * sched_pick stores the chosen real's id in *real_id; -1: no real takes new
 * flows. A global function, so the verifier checks it once for any
 * arguments: inlined, the lc family's bpf_loop walk was checked again for
 * every state the packet paths reach it in, more than half of all the
 * instructions the verifier processed for the program.
 */
__noinline int sched_pick(struct service *svc, struct flow_key *k, __u32 *real_id)
{
	struct lc_walk w = {};
	__u32 idx;

	/* A global function's pointers may be NULL for the verifier. */
	if (!svc || !k || !real_id)
		return -1;
	if (svc->ring_len == 0 || svc->ring_len > XLB_MAX_RING)
		return -1;

	switch (svc->sched) {
	case XLB_SCHED_LC:
	case XLB_SCHED_WLC:
	case XLB_SCHED_SED:
	case XLB_SCHED_NQ:
		w.key = ring_key(svc);
		w.len = svc->ring_len < XLB_MAX_SVC_REALS ? svc->ring_len : XLB_MAX_SVC_REALS;
		w.sched = svc->sched;
		bpf_loop((w.len + XLB_RING_CHUNK - 1) >> XLB_RING_CHUNK_BITS, lc_chunk, &w, 0);
		if (!w.found)
			return -1;
		*real_id = w.best_id;
		return 0;
	case XLB_SCHED_SH:
	case XLB_SCHED_MH:
		idx = hash_src(k, svc->flags & XLB_SVC_F_HASH_PORT) % svc->ring_len;
		break;
	case XLB_SCHED_RR:
	case XLB_SCHED_WRR:
	default:
		idx = sched_rr(svc);
		break;
	}
	return ring_at(ring_key(svc), idx, real_id);
}

#endif /* XLB_SCHED_H */
