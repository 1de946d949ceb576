package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// metricsFake is the fake data plane with pass and drop counters per
// interface, as a scrape reads them.
type metricsFake struct {
	*fakeDataplane
	byIf map[string]map[loader.Reason]loader.Counters
}

func (f *metricsFake) ReasonStatsByInterface() (map[string]map[loader.Reason]loader.Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byIf, nil
}

// newMetricsFake: eth0 dropped 7 packets for want of a real, eth1 passed
// 5 that were for no service, 2 non-IP packets came from a device without
// counters of its own.
func newMetricsFake() *metricsFake {
	return &metricsFake{fakeDataplane: newFakeDataplane(), byIf: map[string]map[loader.Reason]loader.Counters{
		"eth0":                 {loader.DropNoReal: {Packets: 7, Bytes: 420}},
		"eth1":                 {loader.PassNoService: {Packets: 5, Bytes: 300}},
		loader.OtherInterfaces: {loader.PassNotIP: {Packets: 2, Bytes: 120}},
	}}
}

// scrape reads /metrics of a server started on a free loopback port.
func scrape(t *testing.T, m *metricsServer) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + m.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	return string(b)
}

func TestMetrics(t *testing.T) {
	dp := newMetricsFake()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sd, _, _ := newSteerDirector(t)
	if err := sd.SetRealHealth(control.RealRef{Service: epWeb, Real: netip.MustParseAddrPort("198.18.1.3:80")}, control.RealHealth{Up: false}); err != nil {
		t.Fatal(err)
	}
	m, err := startMetrics("127.0.0.1:0", dp, sd.Director, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.reloaded(true)
	m.reloaded(true)
	m.reloaded(false)
	out := scrape(t, m)
	want := []string{
		// 198.18.1.2:80 sums its current id and the one a reload replaced.
		`xlb_real_connections_total{port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 13`,
		`xlb_real_connections_total{port="80",proto="TCP",real="198.18.1.3:80",vip="198.18.0.100"} 20`,
		`xlb_real_packets_total{direction="in",port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 130`,
		`xlb_real_packets_total{direction="out",port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 90`,
		`xlb_real_bytes_total{direction="in",port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 7800`,
		`xlb_real_bytes_total{direction="out",port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 50000`,
		`xlb_real_weight{port="80",proto="TCP",real="198.18.1.3:80",vip="198.18.0.100"} 2`,
		`xlb_real_active_connections{port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 3`,
		`xlb_real_inactive_connections{port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 1`,
		`xlb_service_connections_total{port="80",proto="TCP",vip="198.18.0.100"} 33`,
		`xlb_service_packets_total{direction="in",port="80",proto="TCP",vip="198.18.0.100"} 330`,
		`xlb_service_bytes_total{direction="out",port="80",proto="TCP",vip="198.18.0.100"} 50000`,
		`xlb_datapath_packets_total{interface="eth0",reason="drop: no real available"} 7`,
		`xlb_datapath_bytes_total{interface="eth0",reason="drop: no real available"} 420`,
		`xlb_datapath_packets_total{interface="eth0",reason="pass: no virtual service"} 0`,
		`xlb_datapath_packets_total{interface="eth1",reason="drop: no real available"} 0`,
		`xlb_datapath_packets_total{interface="eth1",reason="pass: no virtual service"} 5`,
		`xlb_datapath_bytes_total{interface="eth1",reason="pass: no virtual service"} 300`,
		`xlb_datapath_packets_total{interface="(other)",reason="pass: not IPv4 or IPv6"} 2`,
		`xlb_datapath_bytes_total{interface="(other)",reason="pass: not IPv4 or IPv6"} 120`,
		`xlb_config_reloads_total{result="success"} 2`,
		`xlb_config_reloads_total{result="failure"} 1`,
		`xlb_real_up{port="80",proto="TCP",real="198.18.1.2:80",vip="198.18.0.100"} 1`,
		`xlb_real_up{port="80",proto="TCP",real="198.18.1.3:80",vip="198.18.0.100"} 0`,
		`xlb_real_up{port="53",proto="UDP",real="198.18.1.2:53",vip="198.18.0.100"} 1`,
	}
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("scrape lacks %s", w)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", out)
	}

	// One series per interface and reason, every reason, no other.
	for _, name := range []string{"xlb_datapath_packets_total", "xlb_datapath_bytes_total"} {
		if got, want := strings.Count(out, "\n"+name+"{"), 3*len(loader.Reasons()); got != want {
			t.Errorf("%d %s series, want %d (3 interfaces, %d reasons)", got, name, want, len(loader.Reasons()))
		}
		if strings.Contains(out, "\n"+name+`{reason=`) {
			t.Errorf("a %s series without an interface label", name)
		}
	}

	// Counters are read at each scrape; an interface attached since
	// gets its series.
	dp.mu.Lock()
	c := dp.stats[1]
	c.Conns += 5
	dp.stats[1] = c
	dp.byIf["eth2"] = map[loader.Reason]loader.Counters{loader.DropNoRoute: {Packets: 1, Bytes: 60}}
	dp.mu.Unlock()
	out = scrape(t, m)
	for _, w := range []string{
		`xlb_real_connections_total{port="80",proto="TCP",real="198.18.1.3:80",vip="198.18.0.100"} 25`,
		`xlb_datapath_packets_total{interface="eth2",reason="drop: no route"} 1`,
		`xlb_datapath_packets_total{interface="eth0",reason="drop: no real available"} 7`,
	} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("second scrape lacks %s", w)
		}
	}
}

func TestMetricsAddrInUse(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sd, _, _ := newSteerDirector(t)
	m, err := startMetrics("127.0.0.1:0", newMetricsFake(), sd.Director, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := startMetrics(m.addr, newMetricsFake(), sd.Director, nil, log); err == nil || !strings.Contains(err.Error(), "listen for metrics on "+m.addr) {
		t.Errorf("a second server on %s: %v, want a listen error naming the address", m.addr, err)
	}
	var none *metricsServer
	none.reloaded(true) // no metrics: nothing to count, no panic
	none.Close()
}

// fakeVRRP reports fixed instances.
type fakeVRRP []vrrpStatus

func (f fakeVRRP) Status() any { return []vrrpStatus(f) }

func TestMetricsVRRP(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sd, _, _ := newSteerDirector(t)
	vrrp := fakeVRRP{{Instance: "VI_1", Interface: "eth0", State: "MASTER", Priority: 150, AdvertsReceived: 3, AdvertsSent: 40,
		Drops: map[string]uint64{"bad checksum": 2}}}
	m, err := startMetrics("127.0.0.1:0", newMetricsFake(), sd.Director, vrrp, log)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := scrape(t, m)
	for _, want := range []string{
		`xlb_vrrp_state{instance="VI_1",interface="eth0",state="MASTER"} 1`,
		`xlb_vrrp_state{instance="VI_1",interface="eth0",state="BACKUP"} 0`,
		`xlb_vrrp_priority{instance="VI_1",interface="eth0"} 150`,
		`xlb_vrrp_adverts_received_total{instance="VI_1",interface="eth0"} 3`,
		`xlb_vrrp_adverts_sent_total{instance="VI_1",interface="eth0"} 40`,
		`xlb_vrrp_drops_total{instance="VI_1",interface="eth0",reason="bad checksum"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
