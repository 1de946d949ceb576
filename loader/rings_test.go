//go:build linux

package loader

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xlbproject/xlb/testenv"
)

// A ring's entries survive the packing into chunks and back, for lengths
// around a chunk's.
func TestRingChunks(t *testing.T) {
	for _, n := range []int{0, 1, ringChunkLen - 1, ringChunkLen, ringChunkLen + 1, 3*ringChunkLen + 5} {
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = uint32(1000 + i)
		}
		chunks := ringChunks(ids)
		if want := (n + ringChunkLen - 1) / ringChunkLen; len(chunks) != want {
			t.Errorf("%d entries: %d chunks, want %d", n, len(chunks), want)
		}
		var back []uint32
		for _, c := range chunks {
			back = append(back, c[:]...)
		}
		if !slices.Equal(back[:min(n, len(back))], ids) || slices.ContainsFunc(back[n:], func(id uint32) bool { return id != 0 }) {
			t.Errorf("%d entries: chunks %v do not hold %v", n, chunks, ids)
		}
	}
}

// svc_rings pinned by an xlb whose rings had another layout (one real id
// per value) is made anew, and says so; one holding no ring is made anew
// quietly. Without that the verifier rejects the program, checked against
// the old rings' template.
func TestIntegrationRingLayoutUpgrade(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, tc := range []struct {
		name    string
		oldRing bool
		wantLog string
	}{
		{"rings of the old layout", true, "inner ValueSize: 4 changed to 64"},
		{"no ring", false, "pinned map made anew"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pinDir := fmt.Sprintf("/sys/fs/bpf/xlbtest-rings-%d", os.Getpid())
			if _, err := EnsureBPFFS(pinDir); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := RemovePins(pinDir); err != nil {
					t.Errorf("remove pins: %v", err)
				}
			})
			pinOldRings(t, pinDir, tc.oldRing)

			var log bytes.Buffer
			dp, err := Open(Options{PinDir: pinDir, FlowTableSize: 1 << 12,
				Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatalf("open over the old rings: %v", err)
			}
			defer dp.Close()
			if !strings.Contains(log.String(), tc.wantLog) || !strings.Contains(log.String(), "map=svc_rings") {
				t.Errorf("the loader did not say it made svc_rings anew (%q):\n%s", tc.wantLog, log.String())
			}
			if strings.Contains(log.String(), "map=flows") {
				t.Errorf("the loader reset the connection table too:\n%s", log.String())
			}

			ids := make([]uint32, 2*ringChunkLen+3)
			for i := range ids {
				ids[i] = uint32(i + 1)
			}
			if err := dp.WriteRing(0, 1, ids); err != nil {
				t.Fatal(err)
			}
			got, err := dp.Ring(0, 1, uint32(len(ids)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, ids) {
				t.Errorf("ring read back as %v, want %v", got, ids)
			}
			if _, err := dp.Ring(0, 1, 3*uint32(ringChunkLen)+1); err == nil {
				t.Error("reading past the ring's chunks succeeded")
			}
		})
	}
}

// pinOldRings pins a svc_rings whose template is the layout before ring
// chunks: one real id per value; with a ring in slot 0 if withRing.
func pinOldRings(t *testing.T, pinDir string, withRing bool) {
	t.Helper()
	spec, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	outer := spec.Maps[xlbMapSvcRings].Copy()
	outer.InnerMap.ValueSize = 4
	outer.InnerMap.Value = nil
	m, err := ebpf.NewMapWithOptions(outer, ebpf.MapOptions{PinPath: pinDir})
	if err != nil {
		t.Fatalf("pin old svc_rings: %v", err)
	}
	defer m.Close()
	if !withRing {
		return
	}
	ring, err := ebpf.NewMap(outer.InnerMap)
	if err != nil {
		t.Fatalf("old ring: %v", err)
	}
	defer ring.Close()
	if err := ring.Put(uint32(0), uint32(7)); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(uint32(0), ring); err != nil {
		t.Fatalf("old ring into svc_rings: %v", err)
	}
}
