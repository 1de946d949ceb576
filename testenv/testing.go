package testenv

import (
	"os"
	"runtime"
	"testing"
)

// RequirePrivileged skips the test with the reason when it cannot build
// namespaces (not root, or not Linux), or fails it instead when
// XLB_REQUIRE_PRIVILEGED=1 (as CI sets it), where a skip would hide a
// missing test run.
func RequirePrivileged(tb testing.TB) {
	tb.Helper()
	var reason string
	switch {
	case runtime.GOOS != "linux":
		reason = "needs Linux network namespaces, running on " + runtime.GOOS
	case os.Geteuid() != 0:
		reason = "needs root (network namespaces, netlink, sysctls)"
	default:
		return
	}
	if os.Getenv("XLB_REQUIRE_PRIVILEGED") == "1" {
		tb.Fatalf("privileged test cannot run: %s, and XLB_REQUIRE_PRIVILEGED=1", reason)
	}
	tb.Skipf("skipping privileged test: %s (set XLB_REQUIRE_PRIVILEGED=1 to fail instead)", reason)
}

// Start applies the privilege rule (RequirePrivileged), builds a topology
// with New and registers its Close with tb.Cleanup. It ends the test with
// tb.Fatal if the topology cannot be built.
func Start(tb testing.TB, opts Options) *Topology {
	tb.Helper()
	RequirePrivileged(tb)
	t, err := New(opts)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Errorf("testenv: %v", err)
		}
	})
	return t
}
