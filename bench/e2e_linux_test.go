package main

import "testing"

// TestTurnOrders: every order measures every setup once, every setup
// takes each place once, and within the orders follows each other setup
// once, so no setup always finds the caches as one other left them.
func TestTurnOrders(t *testing.T) {
	n := len(turnOrders[0])
	if len(turnOrders) != n {
		t.Fatalf("%d orders of %d setups, want %d", len(turnOrders), n, n)
	}
	for _, order := range turnOrders {
		seen := map[int]bool{}
		for _, s := range order {
			if s < 0 || s >= n || seen[s] {
				t.Errorf("order %v: setup %d out of range or twice", order, s)
			}
			seen[s] = true
		}
	}
	for place := range n {
		seen := map[int]bool{}
		for _, order := range turnOrders {
			seen[order[place]] = true
		}
		if len(seen) != n {
			t.Errorf("place %d holds %d setups over the orders, want all %d", place, len(seen), n)
		}
	}
	follows := map[[2]int]int{}
	for _, order := range turnOrders {
		for i := 1; i < n; i++ {
			follows[[2]int{order[i-1], order[i]}]++
		}
	}
	for a := range n {
		for b := range n {
			if a != b && follows[[2]int{a, b}] != 1 {
				t.Errorf("setup %d follows setup %d %d times, want once", b, a, follows[[2]int{a, b}])
			}
		}
	}
}
