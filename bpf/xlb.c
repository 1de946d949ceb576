// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlb's XDP program: IPv4 and IPv6 packets to a virtual service (VIP, port, protocol) are
 * scheduled to a real and forwarded by DR or NAT; replies of NAT reals get
 * their VIP back; everything else passes to the kernel untouched.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"
#include "structs.h"
#include "maps.h"
#include "parsing.h"
#include "packet.h"
#include "stats.h"
#include "sched.h"
#include "clock.h"
#include "conntrack.h"
#include "nat.h"
#include "filter.h"
#include "fwd.h"
#include "icmp.h"
#include "flowcache.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * schedule picks the real of a new flow: the client's persistence template
 * if the service has one and its real still takes new flows, else the
 * scheduler's choice (recorded as the client's new template).
 */
static __always_inline int schedule(struct service *svc, struct flow_key *key, __u64 now,
				    __u32 *real_id)
{
	if (!svc->persist_timeout)
		return sched_pick(svc, key, real_id);
	if (persist_pick(svc, key, now, real_id) == 0)
		return 0;
	if (sched_pick(svc, key, real_id) < 0)
		return -1;
	persist_record(svc, key, *real_id, now);
	return 0;
}

/*
 * forward sends a client's packet of a flow (is_new: its first) to its
 * real, rewritten for NAT.
 */
static __always_inline int forward(struct packet *p, struct flow_key *key, __u32 real_id, __u64 now,
				   int is_new)
{
	struct nexthop hop;
	struct real *rl;
	__u32 mtu = 0;
	long rc;
	int verdict;

	rl = bpf_map_lookup_elem(&reals, &real_id);
	if (!rl || rl->family != p->family)
		return count_reason(p, XLB_DROP_BAD_REAL, XDP_DROP);
	rc = route(p, rl->addr, bpf_map_lookup_elem(&real_nexthops, &real_id), now, &hop, &mtu);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && must_not_fragment(p))
		return icmp_too_big(p, mtu);
	if (rl->method == XLB_METHOD_NAT) {
		/* A real of an all-ports service keeps the client's port. */
		__be16 rport = rl->port ? rl->port : *p->dport;

		if (is_new)
			ct_insert_reply(key, rl, rport, real_id, now);
		nat_rewrite_dst(p, rl->addr, rport);
	}
	verdict = fwd_finish(p, rc, &hop, rl->method == XLB_METHOD_NAT);
	if (XLB_FORWARDED(verdict))
		count_real_in(real_id, p->len, is_new);
	return verdict;
}

/*
 * new_flow records a client's first packet of a flow to a real of svc (a
 * copy, service_of): the one in *real_id when scheduled, else the one it
 * schedules. It returns 0 with the real in *real_id; -1 when no real takes
 * new flows; -2 when the table has the flow already (a retransmitted SYN,
 * a reused port, another CPU's packet first).
 */
static __always_inline int new_flow(struct packet *p, struct flow_key *key, struct service *svc,
				    __u32 *real_id, int scheduled, __u64 now)
{
	if (!scheduled && schedule(svc, key, now, real_id) < 0)
		return -1;
	if (ct_insert_forward(key, svc, *real_id, now, first_state(p)) < 0)
		return -2;
	return 0;
}

/* touch records that the flow f saw a packet now (a write only when the clock moved). */
static __always_inline void touch(struct flow *f, __u64 now)
{
	if (f->atime != now)
		f->atime = now;
}

/*
 * known_flow takes a client's packet of the flow f from the connection
 * table: it moves the flow's state.
 */
static __always_inline void known_flow(struct packet *p, struct flow *f)
{
	__u32 real_id = f->real_id;
	struct real *rl;

	/* A segment with flags may move the state (an ACK in ESTABLISHED does not). */
	if (p->tcp_flags &&
	    (f->state != XLB_CS_ESTABLISHED || (p->tcp_flags & (TCP_FIN | TCP_RST)))) {
		rl = bpf_map_lookup_elem(&reals, &real_id);
		if (rl)
			ct_advance(f, rl->method == XLB_METHOD_DR ? CT_INPUT_ONLY : CT_INPUT,
				   p->tcp_flags);
	}
}

/*
 * to_client gives a NAT real's reply its VIP:port (vaddr, vport) back and
 * sends it to the client, by the next hop reply_hop caches.
 */
