/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sending a rewritten packet on: the kernel's FIB gives the egress device
 * and both MACs; the packet leaves by XDP_TX on the device it came in on,
 * or by redirect to another one.
 *
 * A FIB lookup costs more than the rest of an established flow's path, so
 * its answer is cached: per real (toward the real, as IPVS caches a
 * destination's route) and per NAT reply entry (toward the client). A
 * cached next hop is used while the FIB generation (fib_gen, bumped by
 * xlbd on every route, neighbour, link and address change) is the one it
 * was filled under, for the device it was filled for, and for at most a
 * second, which bounds what a change xlbd does not see (or that happens
 * while it is not running) can cost.
 */
#ifndef XLB_FWD_H
#define XLB_FWD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "clock.h"
#include "packet.h"
#include "stats.h"

#define XLB_FORWARDED(verdict) ((verdict) == XDP_TX || (verdict) == XDP_REDIRECT)

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* fib_generation is fib_gen[0]: 0 while no xlbd watches the FIB (no caching). */
static __always_inline __u32 fib_generation(void)
{
	__u32 key = 0;
	__u32 *gen = bpf_map_lookup_elem(&fib_gen, &key);

	return gen ? *gen : 0;
}

/* pkt_ip_len is the packet's IP datagram length, what a route's MTU bounds. */
static __always_inline __u32 pkt_ip_len(struct packet *p)
{
	if (p->family == AF_INET)
		return bpf_ntohs(p->ip->tot_len);
	return sizeof(struct ipv6hdr) + bpf_ntohs(p->ip6->payload_len);
}

/*
 * fib_to looks up the way to next_hop_dst (the real for DR and NAT, the
 * client for NAT replies) for the packet as it is, with tot_len as the
 * datagram length the route's MTU is checked against.
 */
static __always_inline long fib_to(struct packet *p, const __be32 *next_hop_dst, __u32 tot_len,
				   struct bpf_fib_lookup *fib)
{
	fib->l4_protocol = p->proto;
	fib->ifindex = p->ingress;
	fib->tot_len = tot_len;
	if (p->family == AF_INET) {
		fib->family = AF_INET;
		fib->tos = p->ip->tos;
		fib->ipv4_src = p->ip->saddr;
		fib->ipv4_dst = next_hop_dst[0];
	} else {
		fib->family = AF_INET6;
		fib->flowinfo = *(__be32 *)p->ip6 & bpf_htonl(0x0FFFFFFF);
		addr_copy(fib->ipv6_src, p->ip6->saddr);
		addr_copy(fib->ipv6_dst, next_hop_dst);
	}
	return bpf_fib_lookup(p->ctx, fib, sizeof(*fib), 0);
}

/*
 * nh_fill caches a successful lookup in nh. The route's MTU is not part
 * of a successful answer; a second lookup with the largest length learns
 * it (the FIB checks the MTU before the neighbour, so it is cheap). The
 * generation is written last: on another CPU a reader that sees it sees
 * the rest (the only concurrent writer writes the same answer).
 */
static __always_inline void nh_fill(struct packet *p, const __be32 *next_hop_dst,
				    struct bpf_fib_lookup *fib, struct nexthop *nh, __u32 gen,
				    __u32 stamp)
{
	struct bpf_fib_lookup probe = {};
	__u32 mtu = 0xFFFF;

	if (fib_to(p, next_hop_dst, 0xFFFF, &probe) == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		mtu = probe.mtu_result;
	WRITE_ONCE(nh->gen, 0);
	__builtin_memcpy(nh->dmac, fib->dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib->smac, ETH_ALEN);
	nh->mtu = mtu;
	nh->ifindex = fib->ifindex;
	nh->ingress = p->ingress;
	nh->stamp = stamp;
	WRITE_ONCE(nh->gen, gen);
}

/* route_lookup is route's way when the cache cannot answer: the FIB, and the cache refilled. */
static __always_inline long route_lookup(struct packet *p, const __be32 *next_hop_dst,
					 struct nexthop *cache, __u32 gen, __u32 stamp, __u32 len,
					 struct nexthop *hop, __u32 *mtu)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	rc = fib_to(p, next_hop_dst, len, &fib);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		*mtu = fib.mtu_result;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	__builtin_memcpy(hop->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(hop->smac, fib.smac, ETH_ALEN);
	hop->ifindex = fib.ifindex;
	if (cache && gen)
		nh_fill(p, next_hop_dst, &fib, cache, gen, stamp);
	return rc;
}

/*
 * route finds the way to next_hop_dst for p: from cache while it is
 * current, else from the FIB (refilling cache; cache may be NULL). It
 * returns a BPF_FIB_LKUP_RET_* code; on success hop holds the egress
 * device and MACs, on BPF_FIB_LKUP_RET_FRAG_NEEDED *mtu the route's MTU.
 */
static __always_inline long route(struct packet *p, const __be32 *next_hop_dst,
				  struct nexthop *cache, __u64 now, struct nexthop *hop, __u32 *mtu)
{
	__u32 gen = fib_generation();
	__u32 stamp = now;
	__u32 len = pkt_ip_len(p);

	if (cache && gen && READ_ONCE(cache->gen) == gen && cache->ingress == p->ingress &&
	    stamp - cache->stamp < clock_hz()) {
		*hop = *cache;
		if (len > hop->mtu) {
			*mtu = hop->mtu;
			return BPF_FIB_LKUP_RET_FRAG_NEEDED;
		}
		return BPF_FIB_LKUP_RET_SUCCESS;
	}
	return route_lookup(p, next_hop_dst, cache, gen, stamp, len, hop, mtu);
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
static __always_inline int fwd_finish(struct packet *p, long rc, struct nexthop *hop,
				      int pass_unresolved)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		if (pass_unresolved)
			return count_reason(p, XLB_PASS_NO_NEIGH, XDP_PASS);
		return count_reason(p, XLB_DROP_NO_NEIGH, XDP_DROP);
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return count_reason(p, XLB_PASS_FRAG_NEEDED, XDP_PASS);
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return count_reason(p, XLB_DROP_FWD_DISABLED, XDP_DROP);
	default:
		return count_reason(p, XLB_DROP_NO_ROUTE, XDP_DROP);
	}

	__builtin_memcpy(p->eth->h_dest, hop->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, hop->smac, ETH_ALEN);

	/*
	 * A tagged frame goes back out tagged on the trunk it came from: the FIB
	 * names the VLAN device, which cannot transmit XDP frames itself.
	 */
	if (hop->ifindex == p->ingress || p->vlans)
		return XDP_TX;
	return bpf_redirect(hop->ifindex, 0);
}

/* fwd_to sends the packet toward next_hop_dst as it is, without a cache. */
static __always_inline int fwd_to(struct packet *p, const __be32 *next_hop_dst, int pass_unresolved)
{
	struct nexthop hop = {};
	__u32 mtu;
	long rc = route(p, next_hop_dst, NULL, 0, &hop, &mtu);

	return fwd_finish(p, rc, &hop, pass_unresolved);
}

#endif /* XLB_FWD_H */
