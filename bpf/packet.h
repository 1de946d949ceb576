/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The parsed packet handed between the stages of the program. */
#ifndef XLB_PACKET_H
#define XLB_PACKET_H

#include <linux/bpf.h>

#include "consts.h"
#include "parsing.h"

struct packet {
	struct xdp_md *ctx;
	struct ethhdr *eth;
	struct iphdr *ip;    /* IPv4 */
	struct ipv6hdr *ip6; /* IPv6 */
	__be16 *sport;	     /* in the TCP or UDP header */
	__be16 *dport;
	__sum16 *l4_csum;
	__u32 len;     /* frame length, for byte counters */
	__u32 l4_off;  /* offset of the TCP/UDP header in the frame */
	__u32 ingress; /* ifindex the frame came in on */
	int vlans;     /* VLAN tags in front of the IP header */
	/*
	 * AF_INET or AF_INET6, in a stack slot of its own: the verifier keeps
	 * a constant stored whole, and so knows which of ip and ip6 is set. A
	 * byte beside proto and tcp_flags it forgets, and then, as clang
	 * lays the code out, it may follow an IPv6 packet down the IPv4 path
	 * (ip NULL) and reject the program.
	 */
	__u64 family;
	__u8 proto;	/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 tcp_flags; /* TCP: the segment's flags; UDP: 0 */
};

static __always_inline void addr_copy(__be32 *dst, const __be32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

/* pkt_saddr and pkt_daddr copy the packet's addresses (IPv4 in [0]). */
static __always_inline void pkt_saddr(struct packet *p, __be32 *a)
{
	if (p->family == AF_INET) {
		a[0] = p->ip->saddr;
		a[1] = a[2] = a[3] = 0;
	} else {
		addr_copy(a, p->ip6->saddr);
	}
}

static __always_inline void pkt_daddr(struct packet *p, __be32 *a)
{
	if (p->family == AF_INET) {
		a[0] = p->ip->daddr;
		a[1] = a[2] = a[3] = 0;
	} else {
		addr_copy(a, p->ip6->daddr);
	}
}

#endif /* XLB_PACKET_H */
