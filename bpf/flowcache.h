/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow cache: each CPU keeps copies of the connection table entries it
 * used lately, established flows and NAT replies, in a table of its own:
 * sets of two slots, indexed by a multiplicative hash of the 5-tuple. A
 * flow goes to a slot of its set that cannot serve (empty, flushed, or
 * filled more than the TTL ago, below); while both serve, a third flow of
 * the set is not cached. Replacing the slot filled longer ago instead made
 * three or more busy flows of a set take turns, each packet a miss that
 * also wrote a slot: with 65,536 flows a CPU, 370-410 ns a packet above
 * the floor against 250-270 (the bench's "DR established, 65536 flows",
 * before its calls ran on one CPU), and more than with no cache at all
 * (300-320). When a slot's TTL has passed, the next packet of its set that
 * misses takes it: its owner's, which refills it, or another flow's, so a
 * busy flow keeps its slot and one kept out gets in within about the TTL.
 * A hit costs an inlined array read and a 40-byte compare (two for the set's
 * second slot, on the same 128-byte block), and for a NAT reply one more
 * line (flow_cache_reply); the table costs a jhash of the key, a bucket
 * walk and the LRU's bookkeeping, about half of what an established
 * packet cost in all.
 *
 * Only what cannot change without the table is cached: a flow in
 * ESTABLISHED (or UDP), or a reply entry, for packets without SYN, FIN or
 * RST, which go to the table so that the state machine sees them. A slot
 * serves for at most XLB_FLOW_CACHE_TTL_SECONDS after it was filled; the
 * next packet then goes to the table, which refreshes the flow's idle
 * time (xlbd's sweeper allows for that second) and LRU position, and
 * refills the slot. Refreshing every quarter second instead cost the
 * end-to-end bench's packets about 4 ns each in table lookups. A flow
 * that leaves the table while a slot may still serve it must leave every
 * CPU's cache too. A SYN reopening an ended flow clears that flow's set
 * on the CPU its entry names as caching it (flow.cached_on: with RSS, the
 * one CPU its packets come to), or on every CPU when more than one may:
 * the other flows stay cached however often clients reuse their ports,
 * and a reopen reads two slots, not two for every CPU. xlbd's sweeper
 * deleting flows whose last table lookup was less than the TTL ago (a
 * slot is filled just after a lookup) bumps flow_cache_gen, which empties
 * every CPU's cache at once (maps.h).
 * A flow the LRU evicts when the table is full may keep its real on a CPU
 * that cached it for up to that second.
 */
#ifndef XLB_FLOWCACHE_H
#define XLB_FLOWCACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "clock.h"
#include "packet.h"
#include "conntrack.h"

_Static_assert(XLB_FLOW_CACHE_SLOTS == 1 << XLB_FLOW_CACHE_BITS,
	       "flow cache slots and index bits agree");
_Static_assert(sizeof(struct flow_cache_entry) == 64 && sizeof(struct flow_cache_reply) == 64,
	       "a flow cache slot and its reply part are a cache line each");

/* fcache_gen is the generation a slot must have to be used. */
static __always_inline __u32 fcache_gen(void)
{
	__u32 zero = 0;
	__u32 *gen = bpf_map_lookup_elem(&flow_cache_gen, &zero);

	return gen ? *gen : 0;
}

/* fcache_set_of is the first slot of k's set of two among each CPU's slots. */
static __always_inline __u32 fcache_set_of(const struct flow_key *k)
{
	__u32 h = k->src[0] ^ k->src[1] ^ k->src[2] ^ k->src[3];

	h = h * 0x9E3779B1U ^ k->dst[0] ^ k->dst[1] ^ k->dst[2] ^ k->dst[3];
	h = (h ^ ((__u32)k->sport << 16 | k->dport) ^ k->proto) * 0x9E3779B1U;
	return (h >> (32 - XLB_FLOW_CACHE_BITS)) & ~1U;
}

/* fcache_set is the index of this CPU's first slot of k's set of two. */
static __always_inline __u32 fcache_set(const struct flow_key *k)
{
	return bpf_get_smp_processor_id() * XLB_FLOW_CACHE_SLOTS + fcache_set_of(k);
}

/* fcache_holds: does slot e hold k? Compared as five 64-bit words. */
static __always_inline int fcache_holds(const struct flow_cache_entry *e, const struct flow_key *k)
{
	const __u64 *a = (const __u64 *)&e->key, *b = (const __u64 *)k;

	_Static_assert(sizeof(*k) == 5 * sizeof(__u64), "flow_key is five 64-bit words");
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

/* What fcache_forget_cpu clears: the key, from the slots of set. */
struct fcache_forget {
	struct flow_key key;
	__u32 set;
};

/* fcache_forget_cpu clears CPU cpu's slots of the set that hold the key; -1: no such CPU. */
static __always_inline int fcache_forget_cpu(__u32 cpu, const struct fcache_forget *f)
{
	__u32 idx = cpu * XLB_FLOW_CACHE_SLOTS + f->set;
	struct flow_cache_entry *e;

	for (int i = 0; i < 2; i++, idx++) {
		e = bpf_map_lookup_elem(&flow_cache, &idx);
		if (!e)
			return -1;
		if (fcache_holds(e, &f->key))
			e->key.family = 0; /* no packet's */
	}
	return 0;
}

/* fcache_forget_on is bpf_loop's step cpu; 1 (stop) past the last CPU's slots. */
static int fcache_forget_on(__u32 cpu, void *data)
{
	return fcache_forget_cpu(cpu, data) < 0;
}

/*
 * fcache_forget makes the caches of the CPUs cached_on names (the old
 * entry's, read before its delete) forget k, whose flow left the
 * connection table; every CPU's when it names more than one. Not
 * inlined: inlined, it cost every established packet about 7 ns (A/B,
 * the bench's "DR established"), though none of them runs it.
 */
static __noinline void fcache_forget(const struct flow_key *k, __u32 cached_on)
{
	struct fcache_forget f;

	if (!cached_on)
		return;
	f.key = *k;
	f.set = fcache_set_of(k);
	if (cached_on != XLB_CACHED_ON_MANY)
		fcache_forget_cpu(cached_on - 1, &f);
	else
		bpf_loop(XLB_MAX_CPUS, fcache_forget_on, &f, 0);
}

/*
 * fcache_mark records in the forward entry f that this CPU is about to
 * cache it, so that a SYN reopening the flow clears this CPU's slot. A
 * second CPU makes it XLB_CACHED_ON_MANY; only the first mark is written.
 */
static __always_inline void fcache_mark(struct flow *f)
{
	__u32 me = bpf_get_smp_processor_id() + 1, was = f->cached_on;

	if (was == me || was == XLB_CACHED_ON_MANY)
		return;
	if (was == 0) {
		was = __sync_val_compare_and_swap(&f->cached_on, 0, me);
		if (was == 0 || was == me)
			return;
	}
	f->cached_on = XLB_CACHED_ON_MANY;
}

/*
 * fcache_find is the slot of this CPU's set for k that holds k, if one
 * does, and its index in *idx (meaningless when none does).
 */
static __always_inline struct flow_cache_entry *fcache_find(const struct flow_key *k, __u32 *idx)
{
	struct flow_cache_entry *e;

	*idx = fcache_set(k);
	e = bpf_map_lookup_elem(&flow_cache, idx);
	if (e && fcache_holds(e, k))
		return e;
	++*idx;
	e = bpf_map_lookup_elem(&flow_cache, idx);
	return e && fcache_holds(e, k) ? e : NULL;
}

/* fcache_reply is the NAT reply part of slot idx. */
static __always_inline struct flow_cache_reply *fcache_reply(__u32 idx)
{
	return bpf_map_lookup_elem(&flow_cache_reply, &idx);
}

/* fcache_good: may slot e serve, by its generation and age? */
static __always_inline int fcache_good(const struct flow_cache_entry *e, __u64 now)
{
	return e->gen == fcache_gen() && now - e->stamp < clock_hz() * XLB_FLOW_CACHE_TTL_SECONDS;
}

/*
 * fcache_victim is the slot of k's set to fill with k, and its index in
 * *idx: one that cannot serve (empty, flushed, too old); NULL (and *idx
 * meaningless) while both serve.
 */
static __always_inline struct flow_cache_entry *fcache_victim(const struct flow_key *k, __u64 now,
							      __u32 *idx)
{
	__u32 idx0 = fcache_set(k), idx1 = idx0 + 1;
	struct flow_cache_entry *e0 = bpf_map_lookup_elem(&flow_cache, &idx0);
	struct flow_cache_entry *e1 = bpf_map_lookup_elem(&flow_cache, &idx1);

	if (!e0 || !e1)
		return NULL;
	*idx = idx0;
	if (!e0->key.family || !fcache_good(e0, now))
		return e0;
	*idx = idx1;
	if (!e1->key.family || !fcache_good(e1, now))
		return e1;
	return NULL;
}

/* fcache_may_serve: may p be forwarded from the cache (no flag the state machine needs)? */
static __always_inline int fcache_may_serve(const struct packet *p)
{
	return !(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST));
}

/*
 * fcache_flow finds k's flow in this CPU's cache: the slot, and its index
 * in *idx (the reply part's, whose reply_hop route() may refill).
 */
static __always_inline struct flow_cache_entry *fcache_flow(const struct flow_key *k, __u64 now,
							    __u32 *idx)
{
	struct flow_cache_entry *e = fcache_find(k, idx);

	return e && fcache_good(e, now) ? e : NULL;
}

/*
 * fcache_note keeps k's entry f, as p left it, in this CPU's cache when
 * its next packets may be served from there, and forgets it otherwise: a
 * forward entry in ESTABLISHED (or UDP), a NAT reply entry (its flow's
 * state moves only on the real's SYN, FIN or RST), for packets without
 * those flags.
 */
static __always_inline void fcache_note(const struct packet *p, const struct flow_key *k,
					struct flow *f, __u64 now)
{
	__u32 idx;
	struct flow_cache_entry *e = fcache_find(k, &idx);

	if (fcache_may_serve(p) && (f->dir == XLB_FLOW_REPLY || f->state == XLB_CS_ESTABLISHED ||
				    f->state == XLB_CS_UDP)) {
		if (!e)
			e = fcache_victim(k, now, &idx);
		if (!e)
			return;
		if (f->dir == XLB_FLOW_REPLY) {
			struct flow_cache_reply *r = fcache_reply(idx);

			if (!r)
				return;
			addr_copy(r->vaddr, f->vaddr);
			r->vport = f->vport;
			r->reply_hop = f->reply_hop;
		}
		/* UDP flows are never reopened. */
		if (f->dir == XLB_FLOW_FORWARD && f->state != XLB_CS_UDP)
			fcache_mark(f);
		e->key = *k;
		e->gen = fcache_gen();
		e->stamp = now;
		e->real_id = f->real_id;
		e->dir = f->dir;
	} else if (e) {
		e->key.family = 0; /* no packet's */
	}
}

#endif /* XLB_FLOWCACHE_H */
