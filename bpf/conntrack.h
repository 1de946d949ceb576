/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connection table: an established flow keeps its real whatever happens
 * to the service's real set. NAT flows have a second, reply entry keyed by
 * the real's packets (real:port -> client), which restores the VIP.
 *
 * TCP flows follow IPVS's state machine. A NAT director sees both
 * directions (the forward entry's state moves on the client's packets by
 * the input table and on the real's SYN/FIN/RST by the output table); a DR
 * director sees only the client's packets and uses the input-only table.
 * Each real's ActiveConn (ESTABLISHED) and InActConn (the rest) change with
 * the state; the control plane's sweeper expires entries by state timeout
 * and recounts.
 */
#ifndef XLB_CONNTRACK_H
#define XLB_CONNTRACK_H

#include "maps.h"
#include "clock.h"
#include "packet.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

enum ct_table {
	CT_INPUT = 0,
	CT_OUTPUT = 1,
	CT_INPUT_ONLY = 2,
};

#define sNO XLB_CS_NONE
#define sES XLB_CS_ESTABLISHED
#define sSS XLB_CS_SYN_SENT
#define sSR XLB_CS_SYN_RECV
#define sFW XLB_CS_FIN_WAIT
#define sTW XLB_CS_TIME_WAIT
#define sCL XLB_CS_CLOSE
#define sCW XLB_CS_CLOSE_WAIT
#define sLA XLB_CS_LAST_ACK
#define sLI XLB_CS_LISTEN
#define sSA XLB_CS_SYNACK

/*
 * IPVS's tcp_states, [table][syn, fin, ack, rst][state]. One change: an ACK
 * that starts a flow (a connection older than the table, or one the LRU
 * evicted) makes it ESTABLISHED, not CLOSE, as xlb schedules such packets.
 */
static const __u8 tcp_states[3][4][XLB_CS_SYNACK + 1] =
    {
	[CT_INPUT] =
	    {
		/*	sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA */
		{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	    },
	[CT_OUTPUT] =
	    {
		{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
		{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
		{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	    },
	[CT_INPUT_ONLY] =
	    {
		{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
		{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
		{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	    },
};

/* tcp_event is the row of tcp_states a segment selects; -1: none (no flags). */
static __always_inline int tcp_event(__u8 flags)
{
	if (flags & TCP_RST)
		return 3;
	if (flags & TCP_SYN)
		return 0;
	if (flags & TCP_FIN)
		return 1;
	if (flags & TCP_ACK)
		return 2;
	return -1;
}

/* first_state is the state of a new flow whose first packet is p. */
static __always_inline __u32 first_state(struct packet *p)
{
	int ev;

	if (p->proto != IPPROTO_TCP)
		return XLB_CS_UDP;
	ev = tcp_event(p->tcp_flags);
	if (ev < 0 || ev > 3)
		return XLB_CS_NONE;
	return tcp_states[CT_INPUT][ev][sNO];
}

/* conn_count adds delta to the ActiveConn or InActConn of a real. */
static __always_inline void conn_count(__u32 real_id, __u32 state, __s64 delta)
{
	struct conn_counts *c = bpf_map_lookup_elem(&real_conns, &real_id);

	if (!c)
		return;
	if (state == XLB_CS_ESTABLISHED)
		__sync_fetch_and_add(&c->active, delta);
	else
		__sync_fetch_and_add(&c->inactive, delta);
}

/*
 * ct_advance moves a TCP flow's state on a segment with flags, by table.
 * Two CPUs may handle segments of one flow at the same instant (a NAT
 * client's FIN and its real's): the state moves by compare-and-swap, so
 * only the CPU whose swap lands counts the change, and the other applies
 * its segment to the state that CPU left, as if the two came in turn.
 */
static __always_inline void ct_advance(struct flow *f, int table, __u8 flags)
{
	__u32 old = f->state, seen, next;
	int ev = tcp_event(flags), try;

	if (ev < 0 || ev > 3 || table < 0 || table > 2)
		return;
	for (try = 0; try < 2; try++) {
		if (old > XLB_CS_SYNACK)
			return;
		next = tcp_states[table][ev][old];
		if (next == old)
			return;
		seen = __sync_val_compare_and_swap(&f->state, old, next);
		if (seen == old) {
			if ((old == XLB_CS_ESTABLISHED) != (next == XLB_CS_ESTABLISHED)) {
				conn_count(f->real_id, old, -1);
				conn_count(f->real_id, next, 1);
			}
			return;
		}
		old = seen;
	}
}

/* ct_opens: is p a client's TCP SYN without ACK, which opens a connection? */
static __always_inline int ct_opens(struct packet *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

/*
 * ct_reusable reports whether p, a client's SYN, opens a new connection on
 * the 5-tuple of the forward flow f, which has ended (TIME_WAIT or CLOSE).
 * As IPVS does with conn_reuse_mode 1, such a SYN is scheduled afresh
 * instead of following the old connection to its real, which may have
 * been removed since.
 */
static __always_inline int ct_reusable(struct packet *p, struct flow *f)
{
	return ct_opens(p) && f->dir == XLB_FLOW_FORWARD &&
	       (f->state == XLB_CS_TIME_WAIT || f->state == XLB_CS_CLOSE);
}

/* ct_end forgets the ended flow k (entry f) and uncounts it. */
static __always_inline void ct_end(struct flow_key *k, struct flow *f)
{
	__u32 real_id = f->real_id, state = f->state;

	/* Of two CPUs ending the flow at once, the one whose delete lands uncounts it. */
	if (bpf_map_delete_elem(&flows, k) == 0)
		conn_count(real_id, state, -1);
}

static __always_inline void flow_key_of(struct packet *p, struct flow_key *k)
{
	pkt_saddr(p, k->src);
	pkt_daddr(p, k->dst);
	k->sport = *p->sport;
	k->dport = *p->dport;
	k->proto = p->proto;
	k->family = p->family;
}

/*
 * ct_insert_forward records a new flow in state and counts it; -1 when the
 * table has the flow already (a retransmitted SYN, another CPU's packet
 * first, a reused port). In a full table the kernel takes a free entry,
 * evicting the least recently used flow, before it looks in the bucket:
 * an insert that fails has still evicted a flow, and when the evicted
 * flow is k's own, the insert succeeds as for a new flow.
 */
static __always_inline int ct_insert_forward(struct flow_key *k, struct service *svc, __u32 real_id,
					     __u64 now, __u32 state)
{
	struct flow f = {
	    .atime = now,
	    .dir = XLB_FLOW_FORWARD,
	    .state = state,
	    .real_id = real_id,
	    .svc_id = svc->id,
	};

	if (bpf_map_update_elem(&flows, k, &f, BPF_NOEXIST))
		return -1;
	conn_count(real_id, state, 1);
	return 0;
}

/* ct_insert_reply records where a NAT real's replies for this flow go. */
static __always_inline void ct_insert_reply(struct flow_key *fwd, struct real *rl, __be16 rport,
					    __u32 real_id, __u64 now)
{
	struct flow_key k = {
	    .sport = rport,
	    .dport = fwd->sport,
	    .proto = fwd->proto,
	    .family = fwd->family,
	};
	struct flow f = {
	    .atime = now,
	    .vport = fwd->dport,
	    .dir = XLB_FLOW_REPLY,
	    .real_id = real_id,
	    .svc_id = rl->svc_id,
	};

	addr_copy(k.src, rl->addr);
	addr_copy(k.dst, fwd->src);
	addr_copy(f.vaddr, fwd->dst);
	bpf_map_update_elem(&flows, &k, &f, BPF_ANY);
}

/*
 * ct_reply_advance moves the forward entry of a NAT reply's flow on the
 * real's SYN, FIN or RST (a plain ACK from the real changes no state the
 * director can be in), by the output table.
 */
static __always_inline void ct_reply_advance(struct packet *p, struct flow *reply)
{
	struct flow_key k = {};
	struct flow *f;

	if (p->proto != IPPROTO_TCP || !(p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)))
		return;
	pkt_daddr(p, k.src);
	addr_copy(k.dst, reply->vaddr);
	k.sport = *p->dport;
	k.dport = reply->vport;
	k.proto = p->proto;
	k.family = p->family;
	f = bpf_map_lookup_elem(&flows, &k);
	if (f && f->dir == XLB_FLOW_FORWARD)
		ct_advance(f, CT_OUTPUT, p->tcp_flags);
}

/* persist_key_of masks the client address to the service's granularity. */
static __always_inline void persist_key_of(struct service *svc, struct flow_key *k,
					   struct persist_key *pk)
{
	int i, bits;

#pragma unroll
	for (i = 0; i < 4; i++) {
		bits = (int)svc->persist_plen - 32 * i;
		if (bits >= 32)
			pk->addr[i] = k->src[i];
		else if (bits > 0)
			pk->addr[i] = k->src[i] & bpf_htonl(~0U << (32 - bits));
		else
			pk->addr[i] = 0;
	}
	pk->svc_id = svc->id;
	pk->family = k->family;
}

/*
 * persist_pick finds the real the template of k's client names, if the
 * template is younger than the timeout and the real still takes new
 * flows. persist_pick and persist_record are global functions, as
 * sched_pick is, so that the verifier checks each once: inlined, each of
 * their ways out is another state for every path after a new flow's
 * scheduling, which a SYN's insert before its lookup (xlb.c's
 * to_service) multiplies: 744k instructions processed, against 651k.
 */
__noinline int persist_pick(struct service *svc, struct flow_key *k, __u64 now, __u32 *real_id)
{
	struct persist_key pk = {};
	struct persist *t;
	struct real *rl;
	__u32 id;

	/* A global function's pointers may be NULL for the verifier. */
	if (!svc || !k || !real_id)
		return -1;
	persist_key_of(svc, k, &pk);
	t = bpf_map_lookup_elem(&persist_tmpl, &pk);
	/* The sweeper's refresh may stamp it a tick ahead of this CPU's now. */
	if (!t || (now > t->atime && now - t->atime > (__u64)svc->persist_timeout * clock_hz()))
		return -1;
	id = t->real_id;
	rl = bpf_map_lookup_elem(&reals, &id);
	if (!rl || rl->weight == 0 || (rl->flags & XLB_REAL_F_REMOVED) || rl->svc_id != svc->id)
		return -1;
	t->atime = now;
	*real_id = id;
	return 0;
}

/* persist_record makes real_id the real of k's client's template. */
__noinline int persist_record(struct service *svc, struct flow_key *k, __u32 real_id, __u64 now)
{
	struct persist_key pk = {};
	struct persist t = {.atime = now, .real_id = real_id};

	if (!svc || !k)
		return -1;
	persist_key_of(svc, k, &pk);
	return bpf_map_update_elem(&persist_tmpl, &pk, &t, BPF_ANY);
}

#endif /* XLB_CONNTRACK_H */
