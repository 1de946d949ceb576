// Command xlbd is xlb's daemon: it reads a keepalived.conf-dialect file,
// loads and attaches the XDP data plane and keeps its maps in line with the
// configuration. It runs in the foreground and logs to stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/xlbproject/xlb/control/config"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	configFile    string
	pinDir        string
	interfaces    []string
	flowTableSize uint
	detachOnExit  bool
	cleanup       bool
	test          bool // -t: check the configuration and exit
	dump          bool // --dump: print the effective configuration and exit
	socketPath    string
	metricsAddr   string
}

// defaultSocket is the control socket of the xlbd with the default --bpffs.
const defaultSocket = "/run/xlb/xlbd.sock"

// socketFor is the default control socket of the xlbd pinning under
// pinDir, so that --bpffs alone selects an installation for xlbd and xlb
// (cmd/xlb has the same rule): /run/xlb/xlbd.sock for the default
// directory, /run/xlb/BASE.sock for any other.
func socketFor(pinDir string) string {
	if filepath.Clean(pinDir) == "/sys/fs/bpf/xlb" {
		return defaultSocket
	}
	return filepath.Join("/run/xlb", filepath.Base(filepath.Clean(pinDir))+".sock")
}

func main() {
	var opts options
	var ifaces stringList
	fs := flag.NewFlagSet("xlbd", flag.ContinueOnError)
	fs.StringVar(&opts.configFile, "f", "/etc/xlb/xlb.conf", "configuration `file` (keepalived.conf dialect)")
	fs.StringVar(&opts.pinDir, "bpffs", "/sys/fs/bpf/xlb", "bpffs `directory` for pinned maps and links")
	fs.Var(&ifaces, "i", "attach XDP to `interface` (repeatable; overrides xdp_interface)")
	fs.UintVar(&opts.flowTableSize, "flow-table-size", 0, "connection table entries (default 1048576; fixed once pinned)")
	fs.BoolVar(&opts.detachOnExit, "detach-on-exit", false, "on exit, detach XDP and remove the pins instead of leaving the data plane running")
	fs.BoolVar(&opts.cleanup, "cleanup", false, "detach XDP and remove the pins under --bpffs, then exit")
	fs.BoolVar(&opts.test, "t", false, "check the configuration file and exit (0 valid, 1 not); touches nothing")
	fs.StringVar(&opts.socketPath, "socket", defaultSocket, "control socket `path` for xlb weight, drain, health, vrrp (mode 0600; \"\" for none; with another --bpffs DIR the default is /run/xlb/BASE.sock, BASE the last element of DIR)")
	fs.StringVar(&opts.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on `addr`ess:port at /metrics (e.g. 127.0.0.1:9410; default off)")
	fs.BoolVar(&opts.dump, "dump", false, "print the effective configuration, defaults written out, and exit; touches nothing")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "xlbd: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	opts.interfaces = ifaces
	socketSet := false
	fs.Visit(func(f *flag.Flag) { socketSet = socketSet || f.Name == "socket" })
	if !socketSet {
		opts.socketPath = socketFor(opts.pinDir)
	}
	switch {
	case opts.test && opts.dump:
		fmt.Fprintln(os.Stderr, "xlbd: -t and --dump exclude each other")
		os.Exit(2)
	case opts.test:
		os.Exit(checkConfig(opts.configFile, opts.interfaces, dataplaneLimits, os.Stdout, os.Stderr))
	case opts.dump:
		os.Exit(dumpFile(opts.configFile, os.Stdout, os.Stderr))
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(opts, log); err != nil {
		var cfgErrs config.ErrorList
		if errors.As(err, &cfgErrs) {
			for _, e := range cfgErrs {
				fmt.Fprintln(os.Stderr, e)
			}
			fmt.Fprintf(os.Stderr, "xlbd: %s: %d error(s), nothing changed\n", opts.configFile, len(cfgErrs))
		} else {
			fmt.Fprintf(os.Stderr, "xlbd: %v\n", err)
		}
		os.Exit(1)
	}
}
