/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the program is told about the whole data plane (dp_flags), and the
 * address filter that lets a packet for no service pass without a hash
 * lookup.
 */
#ifndef XLB_FILTER_H
#define XLB_FILTER_H

#include "maps.h"

/* dp_flags_now is dp_flags[0], enum dp_flags. */
static __always_inline __u32 dp_flags_now(void)
{
	__u32 key = 0;
	__u32 *f = bpf_map_lookup_elem(&dp_flags, &key);

	return f ? *f : 0;
}

/* any_port: does some service serve all ports of its VIP (port 0)? */
static __always_inline int any_port(void)
{
	return dp_flags_now() & XLB_DP_F_ANY_PORT;
}

/*
 * addr_maybe: is an address's bit set in half (0: VIPs, 1: NAT reals) of
 * addr_filter? folded is the address as peek_addrs folds it, its words
 * read as little-endian; the bit is its Fibonacci hash. The control plane
 * computes the same (loader.AddrHash).
 */
static __always_inline int addr_maybe(__u32 folded, __u32 half)
{
	__u32 h = (folded * 0x9E3779B1U) >> (32 - XLB_ADDR_FILTER_HASH_BITS);
	__u32 key = half * XLB_ADDR_FILTER_WORDS + (h >> 6);
	__u64 *word = bpf_map_lookup_elem(&addr_filter, &key);

	return word && (*word >> (h & 63)) & 1;
}

#endif /* XLB_FILTER_H */
