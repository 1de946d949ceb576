package main

import (
	"cmp"
	"slices"
)

// E2EResults are the end-to-end figures of one run.
type E2EResults struct {
	// Packets: 64-byte UDP frames (60 bytes without the FCS).
	FrameBytes int `json:"frame_bytes"`
	Flows      int `json:"flows"`
	// Bounds of each generator run.
	MaxSeconds float64 `json:"max_seconds"`
	MaxPackets uint64  `json:"max_packets"`
	// Rounds is how many times each setup was measured.
	Rounds int       `json:"rounds"`
	PPS    []PPSCase `json:"pps"`
	// wrk's bounds, and how many times each TCP setup was measured.
	WrkSeconds     int        `json:"wrk_seconds"`
	WrkConnections int        `json:"wrk_connections"`
	ConnRounds     int        `json:"conn_rounds"`
	Conns          []ConnCase `json:"tcp_conns"`
}

// PPSCase is one forwarding setup's rate.
type PPSCase struct {
	Setup     string  `json:"setup"`
	Sent      uint64  `json:"sent"`
	Delivered uint64  `json:"delivered"`
	Seconds   float64 `json:"seconds"`
	PPS       float64 `json:"pps"`
	// CPUNsPerPacket is the busy CPU time of the whole machine (the
	// generator, the director, the LAN bridge and the reals) per packet
	// delivered.
	CPUNsPerPacket float64 `json:"cpu_ns_per_packet"`
	Error          string  `json:"error,omitempty"`
	// RoundsPPS are the rates of every round; the fields above are of
	// the median round.
	RoundsPPS []float64 `json:"rounds_pps,omitempty"`
}

// medianCases picks, per setup, the round of median rate and lists every
// round's rate beside it; a setup that failed in any round is reported by
// its first failure.
func medianCases(rounds [][]PPSCase) []PPSCase {
	return medianRounds(rounds, func(c *PPSCase) (string, float64, bool) { return c.Setup, c.PPS, c.Error != "" },
		func(c *PPSCase, rates []float64) { c.RoundsPPS = rates })
}

// medianConnCases is medianCases for the TCP connection rates.
func medianConnCases(rounds [][]ConnCase) []ConnCase {
	return medianRounds(rounds, func(c *ConnCase) (string, float64, bool) { return c.Setup, c.PerSec, c.Errors != "" },
		func(c *ConnCase, rates []float64) { c.RoundsPerSec = rates })
}

// medianRounds picks, per setup (in the order of their first round), the
// case of median rate and gives it every round's rate; a setup that failed
// in any round is its first failure.
func medianRounds[C any](rounds [][]C, of func(*C) (setup string, rate float64, failed bool), setRates func(*C, []float64)) []C {
	var order []string
	by := make(map[string][]C)
	for _, r := range rounds {
		for _, c := range r {
			setup, _, _ := of(&c)
			if _, ok := by[setup]; !ok {
				order = append(order, setup)
			}
			by[setup] = append(by[setup], c)
		}
	}
	var out []C
	for _, setup := range order {
		cs := by[setup]
		var failed *C
		var rates []float64
		for i := range cs {
			_, rate, bad := of(&cs[i])
			if bad && failed == nil {
				failed = &cs[i]
			}
			rates = append(rates, rate)
		}
		if failed != nil {
			out = append(out, *failed)
			continue
		}
		sorted := slices.Clone(cs)
		slices.SortFunc(sorted, func(a, b C) int {
			_, ra, _ := of(&a)
			_, rb, _ := of(&b)
			return cmp.Compare(ra, rb)
		})
		m := sorted[len(sorted)/2]
		setRates(&m, rates)
		out = append(out, m)
	}
	return out
}

// ConnCase is one setup's TCP connections per second (wrk, one request
// per connection).
type ConnCase struct {
	Setup    string  `json:"setup"`
	PerSec   float64 `json:"conns_per_sec"`
	Requests int64   `json:"requests"`
	Errors   string  `json:"errors,omitempty"`
	// CPUUsPerConn is the busy CPU time of the whole machine (wrk, the
	// servers, the director and the kernel's TCP on every host) per
	// connection.
	CPUUsPerConn float64 `json:"cpu_us_per_conn"`
	// BalancerUsPerConn is the CPU time of the balancer itself per
	// connection, where it can be told apart: HAProxy's process, xlb's XDP
	// program (the kernel's run-time statistics). Zero for the others.
	BalancerUsPerConn float64 `json:"balancer_us_per_conn,omitempty"`
	// SoftirqUsPerConn is the machine's softirq time per connection: every
	// host's packet receive (TCP included), the balancer's XDP program too.
	SoftirqUsPerConn float64 `json:"softirq_us_per_conn,omitempty"`
	// ClientUsPerConn is wrk's CPU time per connection (its process).
	ClientUsPerConn float64 `json:"client_us_per_conn,omitempty"`
	// ServersUsPerConn is the reals' Go HTTP servers' CPU time per
	// connection (the bench's own process, which runs them).
	ServersUsPerConn float64 `json:"servers_us_per_conn,omitempty"`
	// RoundsPerSec are the rates of every round; the fields above are of
	// the median round.
	RoundsPerSec []float64 `json:"rounds_conns_per_sec,omitempty"`
}

