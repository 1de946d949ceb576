/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP and path MTU discovery through the director.
 *
 * icmp_too_big: a client's (or a NAT real's) packet does not fit the egress
 * MTU toward its next hop and may not be fragmented (DF, or IPv6). The
 * program answers it itself with ICMP "fragmentation needed" / ICMPv6
 * "packet too big" quoting the packet as its sender sent it (before any
 * NAT rewrite), so the sender's PMTU discovery finds its socket.
 *
 * icmp_error_to_real: an ICMP error (unreachable, fragmentation needed /
 * packet too big, time exceeded) addressed to a VIP quotes a packet the VIP
 * sent, i.e. a reply of a real; it goes to the real that owns the flow. For
 * NAT the outer destination and the quoted source become the real's again.
 */
#ifndef XLB_ICMP_H
#define XLB_ICMP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"
#include "csum.h"
#include "maps.h"
#include "packet.h"
#include "stats.h"
#include "filter.h"
#include "fwd.h"

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 un; /* unused + next-hop MTU (v4); MTU (v6) */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMP_TIME_EXCEEDED 11
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3

/* What the answer quotes: the sender's IP header and 8 bytes more. */
#define ICMP_QUOTE4 (20 + 8)
#define ICMP_QUOTE6 (40 + 8)

static __always_inline __u16 csum_of(void *buf, __u32 size, __u32 seed)
{
	return csum_fold(bpf_csum_diff(0, 0, buf, size, seed));
}

/*
 * reply_l2 writes the answer's Ethernet header and VLAN tags at data: back
 * to where the packet came from. hdr holds the packet's original ones.
 */
static __always_inline int reply_l2(void *data, void *data_end, __u8 *hdr, int vlans, __be16 proto)
{
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];

	if ((void *)(eth + 1) + 2 * sizeof(struct vlan_hdr) > data_end)
		return -1;
	__builtin_memcpy(eth, hdr, sizeof(*eth) + 2 * sizeof(struct vlan_hdr));
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	/* The inner EtherType stays what it was: IPv4 for IPv4, IPv6 for IPv6. */
	(void)proto;
	return 0;
}

/*
 * icmp_too_big answers p with an ICMP error carrying mtu and sends it back
 * out the ingress device, quoting p's IP header and 8 bytes of its TCP/UDP
 * header.
 */
