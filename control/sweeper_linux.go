package control

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/xlbproject/xlb/loader"
)

// DefaultSweepInterval is how often xlbd sweeps the connection table, at
// most (Sweeper.Run).
const DefaultSweepInterval = time.Second

// sweepDuty is about the share of one CPU a sweeper takes: Run starts the
// next sweep 100/sweepDuty times the last sweep's (wall) time after its
// start. A sweep reads the whole table: 0.6-0.8 s of CPU time for a
// million DR flows (BenchmarkSweep, docs/PERFORMANCE.md).
const sweepDuty = 10 // percent

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

	// A sweep's NAT flows, kept from sweep to sweep so that a big table's
	// are not allocated anew each time (natFlows).
	nat natFlows
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

// Run sweeps until ctx is done: every interval, or, when the table is so
// big that a sweep takes longer than sweepDuty percent of that, as often
// as keeps the sweeper to about that share of one CPU.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	wait := time.NewTimer(interval)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
			start := time.Now()
			if _, err := s.Sweep(); err != nil {
				s.log.Warn("connection table sweep failed", "error", err)
			}
			took := time.Since(start)
			wait.Reset(SweepPeriod(interval, took) - took)
		}
	}
}

// SweepPeriod is the time from a sweep's start to the next one's, for a
// sweep that took took: interval, or longer so that sweeping takes at most
// sweepDuty percent of the time.
func SweepPeriod(interval, took time.Duration) time.Duration {
	return max(interval, took*100/sweepDuty)
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

// natFlow is what a sweep saw of a NAT flow's forward and reply entries.
type natFlow struct {
	id                 flowID
	fwd, reply         bool          // the entries seen
	fwdIdle, replyIdle time.Duration // their SinceLastPacket
	state              loader.ConnState
	real               uint32
	replySrc           netip.AddrPort // the reply entry's source: the real
}

// natFlows pairs a sweep's NAT entries by flow. The flows are found by a
// 64-bit hash of their flowID: with 500,000 NAT flows a sweep took 1.13-1.14
// s of CPU, against 1.55-1.77 s with a map keyed by the 72-byte flowID. A
// flow whose hash another has already is looked up by its flowID.
type natFlows struct {
	seed   maphash.Seed
	byHash map[uint64]int // index in flows
	byID   map[flowID]int // flows whose hash another has
	flows  []natFlow
}

// reset empties the pairs for a new sweep, with a new seed so that no two
// flows share a hash sweep after sweep.
func (n *natFlows) reset() {
	n.seed = maphash.MakeSeed()
	if n.byHash == nil {
		n.byHash, n.byID = make(map[uint64]int), make(map[flowID]int)
	}
	clear(n.byHash)
	clear(n.byID)
	n.flows = n.flows[:0]
}

// of is flow id's entry, added if new.
func (n *natFlows) of(id flowID) *natFlow {
	h := maphash.Comparable(n.seed, id)
	i, ok := n.byHash[h]
	if !ok {
		n.byHash[h] = len(n.flows)
		n.flows = append(n.flows, natFlow{id: id})
		return &n.flows[len(n.flows)-1]
	}
	if n.flows[i].id == id {
		return &n.flows[i]
	}
	if i, ok = n.byID[id]; !ok {
		i = len(n.flows)
		n.byID[id] = i
		n.flows = append(n.flows, natFlow{id: id})
	}
	return &n.flows[i]
}

// A check is an expiry the pass proposed, confirmed on the entries read
// again: the forward entry at first in the list read, and for checkNAT
// and checkOrphan the reply entry after it.
type check struct {
	kind  checkKind
	first int
}

type checkKind int

const (
	checkForward checkKind = iota // a forward entry with no reply entry seen
	checkNAT                      // a NAT flow's two entries, expired together
	checkOrphan                   // a reply entry, expired if its forward entry is gone
)

// confirmChunk is how many checks are read again and deleted at a time:
// a packet between an entry's second read and its delete does not keep
// it, so the two are close.
const confirmChunk = 1024

// forwardEntry is the Flow that names n's forward entry.
func (n *natFlow) forwardEntry() loader.Flow {
	return loader.Flow{Src: n.id.client, Dst: n.id.vip, Proto: n.id.proto}
}

// replyEntry is the Flow that names n's reply entry.
func (n *natFlow) replyEntry() loader.Flow {
	return loader.Flow{Src: n.replySrc, Dst: n.id.client, Proto: n.id.proto, Reply: true, VIP: n.id.vip}
}

// Sweep runs once: one pass over the table reads every entry, and the
// entries found expired are read again and deleted if still so. One
// sweep at a time: a Sweeper keeps a sweep's NAT flows for the next. An
// entry's idle time is its SinceLastPacket. A NAT flow's idle time is the
// shorter of its two entries' (replies keep a flow alive too); its reply
// entry goes with its forward entry, and a reply entry whose forward entry
// is gone (evicted) goes when it has been idle for longer than the sweep
// has taken so far.
func (s *Sweeper) Sweep() (SweepResult, error) {
	s.mu.Lock()
	tmo := s.timeouts
	s.mu.Unlock()
	var res SweepResult
	start := time.Now()
	reals, err := s.dp.Reals()
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	expired := func(state loader.ConnState, idle time.Duration, real uint32) bool {
		return tmo.ExpireRemoved && reals[real].Removed || idle > tmo.Of(state)
	}
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
	// liveClient names the template f's connection keeps alive, if any.
	liveClient := func(f *loader.Flow) (clientOf, bool) {
		p, ok := persist[f.ServiceID]
		if !ok || p.timeout <= 0 {
			return clientOf{}, false
		}
		pfx, err := f.Src.Addr().Prefix(p.bits)
		return clientOf{f.ServiceID, pfx.Addr(), f.RealID}, err == nil
	}

	// The pass. A real whose counts the program did not move meanwhile
	// gets the recount. For one it did move, the recount is not a snapshot
	// (writing it would undo the program's changes made meanwhile: a flow
	// counted here that then changed state would count twice), so it only
	// loses what the sweep deleted, unless the recount says its counts
	// are off by more than the program moved them (entries the LRU
	// evicted): then the recount, shifted by that movement, is the better
	// guess.
	var ids uint32 // the real ids in use are below it
	for id := range reals {
		ids = max(ids, id+1)
	}
	before, err := s.dp.RealConnsBelow(ids)
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	counts := make(map[uint32]loader.ConnCounts)
	clients := make(map[clientOf]int) // forward entries of each persistent client
	var direct []loader.Flow          // forward entries of DR flows found expired
	s.nat.reset()
	res.Flows, _, err = s.dp.ScanFlows(func(f *loader.Flow) bool {
		if f.Reply {
			c, v := f.ForwardKey()
			n := s.nat.of(flowID{c, v, f.Proto})
			n.reply, n.replyIdle, n.replySrc = true, f.SinceLastPacket(), f.Src
			return false
		}
		counts[f.RealID] = countFlow(counts[f.RealID], f.State, 1)
		if c, ok := liveClient(f); ok {
			clients[c]++
		}
		// A flow whose real is unknown may be NAT: it waits for its reply too.
		if r, ok := reals[f.RealID]; ok && r.Method == loader.MethodDR {
			if expired(f.State, f.SinceLastPacket(), f.RealID) {
				direct = append(direct, *f)
			}
			return false
		}
		n := s.nat.of(flowID{f.Src, f.Dst, f.Proto})
		n.fwd, n.fwdIdle, n.state, n.real = true, f.SinceLastPacket(), f.State, f.RealID
		return false
	})
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}

	// Read again what the pass found expired, a chunk at a time, and
	// delete at once what is still expired: a packet since keeps it.
	var gone, names []loader.Flow
	var checks []check
	confirm := func() error {
		fresh, found, err := s.dp.LookupFlows(names)
		if err != nil {
			return err
		}
		var doomed []loader.Flow
		for _, c := range checks {
			fwd, reply := c.first, c.first+1
			switch c.kind {
			case checkForward:
				if found[fwd] && expired(fresh[fwd].State, fresh[fwd].SinceLastPacket(), fresh[fwd].RealID) {
					doomed = append(doomed, fresh[fwd])
				}
			case checkNAT:
				if !found[fwd] {
					continue
				}
				idle := fresh[fwd].SinceLastPacket()
				if found[reply] {
					idle = min(idle, fresh[reply].SinceLastPacket())
				}
				if expired(fresh[fwd].State, idle, fresh[fwd].RealID) {
					doomed = append(doomed, fresh[fwd])
					if found[reply] {
						doomed = append(doomed, fresh[reply])
					}
				}
			case checkOrphan:
				if !found[fwd] && found[reply] && fresh[reply].Idle > time.Since(start) {
					doomed = append(doomed, fresh[reply])
				}
			}
		}
		g, err := s.dp.DeleteFlows(doomed)
		gone = append(gone, g...)
		checks, names = checks[:0], names[:0]
		return err
	}
	propose := func(kind checkKind, entries ...loader.Flow) error {
		checks = append(checks, check{kind, len(names)})
		names = append(names, entries...)
		if len(checks) < confirmChunk {
			return nil
		}
		return confirm()
	}
	for _, f := range direct {
		if err := propose(checkForward, f); err != nil {
			return res, fmt.Errorf("sweep connections: %w", err)
		}
	}
	for i := range s.nat.flows {
		n := &s.nat.flows[i]
		switch {
		case n.fwd && n.reply:
			if expired(n.state, min(n.fwdIdle, n.replyIdle), n.real) {
				err = propose(checkNAT, n.forwardEntry(), n.replyEntry())
			}
		case n.fwd:
			if expired(n.state, n.fwdIdle, n.real) {
				err = propose(checkForward, n.forwardEntry())
			}
		default: // a reply entry alone: its forward entry was evicted, or is new
			err = propose(checkOrphan, n.forwardEntry(), n.replyEntry())
		}
		if err != nil {
			return res, fmt.Errorf("sweep connections: %w", err)
		}
	}
	err = confirm()
	res.Expired = len(gone)
	if err != nil {
		return res, fmt.Errorf("sweep connections: %w", err)
	}
	deleted := make(map[uint32]loader.ConnCounts)
	for i := range gone {
		f := &gone[i]
		if f.Reply {
			continue
		}
		deleted[f.RealID] = countFlow(deleted[f.RealID], f.State, 1)
		counts[f.RealID] = countFlow(counts[f.RealID], f.State, -1)
		if c, ok := liveClient(f); ok {
			clients[c]--
		}
	}

	after, err := s.dp.RealConnsBelow(ids)
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
		case clients[clientOf{t.ServiceID, t.Client, t.RealID}] > 0:
			return loader.PersistRefresh
		}
		return loader.PersistDelete
	})
	if err != nil {
		return res, fmt.Errorf("sweep persistence templates: %w", err)
	}
	return res, nil
}

// countFlow adds n flows in state to c.
func countFlow(c loader.ConnCounts, state loader.ConnState, n int64) loader.ConnCounts {
	if state == loader.StateEstablished {
		c.Active += n
	} else {
		c.Inactive += n
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