func (e *E2EResults) pps(setup string) float64 {
	if c := e.ppsCase(setup); c != nil {
		return c.PPS
	}
	return 0
}

// ppsCase is setup's median case; nil when it was not measured or failed.
func (e *E2EResults) ppsCase(setup string) *PPSCase {
	for i := range e.PPS {
		if e.PPS[i].Setup == setup && e.PPS[i].Error == "" {
			return &e.PPS[i]
		}
	}
	return nil
}

// ppsRatio is setup's rate as a multiple of of's: the median, over the
// rounds, of the two setups' ratio within a round, so that a slow or fast
// stretch of the shared machine moves both sides of each ratio alike. 0 when
// either was not measured.
func (e *E2EResults) ppsRatio(setup, of string) float64 {
	return ratioWithinRounds(e.PPS, setup, of, func(c *PPSCase) (string, []float64, bool) { return c.Setup, c.RoundsPPS, c.Error != "" })
}

// cpsRatio is ppsRatio for the TCP connection rates.
func (e *E2EResults) cpsRatio(setup, of string) float64 {
	return ratioWithinRounds(e.Conns, setup, of, func(c *ConnCase) (string, []float64, bool) { return c.Setup, c.RoundsPerSec, c.Errors != "" })
}

// ratioWithinRounds is roundsRatio of the rounds of setup and of among cases.
func ratioWithinRounds[C any](cases []C, setup, of string, rounds func(*C) (setup string, rates []float64, failed bool)) float64 {
	var a, b []float64
	for i := range cases {
		name, rates, failed := rounds(&cases[i])
		if failed {
			continue
		}
		if name == setup {
			a = rates
		}
		if name == of {
			b = rates
		}
	}
	return roundsRatio(a, b)
}

// roundsRatio is the median of a[i]/b[i]; 0 when the rounds do not pair up.
func roundsRatio(a, b []float64) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	var ratios []float64
	for i := range a {
		if b[i] > 0 {
			ratios = append(ratios, a[i]/b[i])
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2]
}

func (e *E2EResults) cps(setup string) float64 {
	if c := e.connCase(setup); c != nil {
		return c.PerSec
	}
	return 0
}

// connCase is ppsCase for the TCP connection rates.
func (e *E2EResults) connCase(setup string) *ConnCase {
	for i := range e.Conns {
		if e.Conns[i].Setup == setup && e.Conns[i].Errors == "" {
			return &e.Conns[i]
		}
	}
	return nil
}

// ControlResults are the control plane's figures.
type ControlResults struct {
	Services        int `json:"services"`
	RealsPerService int `json:"reals_per_service"`
	// RealHosts is how many distinct real addresses the services share.
	RealHosts int `json:"real_hosts"`
	// ApplyMs is the first Apply of the whole state into an empty data
	// plane; ReapplyMs applying the same state again (nothing changes).
	ApplyMs   float64 `json:"apply_ms"`
	ReapplyMs float64 `json:"reapply_ms"`
	// ChangeMs is applying the state with one real's weight changed.
	ChangeMs float64 `json:"one_real_change_ms"`
	// Touched is what that change wrote, read back from the maps.
	Touched Touched `json:"one_real_change_touched"`
	// MaglevReals, MaglevSlots and MaglevApplyMs: adding one mh service of
	// that many reals (the Maglev table built and its ring written) to
	// the applied state.
	MaglevReals   int     `json:"maglev_reals"`
	MaglevSlots   int     `json:"maglev_slots"`
	MaglevApplyMs float64 `json:"maglev_apply_ms"`

	// What an apply is made of, measured apart: one update of an
	// array-of-maps (a ring swapped into svc_rings), and one route lookup
	// plus a dump of the LAN link's neighbours (what the reconciler does
	// per real host to keep it resolved), each the mean of several.
	OuterMapUpdateMs float64 `json:"outer_map_update_ms"`
	NeighResolveMs   float64 `json:"neigh_resolve_ms"`
}

// Touched lists the map entries a change altered.
type Touched struct {
	Services []string `json:"services"` // endpoints whose service entry or live ring changed
	Reals    []uint32 `json:"reals"`    // real ids whose entry changed
	// OnlyChanged: nothing of any other service changed.
	OnlyChanged bool `json:"only_changed_service"`
}
