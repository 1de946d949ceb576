// Command xlb shows what xlb's data plane is doing, read straight from its
// pinned BPF maps, in the layout ipvsadm users know.
//
//	xlb [--bpffs DIR] list     virtual servers, reals and their counters
//	xlb [--bpffs DIR] stats    why packets were passed to the kernel or dropped
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	fs := flag.NewFlagSet("xlb", flag.ContinueOnError)
	pinDir := fs.String("bpffs", "/sys/fs/bpf/xlb", "bpffs `directory` of the xlbd to inspect")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: xlb [--bpffs DIR] [list|stats]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	cmd := "list"
	if fs.NArg() > 0 {
		cmd = fs.Arg(0)
	}
	var err error
	switch cmd {
	case "list":
		err = list(os.Stdout, *pinDir)
	case "stats":
		err = stats(os.Stdout, *pinDir)
	default:
		fmt.Fprintf(os.Stderr, "xlb: unknown command %q (want list or stats)\n", cmd)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xlb: %v\n", err)
		os.Exit(1)
	}
}
