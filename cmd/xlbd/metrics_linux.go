package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// metricsSource is what a scrape reads: the data plane's maps.
type metricsSource interface {
	connReader
	RealStats(id uint32) (loader.RealCounters, error)
	// ReasonStatsByInterface is the pass and drop counters by interface
	// (loader.OtherInterfaces for devices without counters of their own).
	ReasonStatsByInterface() (map[string]map[loader.Reason]loader.Counters, error)
}

// healthSource is what the Director knows of the reals' health.
type healthSource interface {
	ConfiguredReals() []control.RealRef
	RealHealth(ref control.RealRef) (h control.RealHealth, known bool)
}

// metricsServer serves Prometheus metrics read from the data plane at
// each scrape, and counts configuration reloads.
type metricsServer struct {
	srv     *http.Server
	addr    string // where it listens
	done    chan struct{}
	reloads *prometheus.CounterVec
}

// newMetricsRegistry registers xlb's metrics on a new registry.
func newMetricsRegistry(dp metricsSource, hs healthSource, vrrp statusReporter, log *slog.Logger) (*prometheus.Registry, *prometheus.CounterVec) {
	reg := prometheus.NewRegistry()
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xlb_config_reloads_total",
		Help: "Configuration reloads (SIGHUP) by result: success, or failure (the running configuration stayed).",
	}, []string{"result"})
	reloads.WithLabelValues("success")
	reloads.WithLabelValues("failure")
	reg.MustRegister(reloads, &dataplaneCollector{dp: dp, log: log}, &healthCollector{hs: hs})
	if vrrp != nil {
		reg.MustRegister(&vrrpCollector{vrrp: vrrp})
	}
	return reg, reloads
}

// startMetrics serves /metrics on addr; an empty addr serves nothing (the
// reload counter still works, unread). vrrp, when not nil, is the VRRP
// subsystem whose instances are reported.
func startMetrics(addr string, dp metricsSource, hs healthSource, vrrp statusReporter, log *slog.Logger) (*metricsServer, error) {
	reg, reloads := newMetricsRegistry(dp, hs, vrrp, log)
	m := &metricsServer{reloads: reloads}
	if addr == "" {
		return m, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	m.addr = ln.Addr().String()
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", addr, "error", err)
		}
	}()
	log.Info("serving Prometheus metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return m, nil
}

// reloaded counts a reload's result.
func (m *metricsServer) reloaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloads.WithLabelValues("failure").Inc()
	}
}

// Close stops the server.
func (m *metricsServer) Close() {
	if m == nil || m.srv == nil {
		return
	}
	m.srv.Close()
	<-m.done
}

var (
	realLabels    = []string{"vip", "port", "proto", "real"}
	serviceLabels = []string{"vip", "port", "proto"}

	descRealConns = prometheus.NewDesc("xlb_real_connections_total",
		"Connections scheduled to the real.", realLabels, nil)
	descRealPackets = prometheus.NewDesc("xlb_real_packets_total",
		"Packets forwarded: in client -> real, out real -> client (NAT only).", append(realLabels, "direction"), nil)
	descRealBytes = prometheus.NewDesc("xlb_real_bytes_total",
		"Bytes forwarded: in client -> real, out real -> client (NAT only).", append(realLabels, "direction"), nil)
	descRealWeight = prometheus.NewDesc("xlb_real_weight",
		"The weight the data plane runs (after health, quorum and runtime edits).", realLabels, nil)
	descRealActive = prometheus.NewDesc("xlb_real_active_connections",
		"ActiveConn: established TCP connections in the connection table.", realLabels, nil)
	descRealInactive = prometheus.NewDesc("xlb_real_inactive_connections",
		"InActConn: connections in every other state, and UDP.", realLabels, nil)
	descSvcConns = prometheus.NewDesc("xlb_service_connections_total",
		"Connections scheduled by the virtual service.", serviceLabels, nil)
	descSvcPackets = prometheus.NewDesc("xlb_service_packets_total",
		"Packets forwarded by the virtual service.", append(serviceLabels, "direction"), nil)
	descSvcBytes = prometheus.NewDesc("xlb_service_bytes_total",
		"Bytes forwarded by the virtual service.", append(serviceLabels, "direction"), nil)
	reasonLabels      = []string{"interface", "reason"}
	descReasonPackets = prometheus.NewDesc("xlb_datapath_packets_total",
		"Packets the data plane passed to the kernel or dropped, by the interface they came in on ((other): a device without counters of its own) and reason (xlb stats).", reasonLabels, nil)
	descReasonBytes = prometheus.NewDesc("xlb_datapath_bytes_total",
		"Bytes the data plane passed to the kernel or dropped, by the interface they came in on ((other): a device without counters of its own) and reason (xlb stats).", reasonLabels, nil)
)