static __always_inline int to_client(struct packet *p, struct flow_key *key, __u32 real_id,
				     const __be32 *vaddr, __be16 vport, struct nexthop *reply_hop,
				     __u64 now)
{
	struct nexthop hop;
	__u32 mtu = 0;
	int verdict;
	long rc;

	rc = route(p, key->dst, reply_hop, now, &hop, &mtu);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && must_not_fragment(p))
		return icmp_too_big(p, mtu);
	nat_rewrite_src(p, vaddr, vport);
	verdict = fwd_finish(p, rc, &hop, 1);
	if (XLB_FORWARDED(verdict))
		count_real_out(real_id, p->len);
	return verdict;
}

/* from_nat_real takes a NAT real's reply of the reply entry f from the connection table. */
static __always_inline int from_nat_real(struct packet *p, struct flow_key *key, struct flow *f,
					 __u64 now)
{
	ct_reply_advance(p, f);
	return to_client(p, key, f->real_id, f->vaddr, f->vport, &f->reply_hop, now);
}

/*
 * service_of copies the service of k's destination into svc; -1: none. A
 * copy, as a service element may be replaced under a packet that still
 * reads it.
 */
static __always_inline int service_of(struct flow_key *k, __u32 flags, struct service *svc)
{
	struct endpoint ep = {};
	struct service *found;

	addr_copy(ep.addr, k->dst);
	ep.port = k->dport;
	ep.proto = k->proto;
	ep.family = k->family;
	found = bpf_map_lookup_elem(&services, &ep);
	if (!found && (flags & XLB_DP_F_ANY_PORT)) {
		ep.port = 0;
		found = bpf_map_lookup_elem(&services, &ep);
	}
	if (!found)
		return -1;
	*svc = *found;
	return 0;
}

/*
 * to_new_flow schedules (unless scheduled: *real_id holds the real) and
 * records a client's packet of no flow, or a SYN reopening the ended flow
 * f, to a real of svc. It returns 0 with the real in *real_id, or -1 with
 * the packet's *verdict when no real takes new flows.
 */
static __always_inline int to_new_flow(struct packet *p, struct flow_key *key, struct flow *f,
				       struct service *svc, __u32 *real_id, int scheduled,
				       int *verdict, __u64 now)
{
	struct flow *won;

	if (f) {
		__u32 cached_on = f->cached_on;

		ct_end(key, f);
		fcache_forget(key, cached_on);
	}
	switch (new_flow(p, key, svc, real_id, scheduled, now)) {
	case -1:
		*verdict = count_reason(p, XLB_DROP_NO_REAL, XDP_DROP);
		return -1;
	case -2:
		/* Another CPU recorded the flow first: its choice wins. */
		won = bpf_map_lookup_elem(&flows, key);
		if (won)
			*real_id = won->real_id;
	}
	return 0;
}

/* to_known_flow takes a packet of the flow f from the connection table. */
static __always_inline int to_known_flow(struct packet *p, struct flow_key *key, struct flow *f,
					 __u64 now)
{
	int verdict;

	touch(f, now);
	if (f->dir == XLB_FLOW_REPLY) {
		verdict = from_nat_real(p, key, f, now);
	} else {
		known_flow(p, f);
		verdict = forward(p, key, f->real_id, now, 0);
	}
	/* After forwarding: the copy has the next hop the packet's route cached. */
	fcache_note(p, key, f, now);
	return verdict;
}

/*
 * to_service handles a TCP or UDP packet. The connection table comes
 * first, as in IPVS: a flow keeps its real, and a NAT reply its VIP, even
 * after the service changed or left; only a packet of no flow (or a SYN
 * reopening an ended one) gets a real of its own. This CPU's flow cache
 * comes before the table for the packets it may serve.
 *
 * A client's SYN (ct_opens) to a service without persistence is
 * scheduled and inserted before any lookup: it almost always opens a flow
 * the table does not have, and the insert walks the flow's bucket anyway
 * (a lookup before it cost each new flow about 60 ns). Only when the
 * insert finds the flow there (a retransmitted SYN, a reused port,
 * another CPU's packet first), or no real takes it, does the SYN go the
 * way of other packets; a reused port's SYN then keeps the real it was
 * given (opened -2). A persistent service's SYN goes that way at once, so
 * that a SYN that follows its flow leaves the client's template be.
 */
