// Package vrrp implements the Virtual Router Redundancy Protocol, version 3
// (RFC 5798) and version 2 (RFC 3768), in a way that interoperates with
// keepalived: the same advert encoding and checksums (including the VRRPv3
// pseudo-header with the unicast peer as destination), the same election,
// preemption and priority-0 hand-over, and keepalived's tracker weights.
//
// The package is layered so each part can be tested alone:
//
//   - Advert is the wire format, a value type with MarshalBinary and
//     UnmarshalBinary. Decoding failures wrap sentinel errors (ErrBadChecksum,
//     ErrBadTTL, ErrAuthMismatch, ...) so a receiver can count drops by reason.
//   - Machine is the RFC 5798 §6.4 state machine (Initialize, Backup, Master,
//     plus Fault for trackers). It is pure: it is driven by events that carry
//     the current time and answers with actions, so timer arithmetic is exact
//     in tests.
//   - Instance (Linux) runs a Machine over a raw IP socket (protocol 112),
//     adds and removes virtual addresses with netlink, and announces them with
//     gratuitous ARP and unsolicited neighbour advertisements.
//   - Trackers (interfaces, scripts, files, processes) adjust the effective
//     priority with keepalived's weight semantics or put an instance in Fault.
//   - SyncGroup ties instances together as keepalived's vrrp_sync_group.
//
// A daemon builds one Config per vrrp_instance and runs it:
//
//	in, err := vrrp.NewInstance(vrrp.Config{
//		Name: "VI_1", Interface: "eth0", VRID: 51, Priority: 150, Version: 3,
//		VIPs:    []vrrp.VIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24")}},
//		OnTransition: func(tr vrrp.Transition) { ... }, // e.g. tell the data plane
//	})
//	...
//	err = in.Run(ctx) // on cancel: priority 0 if master, VIPs removed
//
// The hooks (OnState, OnTransition) run in the instance's goroutine after
// the addresses were added or removed and before a new master's first
// advert and gratuitous ARP, so a data plane programmed there forwards
// before any client is sent its way. Transition.Reason says why, in the
// words of a log line ("advert from 198.18.0.3 timed out"). A backup
// removes addresses an earlier, killed run left behind, and a master that
// hears a lower-priority master (a split brain healing) announces its
// addresses again at once.
//
// Notify programs and scripts run without a shell. Accept mode is carried
// in Config but not enforced: Linux accepts traffic to an added address.
//
// The package imports nothing else of xlb; a daemon builds Instances from its
// configuration with the plain option structs.
package vrrp