static __always_inline int icmp_too_big(struct packet *p, __u32 mtu)
{
	struct xdp_md *ctx = p->ctx;
	__u8 l2hdr[sizeof(struct ethhdr) + 2 * sizeof(struct vlan_hdr)] = {};
	__u32 l2 = sizeof(struct ethhdr) + (p->vlans & 3) * sizeof(struct vlan_hdr);
	__u32 quote;
	__u32 hdrs, len = p->len;
	__be32 src[4], dst[4];
	void *data, *data_end, *l3;
	struct icmphdr *icmp;
	int family = p->family;
	__u8 pseudo[40];
	__u32 sum;

	/*
	 * The answer quotes the IP header and 8 bytes: a fixed size, so that
	 * the checksums are over a known length. A packet with IPv4 options or
	 * IPv6 extension headers is left to the kernel.
	 */
	if (family == AF_INET && p->l4_off == l2 + sizeof(struct iphdr))
		quote = ICMP_QUOTE4;
	else if (family == AF_INET6 && p->l4_off == l2 + sizeof(struct ipv6hdr))
		quote = ICMP_QUOTE6;
	else
		return count_reason(p, XLB_PASS_FRAG_NEEDED, XDP_PASS);
	if ((void *)p->eth + sizeof(l2hdr) > (void *)(long)ctx->data_end)
		return count_reason(p, XLB_PASS_FRAG_NEEDED, XDP_PASS);
	__builtin_memcpy(l2hdr, p->eth, sizeof(l2hdr));
	pkt_saddr(p, src);
	pkt_daddr(p, dst);
	hdrs = family == AF_INET ? sizeof(struct iphdr) + sizeof(*icmp)
				 : sizeof(struct ipv6hdr) + sizeof(*icmp);

	/* Room in front for the new IP and ICMP headers, then cut the tail. */
	if (bpf_xdp_adjust_head(ctx, -(int)hdrs))
		return count_reason(p, XLB_PASS_FRAG_NEEDED, XDP_PASS);
	/* The frame is now len + hdrs long; keep l2 + hdrs + quote of it. */
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + quote) - (int)len))
		return count_reason(p, XLB_DROP_NO_ROUTE, XDP_DROP);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (reply_l2(data, data_end, l2hdr, p->vlans, 0) < 0)
		return count_reason(p, XLB_DROP_NO_ROUTE, XDP_DROP);
	l3 = data + l2;

	if (family == AF_INET) {
		struct iphdr *ip = l3;

		icmp = (void *)(ip + 1);
		if ((void *)(icmp + 1) + ICMP_QUOTE4 > data_end)
			return count_reason(p, XLB_DROP_NO_ROUTE, XDP_DROP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = 0xc0;
		ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*icmp) + quote);
		ip->id = 0;
		ip->frag_off = 0;
		ip->ttl = 64;
		ip->protocol = IPPROTO_ICMP;
		ip->check = 0;
		ip->saddr = dst[0];
		ip->daddr = src[0];
		ip->check = csum_of(ip, sizeof(*ip), 0);
		icmp->type = ICMP_DEST_UNREACH;
		icmp->code = ICMP_FRAG_NEEDED;
		icmp->checksum = 0;
		icmp->un = bpf_htonl(mtu & 0xffff);
		icmp->checksum = csum_of(icmp, sizeof(*icmp) + ICMP_QUOTE4, 0);
	} else {
		struct ipv6hdr *ip6 = l3;

		icmp = (void *)(ip6 + 1);
		if ((void *)(icmp + 1) + ICMP_QUOTE6 > data_end)
			return count_reason(p, XLB_DROP_NO_ROUTE, XDP_DROP);
		*(__be32 *)ip6 = bpf_htonl(0x60000000);
		ip6->payload_len = bpf_htons(sizeof(*icmp) + quote);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = 255;
		addr_copy(ip6->saddr, dst);
		addr_copy(ip6->daddr, src);
		icmp->type = ICMPV6_PKT_TOOBIG;
		icmp->code = 0;
		icmp->checksum = 0;
		icmp->un = bpf_htonl(mtu);
		/* The ICMPv6 checksum covers a pseudo-header. */
		__builtin_memcpy(pseudo, dst, 16);
		__builtin_memcpy(pseudo + 16, src, 16);
		*(__be32 *)(pseudo + 32) = bpf_htonl(sizeof(*icmp) + quote);
		*(__be32 *)(pseudo + 36) = bpf_htonl(IPPROTO_ICMPV6);
		sum = bpf_csum_diff(0, 0, (__be32 *)pseudo, sizeof(pseudo), 0);
		icmp->checksum = csum_of(icmp, sizeof(*icmp) + ICMP_QUOTE6, sum);
	}
	/*
	 * Back out the ingress device by redirect: on veth, an XDP_TX of a
	 * frame whose head was moved did not reach the peer; a redirect does.
	 */
	return count_reason(p, XLB_TX_TOO_BIG, bpf_redirect(p->ingress, 0));
}

static __always_inline int fwd_icmp_to_real(struct packet *p, struct real *rl, __u32 real_id)
{
	int verdict = fwd_to(p, rl->addr, rl->method == XLB_METHOD_NAT);

	if (XLB_FORWARDED(verdict))
		count_real_in(real_id, p->len, 0);
	return verdict;
}

/*
 * icmp_error_to_real forwards an ICMP error about a VIP's packet to the
 * real of that flow; anything else passes. c points past the ICMP header's
 * start (at the ICMP header).
 */
