/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT (ldirectord "masq") address and port rewriting with checksum fix-up. */
#ifndef XLB_NAT_H
#define XLB_NAT_H

#include "consts.h"
#include "csum.h"
#include "packet.h"

static __always_inline void l4_csum_replace4(struct packet *p, __be32 from, __be32 to)
{
	if (p->proto == IPPROTO_UDP)
		udp_csum_replace4(p->l4_csum, from, to);
	else
		csum_replace4(p->l4_csum, from, to);
}

static __always_inline void l4_csum_replace2(struct packet *p, __be16 from, __be16 to)
{
	if (p->proto == IPPROTO_UDP)
		udp_csum_replace2(p->l4_csum, from, to);
	else
		csum_replace2(p->l4_csum, from, to);
}

/* nat_rewrite_dst turns client -> VIP:vport into client -> real:port. */
static __always_inline void nat_rewrite_dst(struct packet *p, const __be32 *addr, __be16 port)
{
	__be16 old_port = *p->dport;
	int i;

	if (p->family == AF_INET) {
		__be32 old_addr = p->ip->daddr;

		csum_replace4(&p->ip->check, old_addr, addr[0]);
		p->ip->daddr = addr[0];
		/* The TCP/UDP checksum covers the pseudo-header's addresses too. */
		l4_csum_replace4(p, old_addr, addr[0]);
	} else {
		/* IPv6 has no header checksum; its pseudo-header has all 128 bits. */
#pragma unroll
		for (i = 0; i < 4; i++) {
			l4_csum_replace4(p, p->ip6->daddr[i], addr[i]);
			p->ip6->daddr[i] = addr[i];
		}
	}
	l4_csum_replace2(p, old_port, port);
	*p->dport = port;
}

/* nat_rewrite_src turns real:port -> client into VIP:vport -> client. */
static __always_inline void nat_rewrite_src(struct packet *p, const __be32 *addr, __be16 port)
{
	__be16 old_port = *p->sport;
	int i;

	if (p->family == AF_INET) {
		__be32 old_addr = p->ip->saddr;

		csum_replace4(&p->ip->check, old_addr, addr[0]);
		p->ip->saddr = addr[0];
		l4_csum_replace4(p, old_addr, addr[0]);
	} else {
#pragma unroll
		for (i = 0; i < 4; i++) {
			l4_csum_replace4(p, p->ip6->saddr[i], addr[i]);
			p->ip6->saddr[i] = addr[i];
		}
	}
	l4_csum_replace2(p, old_port, port);
	*p->sport = port;
}

#endif /* XLB_NAT_H */
