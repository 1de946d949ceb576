package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/xlbproject/xlb/loader"
)

// DefaultSweepInterval is how often xlbd sweeps the connection table.
const DefaultSweepInterval = time.Second

// Sweeper expires connection table entries whose state timed out, expires
// persistence templates, and recounts every real's ActiveConn and
// InActConn from what is left. The data plane keeps those counts live as
// flows start and change state; the recount corrects what it cannot see
// (entries the LRU table evicted), so the counts match the table within
// one sweep.
type Sweeper struct {
	dp  *loader.Dataplane
	log *slog.Logger

	mu       sync.Mutex // guards timeouts, set by reloads while Run sweeps
	timeouts Timeouts
}

// SweepResult says what one sweep did.
type SweepResult struct {
	Flows            int // entries seen
	Expired          int // entries deleted (forward and NAT reply)
	ExpiredPersist   int // persistence templates deleted
	Active, Inactive int64
}

// NewSweeper returns a sweeper of dp's connection table with timeouts.
func NewSweeper(dp *loader.Dataplane, timeouts Timeouts, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Sweeper{dp: dp, log: log, timeouts: timeouts}
}

// SetTimeouts changes the timeouts from the next sweep on (a reload); it
// may be called while Run sweeps.
func (s *Sweeper) SetTimeouts(t Timeouts) {
	s.mu.Lock()
	s.timeouts = t
	s.mu.Unlock()
}

// Run sweeps every interval until ctx is done.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := s.Sweep(); err != nil {
				s.log.Warn("connection table sweep failed", "error", err)
			}
		}
	}
}

// clientOf names a persistence template's client prefix with its real.
type clientOf struct {
	svc    uint32
	client netip.Addr
	real   uint32
}

// flowID names a forward entry: its client, its VIP and protocol.
type flowID struct {
	client, vip netip.AddrPort
	proto       loader.Protocol
}