static __always_inline int icmp_error_to_real(struct packet *p, struct icmphdr *icmp,
					      void *data_end)
{
	struct flow_key key = {};
	struct endpoint ep = {};
	__be16 *qsport, *qdport;
	struct real *rl;
	struct flow *f;
	__u32 real_id;
	int i;

	if (p->family == AF_INET) {
		struct iphdr *q = (void *)(icmp + 1);

		if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		if ((void *)(q + 1) > data_end || q->version != 4 || q->ihl != 5)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		qsport = (void *)(q + 1);
		qdport = qsport + 1;
		if ((void *)(qdport + 1) > data_end)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		if (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		ep.addr[0] = q->saddr;
		key.src[0] = q->daddr;
		key.dst[0] = q->saddr;
		ep.proto = key.proto = q->protocol;
	} else {
		struct ipv6hdr *q = (void *)(icmp + 1);

		if (icmp->type != ICMPV6_DEST_UNREACH && icmp->type != ICMPV6_PKT_TOOBIG &&
		    icmp->type != ICMPV6_TIME_EXCEED)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		if ((void *)(q + 1) > data_end || q->version != 6)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		qsport = (void *)(q + 1);
		qdport = qsport + 1;
		if ((void *)(qdport + 1) > data_end)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		if (q->nexthdr != IPPROTO_TCP && q->nexthdr != IPPROTO_UDP)
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
		addr_copy(ep.addr, q->saddr);
		addr_copy(key.src, q->daddr);
		addr_copy(key.dst, q->saddr);
		ep.proto = key.proto = q->nexthdr;
	}
	/* The quoted packet went VIP:vport -> client:cport. */
	ep.port = *qsport;
	ep.family = key.family = p->family;
	if (!bpf_map_lookup_elem(&services, &ep)) {
		ep.port = 0;
		if (!any_port() || !bpf_map_lookup_elem(&services, &ep))
			return count_reason(p, XLB_PASS_NOT_TCP_UDP, XDP_PASS);
	}
	key.sport = *qdport;
	key.dport = *qsport;
	f = bpf_map_lookup_elem(&flows, &key);
	if (!f || f->dir != XLB_FLOW_FORWARD)
		return count_reason(p, XLB_PASS_NO_SERVICE, XDP_PASS);
	real_id = f->real_id;
	rl = bpf_map_lookup_elem(&reals, &real_id);
	if (!rl || rl->family != p->family)
		return count_reason(p, XLB_DROP_BAD_REAL, XDP_DROP);

	if (rl->method == XLB_METHOD_NAT) {
		__be16 old_port = *qsport;

		if (p->family == AF_INET) {
			struct iphdr *q = (void *)(icmp + 1);
			__be32 old = q->saddr;
			__sum16 old_qcheck = q->check;

			if ((void *)(q + 1) > data_end)
				return count_reason(p, XLB_PASS_MALFORMED, XDP_PASS);
			/* Outer: to the real. ICMPv4's checksum has no pseudo-header. */
			csum_replace4(&p->ip->check, p->ip->daddr, rl->addr[0]);
			p->ip->daddr = rl->addr[0];
			/* Quoted: from the real, as the real sent it. */
			csum_replace4(&q->check, old, rl->addr[0]);
			q->saddr = rl->addr[0];
			csum_replace4(&icmp->checksum, old, rl->addr[0]);
			csum_replace2(&icmp->checksum, old_qcheck, q->check);
		} else {
			struct ipv6hdr *q = (void *)(icmp + 1);

			if ((void *)(q + 1) > data_end)
				return count_reason(p, XLB_PASS_MALFORMED, XDP_PASS);
#pragma unroll
			for (i = 0; i < 4; i++) {
				/* ICMPv6's checksum covers the outer addresses too. */
				csum_replace4(&icmp->checksum, p->ip6->daddr[i], rl->addr[i]);
				p->ip6->daddr[i] = rl->addr[i];
				csum_replace4(&icmp->checksum, q->saddr[i], rl->addr[i]);
				q->saddr[i] = rl->addr[i];
			}
		}
		if (rl->port) {
			csum_replace2(&icmp->checksum, old_port, rl->port);
			*qsport = rl->port;
		}
	}
	return fwd_icmp_to_real(p, rl, real_id);
}

#endif /* XLB_ICMP_H */
