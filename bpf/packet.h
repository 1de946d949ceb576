/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The parsed packet handed between the stages of the program. */
#ifndef XLB_PACKET_H
#define XLB_PACKET_H

#include <linux/bpf.h>

#include "parsing.h"

struct packet {
	struct xdp_md *ctx;
	struct ethhdr *eth;
	struct iphdr *ip;
	__be16 *sport; /* in the TCP or UDP header */
	__be16 *dport;
	__sum16 *l4_csum;
	__u32 len; /* frame length, for byte counters */
	int vlans; /* VLAN tags in front of the IP header */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 tcp_flags; /* TCP: the segment's flags; UDP: 0 */
};

#endif /* XLB_PACKET_H */
