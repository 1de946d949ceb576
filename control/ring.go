package control

// ringOf lists, in scheduling order, the indexes into reals of the reals that
// take new flows; the data plane walks it round-robin. Reals with weight 0
// (quiescent) are left out. For wrr the sequence interleaves the reals by
// weight exactly as IPVS's wrr does; weights whose sequence would not fit in
// size entries are scaled down proportionally.
func ringOf(sched string, weights []int, size int) []int {
	var ring []int
	if sched != "wrr" {
		for i, w := range weights {
			if w > 0 {
				ring = append(ring, i)
			}
		}
		return ring
	}

	ws := append([]int(nil), weights...)
	for {
		g, sum, maxW := 0, 0, 0
		for _, w := range ws {
			if w > 0 {
				g = gcd(g, w)
				sum += w
				maxW = max(maxW, w)
			}
		}
		if sum == 0 {
			return nil
		}
		if sum/g <= size {
			return wrrSequence(ws, g, maxW, sum/g)
		}
		for i, w := range ws {
			if w > 0 {
				ws[i] = max(1, w*size/sum)
			}
		}
	}
}

// wrrSequence runs IPVS's interleaved weighted round-robin for one full
// period: the current weight starts at the maximum and drops by the gcd
// after each pass; a real is chosen while its weight reaches it.
func wrrSequence(ws []int, g, maxW, n int) []int {
	seq := make([]int, 0, n)
	cw := maxW
	for len(seq) < n {
		for i, w := range ws {
			if w > 0 && w >= cw {
				seq = append(seq, i)
			}
		}
		cw -= g
		if cw <= 0 {
			cw = maxW
		}
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
