/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cursor-based header parsing. Every parse_* checks its header against
 * data_end, advances the cursor past it and returns the next protocol, or -1
 * when the packet is too short or the header is invalid.
 */
#ifndef XLB_PARSING_H
#define XLB_PARSING_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

#include "consts.h"

struct cursor {
	void *pos;
};

struct ethhdr {
	__u8 h_dest[ETH_ALEN];
	__u8 h_source[ETH_ALEN];
	__be16 h_proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct iphdr {
	__u8 ihl : 4, version : 4;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__u8 priority : 4, version : 4;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__be32 saddr[4];
	__be32 daddr[4];
};

/* Hop-by-hop and destination options headers. */
struct ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-octet units, not counting the first 8 */
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset (high nibble) */
	__u8 flags; /* FIN 0x01, SYN 0x02, RST 0x04, PSH, ACK 0x10, ... */
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * parse_ethhdr walks the Ethernet header and up to MAX_VLAN_DEPTH VLAN tags.
 * It returns the inner EtherType (network order) and the tag count in *vlans.
 */
static __always_inline int parse_ethhdr(struct cursor *c, void *data_end, struct ethhdr **eth,
					int *vlans)
{
	struct ethhdr *e = c->pos;
	struct vlan_hdr *vh;
	__be16 proto;
	int i;

	if ((void *)(e + 1) > data_end)
		return -1;
	c->pos = e + 1;
	*eth = e;
	proto = e->h_proto;
	*vlans = 0;

#pragma unroll
	for (i = 0; i < MAX_VLAN_DEPTH; i++) {
		if (!proto_is_vlan(proto))
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->encapsulated_proto;
		c->pos = vh + 1;
		*vlans = i + 1;
	}
	/* A third tag is more than xlb walks: treat the frame as malformed. */
	if (proto_is_vlan(proto))
		return -1;
	return proto;
}

/* parse_iphdr accepts IPv4 with options; it returns the L4 protocol. */
static __always_inline int parse_iphdr(struct cursor *c, void *data_end, struct iphdr **iph)
{
	struct iphdr *ip = c->pos;
	__u32 hdrsize;

	if ((void *)(ip + 1) > data_end)
		return -1;
	if (ip->version != 4 || ip->ihl < 5)
		return -1;
	hdrsize = ip->ihl * 4;
	if (c->pos + hdrsize > data_end)
		return -1;
	/* The datagram must fit in the frame (trailing padding is fine). */
	if (bpf_ntohs(ip->tot_len) < hdrsize || (void *)ip + bpf_ntohs(ip->tot_len) > data_end)
		return -1;
	c->pos += hdrsize;
	*iph = ip;
	return ip->protocol;
}

/* parse_ipv6hdr's results besides a protocol number. */
#define PARSE_IPV6_FRAGMENT (-2) /* a fragment header: the kernel reassembles */
#define PARSE_IPV6_EXT (-3) /* an extension header xlb does not walk */

/*
 * parse_ipv6hdr accepts IPv6 and walks up to MAX_IPV6_EXT hop-by-hop and
 * destination options headers; it returns the upper-layer protocol, -1
 * for a malformed header, PARSE_IPV6_FRAGMENT or PARSE_IPV6_EXT.
 */
static __always_inline int parse_ipv6hdr(struct cursor *c, void *data_end, struct ipv6hdr **ip6h)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_opt_hdr *opt;
	__u32 len;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	if (ip6->version != 6)
		return -1;
	/* The datagram must fit in the frame (trailing padding is fine). */
	if ((void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > data_end)
		return -1;
	c->pos = ip6 + 1;
	*ip6h = ip6;
	next = ip6->nexthdr;

#pragma unroll
	for (i = 0; i < MAX_IPV6_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_DSTOPTS:
			opt = c->pos;
			if ((void *)(opt + 1) > data_end)
				return -1;
			len = ((__u32)opt->hdrlen + 1) * 8;
			if (c->pos + len > data_end)
				return -1;
			next = opt->nexthdr;
			c->pos += len;
			break;
		case IPPROTO_FRAGMENT:
			return PARSE_IPV6_FRAGMENT;
		case IPPROTO_ROUTING:
			return PARSE_IPV6_EXT;
		default:
			return next;
		}
	}
	if (next == IPPROTO_HOPOPTS || next == IPPROTO_DSTOPTS || next == IPPROTO_ROUTING)
		return PARSE_IPV6_EXT;
	if (next == IPPROTO_FRAGMENT)
		return PARSE_IPV6_FRAGMENT;
	return next;
}

/*
 * peek_addrs reads the source and destination of the IPv4 or IPv6 header
 * at the cursor (EtherType proto), not checking the rest of it, each
 * folded to one word: an IPv4 address, or the XOR of an IPv6 address's
 * four. It returns -1 when proto is neither or the fixed header does not
 * fit. The cursor stays.
 */
static __always_inline int peek_addrs(struct cursor *c, void *data_end, int proto, __u32 *src,
				      __u32 *dst)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = c->pos;

		if ((void *)(ip + 1) > data_end)
			return -1;
		*src = ip->saddr;
		*dst = ip->daddr;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = c->pos;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*src = ip6->saddr[0] ^ ip6->saddr[1] ^ ip6->saddr[2] ^ ip6->saddr[3];
		*dst = ip6->daddr[0] ^ ip6->daddr[1] ^ ip6->daddr[2] ^ ip6->daddr[3];
		return 0;
	}
	return -1;
}

static __always_inline int parse_tcphdr(struct cursor *c, void *data_end, struct tcphdr **tcph)
{
	struct tcphdr *t = c->pos;

	if ((void *)(t + 1) > data_end)
		return -1;
	c->pos = t + 1;
	*tcph = t;
	return 0;
}

static __always_inline int parse_udphdr(struct cursor *c, void *data_end, struct udphdr **udph)
{
	struct udphdr *u = c->pos;

	if ((void *)(u + 1) > data_end)
		return -1;
	c->pos = u + 1;
	*udph = u;
	return 0;
}

#endif /* XLB_PARSING_H */
