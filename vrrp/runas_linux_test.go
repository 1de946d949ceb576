package vrrp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A vrrp_script with a user runs as that user, without root's groups.
func TestIntegrationScriptRunAs(t *testing.T) {
	requirePrivileged(t)
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "xlb-runas")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "id")
	for _, tc := range []struct {
		desc   string
		as     *RunAs
		wantID string
		wantUp bool
	}{
		{"nobody", &RunAs{UID: 65534, GID: 65534}, "65534:65534:65534", true},
		{"daemon's user", nil, "0:0:0", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			os.Remove(out)
			tr := &ScriptTracker{Script: "id", Interval: 50 * time.Millisecond, Weight: 10, RunAs: tc.as,
				Args: []string{"/bin/sh", "-c", `id=$(id -u):$(id -g):$(id -G); echo "$id" > ` + out + `; test "$id" = 65534:65534:65534`}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			effects := make(chan Effect, 16)
			go tr.Run(ctx, func(e Effect) { effects <- e })
			// Up at first; a failing run reports down (fall 1).
			if e := <-effects; e.Delta != 10 {
				t.Fatalf("first effect %+v, want up (+10)", e)
			}
			var got string
			for ctx.Err() == nil && got == "" {
				b, _ := os.ReadFile(out)
				got = strings.TrimSpace(string(b))
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.HasPrefix(got, tc.wantID) {
				t.Fatalf("the script ran as uid:gid:groups %q, want %q", got, tc.wantID)
			}
			if !tc.wantUp {
				select {
				case e := <-effects:
					if e.Delta != 0 {
						t.Fatalf("effect %+v after a failing run, want down (0)", e)
					}
				case <-ctx.Done():
					t.Fatal("a failing script was not reported down")
				}
			}
		})
	}
}
