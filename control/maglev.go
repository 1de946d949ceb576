package control

import (
	"hash/fnv"
)

// DefaultMaglevSize is the Maglev lookup table size of an mh service with
// no mh_table_size: a prime, as the table must be (IPVS's default too).
const DefaultMaglevSize = 65537

// maglevTable builds a weighted Maglev lookup table of size m (a prime):
// entry i is the index into names of the real that flows hashing to i go
// to. Each real walks its own permutation of the table (offset and skip
// from hashes of its name, so a real's preferences do not depend on the
// others) and takes free entries in turns; a real takes a turn each time
// its accumulated weight reaches the largest weight, so entries are shared
// in proportion to weight. Reals of weight 0 get none. When one of N equal
// reals leaves, its entries are shared out and few others move.
func maglevTable(names []string, weights []int, m int) []int {
	if m <= 1 {
		return nil
	}
	maxW := 0
	var live []int
	for i, w := range weights {
		if w > 0 {
			live = append(live, i)
			maxW = max(maxW, w)
		}
	}
	if len(live) == 0 {
		return nil
	}
	offset := make([]uint64, len(names))
	skip := make([]uint64, len(names))
	next := make([]uint64, len(names))
	acc := make([]int, len(names))
	for _, i := range live {
		offset[i] = hashName(names[i], 0xa5) % uint64(m)
		skip[i] = hashName(names[i], 0x5a)%uint64(m-1) + 1
	}
	table := make([]int, m)
	for i := range table {
		table[i] = -1
	}
	filled := 0
	for filled < m {
		for _, i := range live {
			acc[i] += weights[i]
			if acc[i] < maxW {
				continue
			}
			acc[i] -= maxW
			for {
				c := (offset[i] + next[i]*skip[i]) % uint64(m)
				next[i]++
				if table[c] < 0 {
					table[c] = i
					filled++
					break
				}
			}
			if filled == m {
				break
			}
		}
	}
	return table
}

func hashName(name string, seed byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte{seed})
	h.Write([]byte(name))
	return h.Sum64()
}
