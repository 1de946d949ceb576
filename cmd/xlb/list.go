package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/xlbproject/xlb/loader"
)

// source is what `xlb list` reads: the pinned maps (loader.Dataplane) in
// use, a table in tests.
type source interface {
	Services() (map[loader.Endpoint]loader.Service, error)
	Reals() (map[uint32]loader.Real, error)
	RealStats(id uint32) (loader.RealCounters, error)
	RealConns(id uint32) (loader.ConnCounts, error)
}

// serviceRow is one virtual service with its reals, as read at one moment.
type serviceRow struct {
	ep    loader.Endpoint
	svc   loader.Service
	stats loader.RealCounters // the sum of its reals'
	rate  rate
	reals []realRow
}

type realRow struct {
	id    uint32
	real  loader.Real
	conns loader.ConnCounts
	stats loader.RealCounters
	rate  rate
}

// rate is counters per second over a sampling interval.
type rate struct {
	CPS, InPPS, OutPPS, InBPS, OutBPS float64
}

func rateOf(a, b loader.RealCounters, d time.Duration) rate {
	s := d.Seconds()
	per := func(x, y uint64) float64 {
		if y < x || s <= 0 {
			return 0 // counters reset under us (a real id reused)
		}
		return float64(y-x) / s
	}
	return rate{per(a.Conns, b.Conns), per(a.PacketsIn, b.PacketsIn), per(a.PacketsOut, b.PacketsOut),
		per(a.BytesIn, b.BytesIn), per(a.BytesOut, b.BytesOut)}
}

func (r *rate) add(o rate) {
	r.CPS += o.CPS
	r.InPPS += o.InPPS
	r.OutPPS += o.OutPPS
	r.InBPS += o.InBPS
	r.OutBPS += o.OutBPS
}

// serviceFilter keeps one service: -t VIP:PORT or -u VIP:PORT.
type serviceFilter struct {
	set bool
	ep  loader.Endpoint
}

func (f serviceFilter) keep(ep loader.Endpoint) bool { return !f.set || f.ep == ep }

// snapshot reads every service and real of src (one service with a filter),
// sorted by protocol, address and port as ipvsadm --sort does; reals by
// address and port.
func snapshot(src source, f serviceFilter) ([]serviceRow, error) {
	services, err := src.Services()
	if err != nil {
		return nil, err
	}
	reals, err := src.Reals()
	if err != nil {
		return nil, err
	}
	byID := make(map[uint32]*serviceRow)
	var rows []*serviceRow
	for ep, svc := range services {
		if !f.keep(ep) {
			continue
		}
		r := &serviceRow{ep: ep, svc: svc}
		byID[svc.ID] = r
		rows = append(rows, r)
	}
	if f.set && len(rows) == 0 {
		return nil, fmt.Errorf("no virtual service %s in the data plane (see xlb list)", f.ep)
	}
	for id, rl := range reals {
		sr := byID[rl.ServiceID]
		if sr == nil || rl.Removed {
			continue
		}
		st, err := src.RealStats(id)
		if err != nil {
			return nil, err
		}
		cc, err := src.RealConns(id)
		if err != nil {
			return nil, err
		}
		sr.reals = append(sr.reals, realRow{id: id, real: rl, conns: cc, stats: st})
		sr.stats.Add(st)
	}
	out := make([]serviceRow, 0, len(rows))
	for _, r := range rows {
		slices.SortFunc(r.reals, func(a, b realRow) int {
			return cmp.Or(a.real.Addr.Compare(b.real.Addr), cmp.Compare(a.real.Port, b.real.Port), cmp.Compare(a.id, b.id))
		})
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b serviceRow) int {
		return cmp.Or(cmp.Compare(a.ep.Proto, b.ep.Proto), a.ep.Addr.Compare(b.ep.Addr), cmp.Compare(a.ep.Port, b.ep.Port))
	})
	return out, nil
}

// withRates fills the rates of now from the earlier snapshot before, taken
// d earlier. Reals are matched by id.
func withRates(before, now []serviceRow, d time.Duration) {
	prev := make(map[uint32]loader.RealCounters)
	for _, s := range before {
		for _, r := range s.reals {
			prev[r.id] = r.stats
		}
	}
	for i := range now {
		s := &now[i]
		for j := range s.reals {
			r := &s.reals[j]
			if p, ok := prev[r.id]; ok {
				r.rate = rateOf(p, r.stats, d)
			}
			s.rate.add(r.rate)
		}
	}
}

