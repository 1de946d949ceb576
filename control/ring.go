package control

// wrrMaxRing bounds the interleaved sequence of wrr and sh: weights whose
// sequence is longer are scaled down proportionally.
const wrrMaxRing = 65536

// ringFor computes svc's ring as indexes into svc.Reals:
//   - rr, lc, wlc, sed, nq: every real of weight > 0 once (the lc family
//     compares their live connection counts per new flow);
//   - wrr, sh: IPVS's interleaved weighted sequence, walked in turn (wrr)
//     or indexed by a hash of the client (sh);
//   - mh: a weighted Maglev table of svc.MHTableSize entries.
func ringFor(svc *Service) []int {
	weights := make([]int, len(svc.Reals))
	for i, rl := range svc.Reals {
		weights[i] = rl.Weight
	}
	switch svc.Sched {
	case "mh":
		names := make([]string, len(svc.Reals))
		for i, rl := range svc.Reals {
			names[i] = rl.AddrPort().String()
		}
		size := svc.MHTableSize
		if size == 0 {
			size = DefaultMaglevSize
		}
		return maglevTable(names, weights, size)
	case "wrr", "sh":
		return ringOf("wrr", weights, wrrMaxRing)
	}
	return ringOf(svc.Sched, weights, wrrMaxRing)
}

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
