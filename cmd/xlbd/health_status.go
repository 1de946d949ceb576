package main

import (
	"sort"
	"time"
)

// checkerStatus is one checker of one real, as `xlb health` shows it.
type checkerStatus struct {
	VirtualServer string     `json:"virtual_server"`
	Real          string     `json:"real"`
	Checker       string     `json:"checker"`
	Up            bool       `json:"up"`
	DynamicWeight *int       `json:"dynamic_weight,omitempty"`
	LastReason    string     `json:"last_reason,omitempty"`
	LastChange    *time.Time `json:"last_change,omitempty"`
}

// Status lists every checker with what it last concluded and why; it is
// the health subsystem's answer to `xlb health`.
func (h *healthChecker) Status() any {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []checkerStatus{}
	for ref, rc := range h.reals {
		for _, target := range rc.targets {
			cs := rc.state[target]
			if cs == nil {
				continue
			}
			st := checkerStatus{
				VirtualServer: ref.Service.String(),
				Real:          ref.Real.String(),
				Checker:       cs.kind.String(),
				Up:            cs.up,
				LastReason:    cs.reason,
			}
			if cs.weightSet {
				w := cs.weight
				st.DynamicWeight = &w
			}
			if !cs.changed.IsZero() {
				t := cs.changed
				st.LastChange = &t
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VirtualServer != b.VirtualServer {
			return a.VirtualServer < b.VirtualServer
		}
		if a.Real != b.Real {
			return a.Real < b.Real
		}
		return a.Checker < b.Checker
	})
	return out
}