// dataplaneCollector reads the maps at each scrape. Reals that left the
// configuration but still have flows are reported while they have any.
type dataplaneCollector struct {
	dp  metricsSource
	log *slog.Logger
}

func (c *dataplaneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRealConns, descRealPackets, descRealBytes, descRealWeight, descRealActive,
		descRealInactive, descSvcConns, descSvcPackets, descSvcBytes, descReasonPackets, descReasonBytes} {
		ch <- d
	}
}

func (c *dataplaneCollector) Collect(ch chan<- prometheus.Metric) {
	if err := c.collect(ch); err != nil {
		c.log.Warn("metrics: reading the data plane failed", "error", err)
		ch <- prometheus.NewInvalidMetric(descReasonPackets, err)
	}
}

type realKey struct {
	svc  uint32
	real netip.AddrPort
}

func (c *dataplaneCollector) collect(ch chan<- prometheus.Metric) error {
	services, err := c.dp.Services()
	if err != nil {
		return err
	}
	reals, err := c.dp.Reals()
	if err != nil {
		return err
	}
	byID := make(map[uint32]loader.Endpoint, len(services))
	svcSum := make(map[uint32]*loader.RealCounters, len(services))
	for ep, svc := range services {
		byID[svc.ID] = ep
		svcSum[svc.ID] = &loader.RealCounters{}
	}
	// A real changed in a reload gets a new id: sum ids per address, so
	// each series is one (service, real).
	type realSum struct {
		stats  loader.RealCounters
		conns  loader.ConnCounts
		weight uint32
		live   bool
	}
	sums := make(map[realKey]*realSum)
	for id, rl := range reals {
		if _, ok := byID[rl.ServiceID]; !ok {
			continue
		}
		st, err := c.dp.RealStats(id)
		if err != nil {
			return err
		}
		cc, err := c.dp.RealConns(id)
		if err != nil {
			return err
		}
		k := realKey{rl.ServiceID, netip.AddrPortFrom(rl.Addr, rl.Port)}
		s := sums[k]
		if s == nil {
			s = &realSum{}
			sums[k] = s
		}
		s.stats.Add(st)
		s.conns.Active += max(cc.Active, 0)
		s.conns.Inactive += max(cc.Inactive, 0)
		if !rl.Removed {
			s.weight, s.live = rl.Weight, true
		}
		svcSum[rl.ServiceID].Add(st)
	}
	for k, s := range sums {
		if !s.live && s.conns.Active+s.conns.Inactive == 0 {
			continue
		}
		ep := byID[k.svc]
		l := []string{ep.Addr.String(), strconv.Itoa(int(ep.Port)), ep.Proto.String(), k.real.String()}
		ch <- prometheus.MustNewConstMetric(descRealConns, prometheus.CounterValue, float64(s.stats.Conns), l...)
		ch <- prometheus.MustNewConstMetric(descRealPackets, prometheus.CounterValue, float64(s.stats.PacketsIn), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(descRealPackets, prometheus.CounterValue, float64(s.stats.PacketsOut), append(l, "out")...)
		ch <- prometheus.MustNewConstMetric(descRealBytes, prometheus.CounterValue, float64(s.stats.BytesIn), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(descRealBytes, prometheus.CounterValue, float64(s.stats.BytesOut), append(l, "out")...)
		ch <- prometheus.MustNewConstMetric(descRealWeight, prometheus.GaugeValue, float64(s.weight), l...)
		ch <- prometheus.MustNewConstMetric(descRealActive, prometheus.GaugeValue, float64(s.conns.Active), l...)
		ch <- prometheus.MustNewConstMetric(descRealInactive, prometheus.GaugeValue, float64(s.conns.Inactive), l...)
	}
	for id, s := range svcSum {
		ep := byID[id]
		l := []string{ep.Addr.String(), strconv.Itoa(int(ep.Port)), ep.Proto.String()}
		ch <- prometheus.MustNewConstMetric(descSvcConns, prometheus.CounterValue, float64(s.Conns), l...)
		ch <- prometheus.MustNewConstMetric(descSvcPackets, prometheus.CounterValue, float64(s.PacketsIn), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(descSvcPackets, prometheus.CounterValue, float64(s.PacketsOut), append(l, "out")...)
		ch <- prometheus.MustNewConstMetric(descSvcBytes, prometheus.CounterValue, float64(s.BytesIn), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(descSvcBytes, prometheus.CounterValue, float64(s.BytesOut), append(l, "out")...)
	}
	byIf, err := c.dp.ReasonStatsByInterface()
	if err != nil {
		return err
	}
	// Every reason of every interface, zeros included, so that a rate()
	// starts from the first scrape.
	for name, reasons := range byIf {
		for _, r := range loader.Reasons() {
			ch <- prometheus.MustNewConstMetric(descReasonPackets, prometheus.CounterValue, float64(reasons[r].Packets), name, r.String())
			ch <- prometheus.MustNewConstMetric(descReasonBytes, prometheus.CounterValue, float64(reasons[r].Bytes), name, r.String())
		}
	}
	return nil
}

var descRealUp = prometheus.NewDesc("xlb_real_up",
	"1 while the real's health checkers pass (or it has none), 0 while it is down.", realLabels, nil)

// healthCollector reports each configured real's health as the Director
// last recorded it.
type healthCollector struct{ hs healthSource }

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descRealUp }

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ref := range c.hs.ConfiguredReals() {
		h, known := c.hs.RealHealth(ref)
		up := 1.0
		if known && !h.Up {
			up = 0
		}
		ep := ref.Service
		ch <- prometheus.MustNewConstMetric(descRealUp, prometheus.GaugeValue, up,
			ep.Addr.String(), strconv.Itoa(int(ep.Port)), ep.Proto.String(), ref.Real.String())
	}
}

var (
	vrrpLabels          = []string{"instance", "interface"}
	descVRRPState       = prometheus.NewDesc("xlb_vrrp_state", "1 for the VRRP instance's current state (INIT, BACKUP, MASTER, FAULT, STOP), 0 for the others.", append(vrrpLabels, "state"), nil)
	descVRRPPriority    = prometheus.NewDesc("xlb_vrrp_priority", "The VRRP instance's effective priority (configured, changed by trackers).", vrrpLabels, nil)
	descVRRPAdvertsRecv = prometheus.NewDesc("xlb_vrrp_adverts_received_total", "VRRP adverts the instance accepted.", vrrpLabels, nil)
	descVRRPAdvertsSent = prometheus.NewDesc("xlb_vrrp_adverts_sent_total", "VRRP adverts the instance sent.", vrrpLabels, nil)
	descVRRPDrops       = prometheus.NewDesc("xlb_vrrp_drops_total", "VRRP adverts the instance dropped, by reason.", append(vrrpLabels, "reason"), nil)
	vrrpStates          = []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOP"}
)

// vrrpCollector reports the VRRP instances as `xlb vrrp` shows them.
type vrrpCollector struct{ vrrp statusReporter }

func (c *vrrpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVRRPState, descVRRPPriority, descVRRPAdvertsRecv, descVRRPAdvertsSent, descVRRPDrops} {
		ch <- d
	}
}

func (c *vrrpCollector) Collect(ch chan<- prometheus.Metric) {
	instances, _ := c.vrrp.Status().([]vrrpStatus)
	for _, in := range instances {
		for _, state := range vrrpStates {
			v := 0.0
			if strings.EqualFold(in.State, state) {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descVRRPState, prometheus.GaugeValue, v, in.Instance, in.Interface, state)
		}
		ch <- prometheus.MustNewConstMetric(descVRRPPriority, prometheus.GaugeValue, float64(in.Priority), in.Instance, in.Interface)
		ch <- prometheus.MustNewConstMetric(descVRRPAdvertsRecv, prometheus.CounterValue, float64(in.AdvertsReceived), in.Instance, in.Interface)
		ch <- prometheus.MustNewConstMetric(descVRRPAdvertsSent, prometheus.CounterValue, float64(in.AdvertsSent), in.Instance, in.Interface)
		for reason, n := range in.Drops {
			ch <- prometheus.MustNewConstMetric(descVRRPDrops, prometheus.CounterValue, float64(n), in.Instance, in.Interface, reason)
		}
	}
}
