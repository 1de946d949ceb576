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
#include "conntrack.h"
#include "nat.h"
#include "fwd.h"
#include "icmp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * schedule picks the real of a new flow: the client's persistence template
 * if the service has one and its real still takes new flows, else the
 * scheduler's choice (recorded as the client's new template).
 */
static __always_inline int schedule(struct service *svc, struct flow_key *key, __u64 now,
				    __u32 *real_id)
{
	struct persist_key pk = {};

	if (!svc->persist_timeout)
		return sched_pick(svc, key, real_id);
	persist_key_of(svc, key, &pk);
	if (persist_pick(svc, &pk, now, real_id) == 0)
		return 0;
	if (sched_pick(svc, key, real_id) < 0)
		return -1;
	persist_record(&pk, *real_id, now);
	return 0;
}

/*
 * to_real forwards a packet addressed to a service to the flow's real. svc
 * is a copy: a preallocated hash map reuses a replaced element at once, so
 * the map's value may change under a packet that still reads it.
 */
static __always_inline int to_real(struct packet *p, struct service *svc)
{
	struct bpf_fib_lookup fib = {};
	struct flow_key key = {};
	struct flow *f;
	struct real *rl;
	__u64 now = bpf_ktime_get_ns();
	long rc;
	__u32 real_id;
	int new_conn = 0;
	int verdict;

	flow_key_of(p, &key);
	f = bpf_map_lookup_elem(&flows, &key);
	if (f && ct_reusable(p, f)) {
		ct_end(&key, f);
		f = NULL;
	}
	if (f) {
		real_id = f->real_id;
		f->atime_ns = now;
	} else {
		if (schedule(svc, &key, now, &real_id) < 0)
			return count_reason(XLB_DROP_NO_REAL, p->len, XDP_DROP);
		real_id = ct_insert_forward(&key, svc, real_id, now, first_state(p));
		new_conn = 1;
	}

	rl = bpf_map_lookup_elem(&reals, &real_id);
	if (!rl || rl->family != p->family)
		return count_reason(XLB_DROP_BAD_REAL, p->len, XDP_DROP);
	/* A segment with flags may move the state (an ACK in ESTABLISHED does not). */
	if (f && p->tcp_flags && (f->state != XLB_CS_ESTABLISHED || (p->tcp_flags & (TCP_FIN | TCP_RST))))
		ct_advance(f, rl->method == XLB_METHOD_DR ? CT_INPUT_ONLY : CT_INPUT, p->tcp_flags);

	rc = fib_to(p, rl->addr, &fib);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && must_not_fragment(p))
		return icmp_too_big(p, fib.mtu_result);
	if (rl->method == XLB_METHOD_NAT) {
		/* A real of an all-ports service keeps the client's port. */
		__be16 rport = rl->port ? rl->port : *p->dport;

		if (new_conn)
			ct_insert_reply(&key, rl, rport, real_id, now);
		nat_rewrite_dst(p, rl->addr, rport);
	}
	verdict = fwd_finish(p, rc, &fib, rl->method == XLB_METHOD_NAT);
	if (XLB_FORWARDED(verdict))
		count_real_in(real_id, p->len, new_conn);
	return verdict;
}

/* from_nat_real gives a NAT real's reply its VIP:port back and sends it to the client. */
static __always_inline int from_nat_real(struct packet *p)
{
	struct bpf_fib_lookup fib = {};
	struct flow_key key = {};
	__be32 client[4];
	struct flow *f;
	int verdict;
	long rc;

	flow_key_of(p, &key);
	f = bpf_map_lookup_elem(&flows, &key);
	if (!f || f->dir != XLB_FLOW_REPLY)
		return count_reason(XLB_PASS_NO_SERVICE, p->len, XDP_PASS);
	f->atime_ns = bpf_ktime_get_ns();
	ct_reply_advance(p, f);

	addr_copy(client, key.dst);
	rc = fib_to(p, client, &fib);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && must_not_fragment(p))
		return icmp_too_big(p, fib.mtu_result);
	nat_rewrite_src(p, f->vaddr, f->vport);
	verdict = fwd_finish(p, rc, &fib, 1);
	if (XLB_FORWARDED(verdict))
		count_real_out(f->real_id, p->len);
	return verdict;
}

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data };
	struct packet p = { .ctx = ctx, .len = data_end - data, .ingress = ctx->ingress_ifindex };
	struct endpoint ep = {};
	struct service *svc;
	struct tcphdr *tcp;
	struct udphdr *udp;
	struct icmphdr *icmp;
	int proto;

	proto = parse_ethhdr(&c, data_end, &p.eth, &p.vlans);
	if (proto < 0)
		return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
	if (proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&c, data_end, &p.ip);
		if (proto < 0)
			return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
		if (p.ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return count_reason(XLB_PASS_FRAGMENT, p.len, XDP_PASS);
		p.family = AF_INET;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ipv6hdr(&c, data_end, &p.ip6);
		if (proto == PARSE_IPV6_FRAGMENT)
			return count_reason(XLB_PASS_FRAGMENT, p.len, XDP_PASS);
		if (proto == PARSE_IPV6_EXT)
			return count_reason(XLB_PASS_IPV6_EXT, p.len, XDP_PASS);
		if (proto < 0)
			return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
		p.family = AF_INET6;
	} else {
		return count_reason(XLB_PASS_NOT_IP, p.len, XDP_PASS);
	}

	p.l4_off = c.pos - data;
	switch (proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((proto == IPPROTO_ICMP) != (p.family == AF_INET))
			return count_reason(XLB_PASS_NOT_TCP_UDP, p.len, XDP_PASS);
		icmp = c.pos;
		if ((void *)(icmp + 1) > data_end)
			return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
		p.proto = proto;
		return icmp_error_to_real(&p, icmp, data_end);
	case IPPROTO_TCP:
		if (parse_tcphdr(&c, data_end, &tcp) < 0)
			return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
		p.sport = &tcp->source;
		p.dport = &tcp->dest;
		p.l4_csum = &tcp->check;
		p.tcp_flags = tcp->flags;
		break;
	case IPPROTO_UDP:
		if (parse_udphdr(&c, data_end, &udp) < 0)
			return count_reason(XLB_PASS_MALFORMED, p.len, XDP_PASS);
		p.sport = &udp->source;
		p.dport = &udp->dest;
		p.l4_csum = &udp->check;
		break;
	default:
		return count_reason(XLB_PASS_NOT_TCP_UDP, p.len, XDP_PASS);
	}
	p.proto = proto;

	pkt_daddr(&p, ep.addr);
	ep.port = *p.dport;
	ep.proto = p.proto;
	ep.family = p.family;
	svc = bpf_map_lookup_elem(&services, &ep);
	if (!svc && any_port()) {
		ep.port = 0;
		svc = bpf_map_lookup_elem(&services, &ep);
	}
	if (svc) {
		struct service copy = *svc;

		return to_real(&p, &copy);
	}

	pkt_saddr(&p, ep.addr);
	ep.port = *p.sport;
	if (bpf_map_lookup_elem(&nat_reals, &ep))
		return from_nat_real(&p);
	if (any_port()) {
		ep.port = 0;
		if (bpf_map_lookup_elem(&nat_reals, &ep))
			return from_nat_real(&p);
	}

	return count_reason(XLB_PASS_NO_SERVICE, p.len, XDP_PASS);
}
