/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sending a rewritten packet on: the kernel's FIB gives the egress device
 * and both MACs; the packet leaves by XDP_TX on the device it came in on,
 * or by redirect to another one.
 */
#ifndef XLB_FWD_H
#define XLB_FWD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "packet.h"
#include "stats.h"

#define XLB_FORWARDED(verdict) ((verdict) == XDP_TX || (verdict) == XDP_REDIRECT)

/*
 * fib_to looks up the way to next_hop_dst (the real for DR and NAT, the
 * client for NAT replies) for the packet as it is.
 */
static __always_inline long fib_to(struct packet *p, const __be32 *next_hop_dst,
				   struct bpf_fib_lookup *fib)
{
	fib->l4_protocol = p->proto;
	fib->ifindex = p->ingress;
	if (p->family == AF_INET) {
		fib->family = AF_INET;
		fib->tos = p->ip->tos;
		fib->tot_len = bpf_ntohs(p->ip->tot_len);
		fib->ipv4_src = p->ip->saddr;
		fib->ipv4_dst = next_hop_dst[0];
	} else {
		fib->family = AF_INET6;
		fib->flowinfo = *(__be32 *)p->ip6 & bpf_htonl(0x0FFFFFFF);
		fib->tot_len = sizeof(struct ipv6hdr) + bpf_ntohs(p->ip6->payload_len);
		addr_copy(fib->ipv6_src, p->ip6->saddr);
		addr_copy(fib->ipv6_dst, next_hop_dst);
	}
	return bpf_fib_lookup(p->ctx, fib, sizeof(*fib), 0);
}

/* must_not_fragment: IPv4 with DF, or IPv6 (routers never fragment it). */
static __always_inline int must_not_fragment(struct packet *p)
{
	return p->family == AF_INET6 || (p->ip->frag_off & bpf_htons(0x4000));
}

/*
 * fwd_finish sends the packet on by the lookup's result rc. When the
 * neighbour is unresolved a NAT packet, already rewritten, is left to the
 * kernel, which resolves it and forwards (set pass_unresolved); a DR
 * packet still carries the VIP, which is local, so it is dropped instead.
 */
static __always_inline int fwd_finish(struct packet *p, long rc, struct bpf_fib_lookup *fib,
				      int pass_unresolved)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		if (pass_unresolved)
			return count_reason(XLB_PASS_NO_NEIGH, p->len, XDP_PASS);
		return count_reason(XLB_DROP_NO_NEIGH, p->len, XDP_DROP);
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return count_reason(XLB_PASS_FRAG_NEEDED, p->len, XDP_PASS);
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return count_reason(XLB_DROP_FWD_DISABLED, p->len, XDP_DROP);
	default:
		return count_reason(XLB_DROP_NO_ROUTE, p->len, XDP_DROP);
	}

	__builtin_memcpy(p->eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, fib->smac, ETH_ALEN);

	/*
	 * A tagged frame goes back out tagged on the trunk it came from: the FIB
	 * names the VLAN device, which cannot transmit XDP frames itself.
	 */
	if (fib->ifindex == p->ingress || p->vlans)
		return XDP_TX;
	return bpf_redirect(fib->ifindex, 0);
}

/* fwd_to sends the packet toward next_hop_dst as it is. */
static __always_inline int fwd_to(struct packet *p, const __be32 *next_hop_dst, int pass_unresolved)
{
	struct bpf_fib_lookup fib = {};
	long rc = fib_to(p, next_hop_dst, &fib);

	return fwd_finish(p, rc, &fib, pass_unresolved);
}

#endif /* XLB_FWD_H */
