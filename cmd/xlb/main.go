package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	defaultBPFFS  = "/sys/fs/bpf/xlb"
	defaultSocket = "/run/xlb/xlbd.sock"
)

// socketFor is the default control socket of the xlbd pinning under
// pinDir (cmd/xlbd has the same rule): /run/xlb/xlbd.sock for the default
// directory, /run/xlb/BASE.sock for any other, so --bpffs alone selects an
// installation.
func socketFor(pinDir string) string {
	if filepath.Clean(pinDir) == defaultBPFFS {
		return defaultSocket
	}
	return filepath.Join("/run/xlb", filepath.Base(filepath.Clean(pinDir))+".sock")
}

// env is what a command runs with; tests replace open and the writers.
type env struct {
	stdout, stderr io.Writer
	bpffs, socket  string
	// open opens the pinned data plane under a bpffs directory.
	open func(dir string) (dataplane, error)
	// sleep waits between the two samples of --rate; now reads the
	// clock. Tests make both exact.
	sleep func(time.Duration)
	now   func() time.Time
}

// errUsage marks an error in the command line: exit status 2.
var errUsage = errors.New("usage")

type command struct {
	name     string
	args     string // the synopsis after the name
	summary  string
	examples []string
	run      func(e *env, fs *flag.FlagSet, args []string) error
	// flags declares the command's own flags on fs.
	flags func(fs *flag.FlagSet)
}

var commands []*command

func init() {
	commands = []*command{listCmd, connsCmd, statsCmd, weightCmd, drainCmd, healthCmd, vrrpCmd, completionCmd}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: xlb [--bpffs DIR] [--socket PATH] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nGlobal flags (also accepted after the command):")
	fmt.Fprintf(w, "  --bpffs DIR    bpffs directory of the xlbd to inspect (default %s)\n", defaultBPFFS)
	fmt.Fprintf(w, "  --socket PATH  control socket of xlbd (default %s; with another --bpffs DIR, /run/xlb/BASE.sock)\n", defaultSocket)
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  xlb list                          # like ipvsadm -Ln")
	fmt.Fprintln(w, "  xlb --bpffs /sys/fs/bpf/xlb-test list --stats")
	fmt.Fprintln(w, "  xlb help conns                    # a command's flags and examples")
	fmt.Fprintln(w, "\nRun 'xlb COMMAND --help' for a command's flags and examples.")
}

// globalFlags declares the flags every command takes, before or after
// its name, into bpffs and socket (whose values are the defaults).
func globalFlags(fs *flag.FlagSet, bpffs, socket *string) {
	fs.StringVar(bpffs, "bpffs", *bpffs, "bpffs `directory` of the xlbd to inspect")
	fs.StringVar(socket, "socket", *socket, "control socket `path` of xlbd")
}

// run runs the command line args (without the program name) and returns
// the exit status.
func run(e *env, args []string) int {
	global := flag.NewFlagSet("xlb", flag.ContinueOnError)
	global.SetOutput(e.stderr)
	e.bpffs, e.socket = defaultBPFFS, defaultSocket
	globalFlags(global, &e.bpffs, &e.socket)
	global.Usage = func() { mainUsage(e.stderr) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	socketSet := false
	global.Visit(func(f *flag.Flag) { socketSet = socketSet || f.Name == "socket" })
	rest := global.Args()
	name := "list"
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "help" {
		if len(rest) == 0 {
			mainUsage(e.stdout)
			return 0
		}
		name, rest = rest[0], []string{"--help"}
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "xlb: unknown command %q; run 'xlb help' for the list\n", name)
		return 2
	}
	fs := flag.NewFlagSet("xlb "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	globalFlags(fs, &e.bpffs, &e.socket)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() { commandUsage(fs, c) }
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fs.Visit(func(f *flag.Flag) { socketSet = socketSet || f.Name == "socket" })
	if !socketSet {
		e.socket = socketFor(e.bpffs)
	}
	if err := c.run(e, fs, fs.Args()); err != nil {
		fmt.Fprintf(e.stderr, "xlb %s: %v\n", c.name, err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(e.stderr, "run 'xlb %s --help' for usage\n", c.name)
			return 2
		}
		return 1
	}
	return 0
}

func commandUsage(fs *flag.FlagSet, c *command) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: xlb %s %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
	fs.PrintDefaults()
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, ex := range c.examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
}

// usageErr is a command-line error: exit status 2.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), errUsage)
}

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, open: openPinned, sleep: time.Sleep, now: time.Now}
	os.Exit(run(e, os.Args[1:]))
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q", strings.Join(args, " "))
	}
	return nil
}