// Sweep runs once. An entry's idle time is its SinceLastPacket. A
// NAT flow's idle time is the shorter of its two entries' (replies keep a
// flow alive too); its reply entry goes with its forward entry, and a
// reply entry whose forward entry is gone (evicted) goes when it has been
// idle for longer than the sweep itself took.
func (s *Sweeper) Sweep() (SweepResult, error) {
	s.mu.Lock()
	tmo := s.timeouts
	s.mu.Unlock()
	var res SweepResult
	start := time.Now()
	// Pass 1, read only: every forward entry and the idle time of replies.
	type fwdInfo struct {
		idle  time.Duration
		state loader.ConnState
		real  uint32
	}
	fwd := make(map[flowID]fwdInfo)
	replyIdle := make(map[flowID]time.Duration)
	_, _, err := s.dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Reply {
			c, v := f.ForwardKey()
			replyIdle[flowID{c, v, f.Proto}] = f.SinceLastPacket()
		} else {
			fwd[flowID{f.Src, f.Dst, f.Proto}] = fwdInfo{f.SinceLastPacket(), f.State, f.RealID}
		}
		return false
	})
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	reals, err := s.dp.Reals()
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	expired := make(map[flowID]bool)
	for id, fi := range fwd {
		if tmo.ExpireRemoved && reals[fi.real].Removed {
			expired[id] = true
			continue
		}
		idle := fi.idle
		if r, ok := replyIdle[id]; ok {
			idle = min(idle, r)
		}
		if idle > tmo.Of(fi.state) {
			expired[id] = true
		}
	}
	grace := time.Since(start)

	// The persistent services, to find the clients their templates name.
	services, err := s.dp.Services()
	if err != nil {
		return res, fmt.Errorf("sweep persistence templates: %w", err)
	}
	type persistence struct {
		timeout time.Duration
		bits    int
	}
	persist := make(map[uint32]persistence, len(services))
	for _, svc := range services {
		persist[svc.ID] = persistence{time.Duration(svc.PersistTimeout) * time.Second, int(svc.PersistPrefix)}
	}
	liveClients := make(map[clientOf]bool)

	// Pass 2: delete, and count what stays. A real whose counts the
	// program did not move during the pass gets the recount. For one it
	// did move, the recount is not a snapshot (writing it would undo the
	// program's changes made meanwhile: a flow counted here that then
	// changed state would count twice), so it only loses what the pass
	// deleted, unless the recount says its counts are off by more than
	// the program moved them (entries the LRU evicted): then the recount,
	// shifted by that movement, is the better guess.
	before, err := s.dp.AllRealConns()
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	counts := make(map[uint32]loader.ConnCounts)
	deleted := make(map[uint32]loader.ConnCounts)
	res.Flows, res.Expired, err = s.dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Reply {
			c, v := f.ForwardKey()
			id := flowID{c, v, f.Proto}
			if expired[id] {
				return true
			}
			_, known := fwd[id]
			return !known && f.Idle > grace
		}
		id := flowID{f.Src, f.Dst, f.Proto}
		// A packet since pass 1 keeps the flow, unless its real is gone.
		if expired[id] && (f.SinceLastPacket() > tmo.Of(f.State) || tmo.ExpireRemoved && reals[f.RealID].Removed) {
			deleted[f.RealID] = countFlow(deleted[f.RealID], f.State)
			return true
		}
		if p, ok := persist[f.ServiceID]; ok && p.timeout > 0 {
			if pfx, err := f.Src.Addr().Prefix(p.bits); err == nil {
				liveClients[clientOf{f.ServiceID, pfx.Addr(), f.RealID}] = true
			}
		}
		counts[f.RealID] = countFlow(counts[f.RealID], f.State)
		return false
	})
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}

	after, err := s.dp.AllRealConns()
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	for id := range reals {
		c, was, now := counts[id], before[id], after[id]
		if now != was {
			c = busyRecount(c, was, now, deleted[id])
		}
		res.Active += c.Active
		res.Inactive += c.Inactive
		if c == now {
			continue
		}
		if err := s.dp.SetRealConns(id, c); err != nil {
			return res, fmt.Errorf("sweep connections: %w", err)
		}
	}

	// A template lives while its client has connections on its real (as
	// IPVS's templates control their connections), then for the
	// service's persistence_timeout after the last.
	res.ExpiredPersist, err = s.dp.ScanPersistence(func(t *loader.Persistence) loader.PersistAction {
		p, ok := persist[t.ServiceID]
		switch {
		case !ok:
			return loader.PersistDelete
		case t.Idle <= p.timeout:
			return loader.PersistKeep
		case liveClients[clientOf{t.ServiceID, t.Client, t.RealID}]:
			return loader.PersistRefresh
		}
		return loader.PersistDelete
	})
	if err != nil {
		return res, fmt.Errorf("sweep persistence templates: %w", err)
	}
	return res, nil
}

// countFlow adds a flow in state to c.
func countFlow(c loader.ConnCounts, state loader.ConnState) loader.ConnCounts {
	if state == loader.StateEstablished {
		c.Active++
	} else {
		c.Inactive++
	}
	return c
}

// busyRecount is the counts to write for a real the program changed during
// the recount: its counts now less what the sweep deleted, or, when the
// recount (shifted by the program's changes) is further from that than
// those changes can explain, the shifted recount.
func busyRecount(recount, was, now, deleted loader.ConnCounts) loader.ConnCounts {
	moved := abs64(now.Active-was.Active) + abs64(now.Inactive-was.Inactive)
	kept := loader.ConnCounts{Active: now.Active - deleted.Active, Inactive: now.Inactive - deleted.Inactive}
	shifted := loader.ConnCounts{Active: recount.Active + now.Active - was.Active, Inactive: recount.Inactive + now.Inactive - was.Inactive}
	if abs64(shifted.Active-kept.Active)+abs64(shifted.Inactive-kept.Inactive) > moved {
		return shifted
	}
	return kept
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