// sortKeys are the --sort orders of the reals within a service: by address
// (ipvsadm's), or by a column, largest first.
var sortKeys = map[string]func(r realRow) float64{
	"weight":   func(r realRow) float64 { return float64(r.real.Weight) },
	"active":   func(r realRow) float64 { return float64(r.conns.Active) },
	"inactive": func(r realRow) float64 { return float64(r.conns.Inactive) },
	"conns":    func(r realRow) float64 { return float64(r.stats.Conns) },
	"inpkts":   func(r realRow) float64 { return float64(r.stats.PacketsIn) },
	"outpkts":  func(r realRow) float64 { return float64(r.stats.PacketsOut) },
	"inbytes":  func(r realRow) float64 { return float64(r.stats.BytesIn) },
	"outbytes": func(r realRow) float64 { return float64(r.stats.BytesOut) },
	"cps":      func(r realRow) float64 { return r.rate.CPS },
	"inpps":    func(r realRow) float64 { return r.rate.InPPS },
	"inbps":    func(r realRow) float64 { return r.rate.InBPS },
}

func sortKeyNames() string {
	names := []string{"addr"}
	for k := range sortKeys {
		names = append(names, k)
	}
	slices.Sort(names[1:])
	return strings.Join(names, ", ")
}

// sortReals orders each service's reals by key, largest first; "addr" or ""
// keeps the address order. Ties keep the address order.
func sortReals(rows []serviceRow, key string) error {
	if key == "" || key == "addr" {
		return nil
	}
	f, ok := sortKeys[key]
	if !ok {
		return fmt.Errorf("unknown sort key %q: use one of %s", key, sortKeyNames())
	}
	for _, s := range rows {
		slices.SortStableFunc(s.reals, func(a, b realRow) int { return cmp.Compare(f(b), f(a)) })
	}
	return nil
}

// listMode selects the columns of `xlb list`.
type listMode int

const (
	modeConns listMode = iota // ipvsadm -Ln, then the totals
	modeStats                 // ipvsadm -Ln --stats
	modeRate                  // ipvsadm -Ln --rate
)

