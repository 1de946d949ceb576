package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
)

// This file is `xlbd -t` (check a configuration) and `xlbd --dump` (print
// the effective configuration). Neither touches the system: no bpffs, no
// netlink, nothing attached; the data plane's limits come from the compiled
// program, read without loading it.

// checkFile parses file and checks it against what xlb and the data plane
// (limits) support. A configuration error is a config.ErrorList holding
// every error found.
func checkFile(file string, limits control.Limits) (*config.Config, *control.State, error) {
	cfg, err := config.ParseFile(file)
	if err != nil {
		return nil, nil, err
	}
	state, err := control.Desired(cfg, limits)
	if err != nil {
		return nil, nil, err
	}
	if err := checkHealth(cfg); err != nil {
		return nil, nil, err
	}
	return cfg, state, nil
}

// checkConfig is `xlbd -t`: it checks file and prints every error as
// file:line:col: message to stderr, or what xlbd would run to stdout. It
// returns the exit status: 0 valid, 1 not.
func checkConfig(file string, ifaces []string, limits func() (control.Limits, error), stdout, stderr io.Writer) int {
	lim, err := limits()
	if err != nil {
		fmt.Fprintf(stderr, "xlbd: %v\n", err)
		return 1
	}
	cfg, state, err := checkFile(file, lim)
	if err != nil {
		printErrors(stderr, file, err)
		fmt.Fprintf(stderr, "xlbd: configuration file %s test failed\n", file)
		return 1
	}
	printPlan(stdout, cfg, state, ifaces)
	fmt.Fprintf(stdout, "xlbd: configuration file %s test is successful\n", file)
	return 0
}

// dumpFile is `xlbd --dump`: it parses file and prints the effective
// configuration, every default written out, to stdout. It needs a file that
// parses; whether the data plane supports all of it is -t's question.
func dumpFile(file string, stdout, stderr io.Writer) int {
	cfg, err := config.ParseFile(file)
	if err != nil {
		printErrors(stderr, file, err)
		fmt.Fprintf(stderr, "xlbd: %s: not dumped\n", file)
		return 1
	}
	fmt.Fprintf(stdout, "# effective configuration of %s, defaults written out (xlbd --dump)\n", file)
	if err := dumpConfig(stdout, cfg); err != nil {
		fmt.Fprintf(stderr, "xlbd: %v\n", err)
		return 1
	}
	return 0
}

// printErrors prints a configuration's errors one per line, each as
// file:line:col: message, and how many there were.
func printErrors(w io.Writer, file string, err error) {
	var list config.ErrorList
	if !errors.As(err, &list) {
		fmt.Fprintf(w, "xlbd: %v\n", err)
		return
	}
	// A virtual_server group NAME block is checked once per address: say
	// each problem once.
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b *config.Error) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	list = slices.CompactFunc(list, func(a, b *config.Error) bool { return *a == *b })
	for _, e := range list {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintf(w, "xlbd: %s: %d error(s)\n", file, len(list))
}

// printPlan says what xlbd would run from a valid configuration: where it
// attaches, the virtual services with their reals as the data plane gets
// them, and what the file configures that is not active yet.
func printPlan(w io.Writer, cfg *config.Config, state *control.State, flagIfaces []string) {
	switch {
	case len(flagIfaces) > 0:
		fmt.Fprintf(w, "XDP on %s (-i), xdp_mode %s\n", strings.Join(flagIfaces, " "), cfg.Global.XDPMode)
	case len(cfg.Global.XDPInterfaces) > 0:
		fmt.Fprintf(w, "XDP on %s (xdp_interface), xdp_mode %s\n", strings.Join(cfg.Global.XDPInterfaces, " "), cfg.Global.XDPMode)
	default:
		fmt.Fprintf(w, "XDP on every interface that is up except lo (no xdp_interface, no -i), xdp_mode %s\n", cfg.Global.XDPMode)
	}
	reals := 0
	for _, s := range state.Services {
		reals += len(s.Reals)
	}
	fmt.Fprintf(w, "%d virtual server(s), %d real server(s):\n", len(state.Services), reals)
	for _, s := range state.Services {
		fmt.Fprintf(w, "  %s lvs_sched %s lvs_method %s  (%s)\n", s, s.Sched, s.Method, s.Pos)
		for _, r := range s.Reals {
			fmt.Fprintf(w, "    -> %s weight %d\n", r.AddrPort(), r.Weight)
		}
	}
	if na := control.NotActive(cfg); len(na) > 0 {
		fmt.Fprintf(w, "configured but not active yet (%d):\n", len(na))
		for _, line := range na {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}
