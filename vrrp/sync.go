package vrrp

import (
	"fmt"
	"sync"
)

// SyncGroup is keepalived's vrrp_sync_group: its instances change state
// together. A member becomes master only when every member would (each one's
// master down timer fired, or it is master already); when one member falls
// back to backup the masters among the others follow; while one member is
// in Fault through its own trackers, all the others are in Fault too.
type SyncGroup struct {
	name string

	mu      sync.Mutex
	members []*Instance
	status  map[*Instance]memberStatus
	faulted map[*Instance]bool // group fault last sent to each member
}

// memberStatus is what a member publishes to its group.
type memberStatus struct {
	state    State
	want     bool // a held backup that would be master
	ownFault bool // in Fault because of its own trackers
}

type syncCmd int

const (
	syncMaster syncCmd = iota + 1
	syncBackup
	syncFault
	syncFaultClear
)

// NewSyncGroup ties instances that have not started yet into a group.
func NewSyncGroup(name string, members ...*Instance) (*SyncGroup, error) {
	g := &SyncGroup{name: name, status: map[*Instance]memberStatus{}, faulted: map[*Instance]bool{}}
	for _, in := range members {
		if in.group != nil {
			return nil, fmt.Errorf("instance %q is already in sync group %q: %w", in.cfg.Name, in.group.name, ErrConfig)
		}
		in.group = g
		in.m.SetHold(len(members) > 1)
		g.members = append(g.members, in)
		g.status[in] = memberStatus{}
	}
	return g, nil
}

// Name returns the group's name.
func (g *SyncGroup) Name() string { return g.name }

// changed is called by a member's run loop when its status changed.
func (g *SyncGroup) changed(from *Instance, prev, cur memberStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status[from] = cur

	// Fault: a member is in group fault while any other member is in
	// fault of its own.
	for _, in := range g.members {
		want := false
		for _, o := range g.members {
			if o != in && g.status[o].ownFault {
				want = true
			}
		}
		if want != g.faulted[in] {
			g.faulted[in] = want
			if want {
				in.post(syncFault)
			} else {
				in.post(syncFaultClear)
			}
		}
	}

	// Backup: a master that lost the election takes the others along.
	if prev.state == StateMaster && cur.state == StateBackup {
		for _, in := range g.members {
			if in != from && g.status[in].state == StateMaster {
				in.post(syncBackup)
			}
		}
	}

	// Master: only when every member is master or wants to be.
	all, any := true, false
	for _, in := range g.members {
		s := g.status[in]
		any = any || s.want
		if s.state != StateMaster && !s.want {
			all = false
		}
	}
	if all && any {
		for _, in := range g.members {
			if g.status[in].want {
				in.post(syncMaster)
			}
		}
	}
}