static __always_inline int to_service(struct packet *p, __u32 flags)
{
	struct flow_key key = {};
	struct flow_cache_entry *e;
	struct flow_cache_reply *r;
	struct service svc;
	struct flow *f;
	int verdict, opened = -1, has_svc = 0; /* has_svc: 0 not looked up, 1 yes, -1 no */
	__u32 real_id, slot;
	__u64 now;

	flow_key_of(p, &key);
	now = clock_now();
	e = fcache_may_serve(p) ? fcache_flow(&key, now, &slot) : NULL;
	if (e) {
		if (e->dir != XLB_FLOW_REPLY)
			return forward(p, &key, e->real_id, now, 0);
		r = fcache_reply(slot);
		if (r)
			return to_client(p, &key, e->real_id, r->vaddr, r->vport, &r->reply_hop,
					 now);
	}
	if (ct_opens(p)) {
		has_svc = service_of(&key, flags, &svc) == 0 ? 1 : -1;
		if (has_svc > 0 && !svc.persist_timeout)
			opened = new_flow(p, &key, &svc, &real_id, 0, now);
	}
	if (opened != 0) {
		f = bpf_map_lookup_elem(&flows, &key);
		if (f && !ct_reusable(p, f))
			return to_known_flow(p, &key, f, now);
		if (!has_svc)
			has_svc = service_of(&key, flags, &svc) == 0 ? 1 : -1;
		if (has_svc < 0)
			return count_reason(p, XLB_PASS_NO_SERVICE, XDP_PASS);
		if (to_new_flow(p, &key, f, &svc, &real_id, opened == -2, &verdict, now) < 0)
			return verdict;
	}
	return forward(p, &key, real_id, now, 1);
}

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = {.pos = data};
	struct packet p = {.ctx = ctx, .len = data_end - data, .ingress = ctx->ingress_ifindex};
	struct tcphdr *tcp;
	struct udphdr *udp;
	struct icmphdr *icmp;
	__u32 flags, src, dst;
	int proto;

	proto = parse_ethhdr(&c, data_end, &p.eth, &p.vlans);
	if (proto < 0)
		return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
	/*
	 * The filter first: a packet to no VIP and from no NAT real passes at
	 * the least cost, whatever its headers hold (a malformed or fragmented
	 * one too, as "no service").
	 */
	flags = dp_flags_now();
	if ((flags & XLB_DP_F_ADDR_FILTER) && peek_addrs(&c, data_end, proto, &src, &dst) == 0 &&
	    !addr_maybe(dst, 0) && !addr_maybe(src, 1))
		return count_reason(&p, XLB_PASS_NO_SERVICE, XDP_PASS);
	if (proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&c, data_end, &p.ip);
		if (proto < 0)
			return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
		if (p.ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return count_reason(&p, XLB_PASS_FRAGMENT, XDP_PASS);
		p.family = AF_INET;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ipv6hdr(&c, data_end, &p.ip6);
		if (proto == PARSE_IPV6_FRAGMENT)
			return count_reason(&p, XLB_PASS_FRAGMENT, XDP_PASS);
		if (proto == PARSE_IPV6_EXT)
			return count_reason(&p, XLB_PASS_IPV6_EXT, XDP_PASS);
		if (proto < 0)
			return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
		p.family = AF_INET6;
	} else {
		return count_reason(&p, XLB_PASS_NOT_IP, XDP_PASS);
	}

	p.l4_off = c.pos - data;
	switch (proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((proto == IPPROTO_ICMP) != (p.family == AF_INET))
			return count_reason(&p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		icmp = c.pos;
		if ((void *)(icmp + 1) > data_end)
			return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
		p.proto = proto;
		return icmp_error_to_real(&p, icmp, data_end);
	case IPPROTO_TCP:
		if (parse_tcphdr(&c, data_end, &tcp) < 0)
			return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
		p.sport = &tcp->source;
		p.dport = &tcp->dest;
		p.l4_csum = &tcp->check;
		p.tcp_flags = tcp->flags;
		break;
	case IPPROTO_UDP:
		if (parse_udphdr(&c, data_end, &udp) < 0)
			return count_reason(&p, XLB_PASS_MALFORMED, XDP_PASS);
		p.sport = &udp->source;
		p.dport = &udp->dest;
		p.l4_csum = &udp->check;
		break;
	default:
		return count_reason(&p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
	}
	p.proto = proto;
	return to_service(&p, flags);
}

/*
 * xlb_clock writes the program's clock (clock_now) into the first 8 bytes
 * of a test frame: the loader runs it with BPF_PROG_TEST_RUN to read the
 * clock the connection table's time stamps are in.
 */
SEC("xdp")
int xlb_clock(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 now = clock_now();

	if (data + sizeof(now) > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, &now, sizeof(now));
	return XDP_PASS;
}
