/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The program's clock: jiffies. Reading them is one load (the verifier
 * inlines bpf_jiffies64), where a ktime helper costs about 30 ns a packet;
 * flows and templates time out in seconds, so a tick (1 to 10 ms) is
 * resolution enough. The loader learns HZ and writes it to clock_hz, and
 * runs xlb_clock to read the same clock from Go.
 */
#ifndef XLB_CLOCK_H
#define XLB_CLOCK_H

#include <bpf/bpf_helpers.h>

#include "maps.h"

static __always_inline __u64 clock_now(void)
{
	return bpf_jiffies64();
}

/* clock_hz is jiffies per second (1000 until the loader has said). */
static __always_inline __u64 clock_hz(void)
{
	__u32 key = 0;
	__u32 *hz = bpf_map_lookup_elem(&clock_hz_map, &key);

	return hz && *hz ? *hz : 1000;
}

#endif /* XLB_CLOCK_H */