// writeTable prints rows in ipvsadm's layout.
func writeTable(w io.Writer, rows []serviceRow, mode listMode, where string) error {
	fmt.Fprintf(w, "IP Virtual Server (xlb XDP data plane at %s)\n", where)
	switch mode {
	case modeStats:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
		fmt.Fprintln(w, "  -> RemoteAddress:Port")
	case modeRate:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
		fmt.Fprintln(w, "  -> RemoteAddress:Port")
	default:
		fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
		fmt.Fprintf(w, "  -> %-26s %-7s %6s %10s %10s %8s %10s %10s %12s %12s\n", "RemoteAddress:Port", "Forward", "Weight", "ActiveConn", "InActConn",
			"Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	}
	for _, s := range rows {
		vs := fmt.Sprintf("%-4s %s", s.ep.Proto, netip.AddrPortFrom(s.ep.Addr, s.ep.Port))
		switch mode {
		case modeStats:
			fmt.Fprintf(w, "%-33s %s\n", vs, statCols(s.stats))
		case modeRate:
			fmt.Fprintf(w, "%-33s %s\n", vs, rateCols(s.rate))
		default:
			fmt.Fprintf(w, "%s %s%s\n", vs, s.svc.Sched, flags(s.svc))
		}
		for _, r := range s.reals {
			ap := netip.AddrPortFrom(r.real.Addr, r.real.Port).String()
			switch mode {
			case modeStats:
				fmt.Fprintf(w, "  -> %-28s %s\n", ap, statCols(r.stats))
			case modeRate:
				fmt.Fprintf(w, "  -> %-28s %s\n", ap, rateCols(r.rate))
			default:
				c := r.stats
				fmt.Fprintf(w, "  -> %-26s %-7s %6d %10d %10d %8d %10d %10d %12d %12d\n", ap, forward(r.real.Method), r.real.Weight,
					max(r.conns.Active, 0), max(r.conns.Inactive, 0), c.Conns, c.PacketsIn, c.PacketsOut, c.BytesIn, c.BytesOut)
			}
		}
	}
	return nil
}

func statCols(c loader.RealCounters) string {
	return fmt.Sprintf("%8d %8d %8d %8d %8d", c.Conns, c.PacketsIn, c.PacketsOut, c.BytesIn, c.BytesOut)
}

func rateCols(r rate) string {
	return fmt.Sprintf("%8.0f %8.0f %8.0f %8.0f %8.0f", r.CPS, r.InPPS, r.OutPPS, r.InBPS, r.OutBPS)
}

// flags is ipvsadm's Flags column: persistence and the hash flags.
func flags(svc loader.Service) string {
	out := ""
	if svc.PersistTimeout > 0 {
		out += fmt.Sprintf(" persistent %d", svc.PersistTimeout)
		if svc.PersistPrefix != 32 && svc.PersistPrefix != 128 {
			out += fmt.Sprintf(" mask /%d", svc.PersistPrefix)
		}
	}
	if svc.HashPort && (svc.Sched == loader.SchedSH || svc.Sched == loader.SchedMH) {
		out += " (" + svc.Sched.String() + "-port)"
	}
	return out
}

// forward names a method as ipvsadm's Forward column does.
func forward(m loader.Method) string {
	switch m {
	case loader.MethodNAT:
		return "Masq"
	case loader.MethodDR:
		return "Route"
	}
	return m.String()
}

// The -o json document of `xlb list`: schema 1, documented in docs/cli.md.
// Fields are only ever added; a change of meaning gets a new schema number.
type jsonList struct {
	Schema int `json:"schema"`
	// RateInterval is the sampling interval in seconds of --rate.
	RateInterval *float64      `json:"rate_interval_seconds,omitempty"`
	Services     []jsonService `json:"services"`
}

type jsonService struct {
	Proto              string     `json:"proto"`
	Address            string     `json:"address"`
	Port               uint16     `json:"port"`
	Scheduler          string     `json:"scheduler"`
	PersistenceTimeout uint32     `json:"persistence_timeout"`
	PersistencePrefix  uint8      `json:"persistence_prefix_len"`
	HashPort           bool       `json:"hash_port"`
	Stats              jsonStats  `json:"stats"`
	Rate               *jsonRate  `json:"rate,omitempty"`
	Reals              []jsonReal `json:"reals"`
}

type jsonReal struct {
	Address       string    `json:"address"`
	Port          uint16    `json:"port"`
	Forward       string    `json:"forward"`
	Weight        uint32    `json:"weight"`
	ActiveConns   int64     `json:"active_conns"`
	InactiveConns int64     `json:"inactive_conns"`
	Stats         jsonStats `json:"stats"`
	Rate          *jsonRate `json:"rate,omitempty"`
}

type jsonStats struct {
	Conns      uint64 `json:"conns"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
}

type jsonRate struct {
	CPS    float64 `json:"cps"`
	InPPS  float64 `json:"in_pps"`
	OutPPS float64 `json:"out_pps"`
	InBPS  float64 `json:"in_bps"`
	OutBPS float64 `json:"out_bps"`
}

func toJSONStats(c loader.RealCounters) jsonStats {
	return jsonStats{c.Conns, c.PacketsIn, c.PacketsOut, c.BytesIn, c.BytesOut}
}

func toJSONRate(r rate, on bool) *jsonRate {
	if !on {
		return nil
	}
	return &jsonRate{r.CPS, r.InPPS, r.OutPPS, r.InBPS, r.OutBPS}
}

// writeJSON prints rows as the schema 1 document; interval > 0 adds rates.
func writeJSON(w io.Writer, rows []serviceRow, interval time.Duration) error {
	doc := jsonList{Schema: 1, Services: []jsonService{}}
	withRate := interval > 0
	if withRate {
		s := interval.Seconds()
		doc.RateInterval = &s
	}
	for _, s := range rows {
		js := jsonService{Proto: s.ep.Proto.String(), Address: s.ep.Addr.String(), Port: s.ep.Port, Scheduler: s.svc.Sched.String(),
			PersistenceTimeout: s.svc.PersistTimeout, PersistencePrefix: s.svc.PersistPrefix, HashPort: s.svc.HashPort,
			Stats: toJSONStats(s.stats), Rate: toJSONRate(s.rate, withRate), Reals: []jsonReal{}}
		if s.svc.PersistTimeout == 0 {
			js.PersistencePrefix = 0
		}
		for _, r := range s.reals {
			js.Reals = append(js.Reals, jsonReal{Address: r.real.Addr.String(), Port: r.real.Port, Forward: r.real.Method.String(),
				Weight: r.real.Weight, ActiveConns: max(r.conns.Active, 0), InactiveConns: max(r.conns.Inactive, 0),
				Stats: toJSONStats(r.stats), Rate: toJSONRate(r.rate, withRate)})
		}
		doc.Services = append(doc.Services, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
