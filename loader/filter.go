package loader

import (
	"encoding/binary"
	"net/netip"
)

// AddrHash is an address's bit in a half of the program's address filter
// (bpf/filter.h addr_maybe): the XOR of its 32-bit words read as
// little-endian (an IPv4 address is one word; bpf/parsing.h peek_addrs
// folds them), by Fibonacci hashing.
func AddrHash(a netip.Addr) uint32 {
	var x uint32
	if a.Is4() {
		b := a.As4()
		x = binary.LittleEndian.Uint32(b[:])
	} else {
		b := a.As16()
		for i := 0; i < 16; i += 4 {
			x ^= binary.LittleEndian.Uint32(b[i:])
		}
	}
	return (x * 0x9E3779B1) >> (32 - uint32(xlbLimitsXLB_ADDR_FILTER_HASH_BITS))
}

const addrFilterWordsPerHalf = int(xlbLimitsXLB_ADDR_FILTER_WORDS)

// addrFilterWords is the address filter: the VIPs' half, then the NAT
// reals' half, a bit per AddrHash.
func addrFilterWords(vips, natReals []netip.Addr) []uint64 {
	w := make([]uint64, 2*addrFilterWordsPerHalf)
	for half, addrs := range [][]netip.Addr{vips, natReals} {
		for _, a := range addrs {
			h := AddrHash(a)
			w[half*addrFilterWordsPerHalf+int(h>>6)] |= 1 << (h & 63)
		}
	}
	return w
}
