package loader_test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xlbproject/xlb/loader"
)

// kernelHZ reads CONFIG_HZ from /proc/config.gz; 0 when the kernel does
// not expose its config.
func kernelHZ(t *testing.T) uint32 {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return 0
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			var hz uint32
			fmt.Sscan(v, &hz)
			return hz
		}
	}
	return 0
}

// TestXDPClock: the loader learns the kernel's HZ (the program's clock
// is jiffies), and a flow's idle time reads in real time.
func TestXDPClock(t *testing.T) {
	h := newXDPHarness(t, goldenState(nil, nil))
	if want := kernelHZ(t); want != 0 && h.dp.HZ() != want {
		t.Errorf("HZ %d, want CONFIG_HZ=%d", h.dp.HZ(), want)
	} else if want == 0 {
		t.Logf("no /proc/config.gz: HZ %d not checked against CONFIG_HZ", h.dp.HZ())
	}
	if v, _, err := h.run(fromClient(vipDR, 80, 43000, layers.IPProtocolTCP).bytes(), h.ifA); err != nil || v != xdpRedirect {
		t.Fatalf("new flow: verdict %s, error %v", verdictName(v), err)
	}
	idle := func() time.Duration {
		var d time.Duration = -1
		if _, _, err := h.dp.ScanFlows(func(f *loader.Flow) bool {
			if f.Src.Port() == 43000 {
				d = f.Idle
			}
			return false
		}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := idle(); d < 0 || d > 500*time.Millisecond {
		t.Errorf("a flow just made is idle for %s", d)
	}
	time.Sleep(1200 * time.Millisecond)
	if d := idle(); d < time.Second || d > 3*time.Second {
		t.Errorf("after 1.2 s without a packet a flow is idle for %s, want about 1.2 s", d)
	}
}
