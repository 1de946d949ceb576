package vrrp

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSyncGroup(t *testing.T) {
	const iv = 20 * time.Millisecond
	file := filepath.Join(t.TempDir(), "track")
	if err := os.WriteFile(file, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, ca, _ := testInstance(t, Config{Name: "A", VRID: 51, Version: 3, Interval: iv, GARPMasterDelay: -1,
		Trackers: []Tracker{&FileTracker{Path: file, Interval: 5 * time.Millisecond}}})
	b, _, addrsB := testInstance(t, Config{Name: "B", VRID: 52, Version: 3, Interval: iv, GARPMasterDelay: -1})
	if _, err := NewSyncGroup("G", a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSyncGroup("H", a); err == nil {
		t.Fatal("an instance joined two sync groups")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		<-done
	}()
	both := func(s State) func() bool {
		return func() bool { return a.State() == s && b.State() == s }
	}

	waitUntil(t, "both MASTER", both(StateMaster))

	// A hears a higher master for a while: both are backup, and B, whose
	// own master down timer fires meanwhile, stays backup.
	higher := advertPacket(t, Advert{Version: 3, VRID: 51, Priority: 200, Interval: iv,
		Addresses: []netip.Addr{vip100.Prefix.Addr()}}, GroupV4, TTL)
	ca.in <- higher
	waitUntil(t, "both BACKUP", both(StateBackup))
	for range 15 {
		ca.in <- higher
		time.Sleep(iv)
		if b.State() != StateBackup || a.State() != StateBackup {
			t.Fatalf("while A hears a higher master: A %v B %v, want both BACKUP", a.State(), b.State())
		}
	}
	if up, _, _, _ := addrsB.get(); up {
		t.Fatal("B kept its VIP as BACKUP")
	}
	// The higher master goes silent: the group becomes master together.
	waitUntil(t, "both MASTER again", both(StateMaster))

	// A tracker puts A in Fault: B follows; clearing it brings both back.
	if err := os.WriteFile(file, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both FAULT", both(StateFault))
	if err := os.WriteFile(file, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both MASTER after fault", both(StateMaster))
}
