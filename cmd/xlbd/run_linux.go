package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

func run(opts options, log *slog.Logger) error {
	if opts.cleanup {
		if err := loader.RemovePins(opts.pinDir); err != nil {
			return err
		}
		log.Info("removed the data plane: XDP detached, pins deleted", "bpffs", opts.pinDir)
		return nil
	}

	// From here on a signal is handled, not fatal: a SIGHUP during start-up
	// is a reload once running, SIGTERM a clean stop.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	// Everything is checked before anything is created or attached.
	cfg, state, err := load(opts.configFile)
	if err != nil {
		return err
	}
	ifaces, err := interfaces(opts.interfaces, cfg.Global.XDPInterfaces, log)
	if err != nil {
		return err
	}
	mode := xdpMode(cfg)

	dp, err := loader.Open(loader.Options{PinDir: opts.pinDir, FlowTableSize: uint32(opts.flowTableSize), Logger: log})
	if err != nil {
		return err
	}
	defer dp.Close()
	rec, err := control.NewReconciler(dp, log)
	if err != nil {
		return err
	}
	director := control.NewDirector(rec.Apply, log)
	director.SetOwnedVIPs(vrrpOwnedAtStart(cfg)) // with VRRP, no VIP is served until an instance is master
	// The maps are complete before the first packet reaches the program.
	if err := director.SetConfig(cfg, state); err != nil {
		return fmt.Errorf("apply %s: %w", opts.configFile, err)
	}
	if err := syncInterfaces(dp, ifaces, mode, log); err != nil {
		return err
	}
	subs, err := startSubsystems(cfg, director, log, startFIBWatch(dp), startSweeper(dp), startHealth /* VRRP starts last and stops first */, startVRRP)
	if err != nil {
		return err
	}
	ctl, err := startControlSocket(opts.socketPath, director, dp, subs, log)
	if err != nil {
		subs.stop()
		return err
	}
	defer ctl.Close()
	metrics, err := startMetrics(opts.metricsAddr, dp, director, subs.vrrp(), log)
	if err != nil {
		subs.stop()
		return err
	}
	defer metrics.Close()
	logNotActive(cfg, log)
	log.Info("xlbd running", "config", opts.configFile, "virtual_servers", len(state.Services), "interfaces", strings.Join(ifaces, ","), "bpffs", opts.pinDir)

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			metrics.reloaded(reload(opts, dp, director, subs, log))
			continue
		}
		log.Info("xlbd stopping", "signal", sig.String())
		break
	}
	// VRRP gives up its VIPs (priority 0) before anything else changes.
	subs.stop()
	if opts.detachOnExit {
		if err := dp.Remove(); err != nil {
			return err
		}
		log.Info("data plane removed: XDP detached, pins deleted", "bpffs", opts.pinDir)
		return nil
	}
	log.Info("data plane left running (pinned); restart xlbd to manage it again", "bpffs", opts.pinDir)
	return nil
}

func load(file string) (*config.Config, *control.State, error) {
	lim, err := dataplaneLimits()
	if err != nil {
		return nil, nil, err
	}
	return checkFile(file, lim)
}

// reload applies a changed config file; an invalid one is reported and the
// running configuration stays. It reports whether the reload succeeded.
func reload(opts options, dp *loader.Dataplane, director *control.Director, subs subsystems, log *slog.Logger) bool {
	file := opts.configFile
	log.Info("reloading configuration (SIGHUP)", "config", file)
	cfg, state, err := load(file)
	if err == nil {
		var ifaces []string
		if ifaces, err = interfaces(opts.interfaces, cfg.Global.XDPInterfaces, log); err == nil {
			err = syncInterfaces(dp, ifaces, xdpMode(cfg), log)
		}
	}
	if err != nil {
		log.Error("configuration not reloaded: the running configuration stays", "config", file, "error", err.Error())
		return false
	}
	if err := director.SetConfig(cfg, state); err != nil {
		log.Error("configuration reload failed part-way", "config", file, "error", err)
		return false
	}
	if err := subs.reload(cfg); err != nil {
		log.Error("configuration reload failed part-way", "config", file, "error", err)
		return false
	}
	logNotActive(cfg, log)
	log.Info("configuration reloaded", "config", file, "virtual_servers", len(state.Services))
	return true
}

// logNotActive says what the file configures that xlb does not do yet.
func logNotActive(cfg *config.Config, log *slog.Logger) {
	for _, line := range control.NotActive(cfg) {
		log.Warn("configured but not active yet: " + line)
	}
}

// interfaces picks the interfaces to attach to: -i flags, else xdp_interface,
// else every interface that is up except loopback.
func interfaces(flags, fromConfig []string, log *slog.Logger) ([]string, error) {
	names := flags
	if len(names) == 0 {
		names = fromConfig
	}
	if len(names) > 0 {
		for _, n := range names {
			if _, err := net.InterfaceByName(n); err != nil {
				return nil, fmt.Errorf("interface %q: no such interface", n)
			}
		}
		return names, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagLoopback == 0 {
			names = append(names, ifc.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no interface is up to attach XDP to; name one with -i or xdp_interface")
	}
	log.Info("no xdp_interface configured: attaching to every interface that is up", "interfaces", strings.Join(names, ","))
	return names, nil
}

func xdpMode(cfg *config.Config) loader.Mode {
	return map[config.XDPMode]loader.Mode{
		config.XDPModeAuto:    loader.ModeAuto,
		config.XDPModeNative:  loader.ModeNative,
		config.XDPModeGeneric: loader.ModeGeneric,
	}[cfg.Global.XDPMode]
}

// syncInterfaces attaches the program to every interface in ifaces and
// detaches it from interfaces an earlier configuration or run used.
func syncInterfaces(dp *loader.Dataplane, ifaces []string, mode loader.Mode, log *slog.Logger) error {
	for _, ifname := range ifaces {
		if _, err := dp.Attach(ifname, mode); err != nil {
			return err
		}
		warnForwardingOff(ifname, log)
	}
	attached, err := dp.Attached()
	if err != nil {
		return err
	}
	for _, ifname := range attached {
		if slices.Contains(ifaces, ifname) {
			continue
		}
		if err := dp.Detach(ifname); err != nil {
			return err
		}
		log.Info("xdp: detached from an interface no longer configured", "interface", ifname)
	}
	return nil
}

// warnForwardingOff says when the kernel will refuse the program's FIB
// lookups: it forwards like a router and needs forwarding on.
func warnForwardingOff(ifname string, log *slog.Logger) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + ifname + "/forwarding")
	if err == nil && strings.TrimSpace(string(b)) == "0" {
		log.Warn("IPv4 forwarding is off on this interface: packets for virtual servers will be dropped (drop: forwarding disabled); set net.ipv4.ip_forward=1", "interface", ifname)
	}
}
