// Command demo shows xlb at work: it builds a client / director / two reals
// topology in network namespaces, runs xlbd on the director with a classic
// LVS-NAT configuration, sends HTTP requests from the client to the virtual
// IP, prints which real answered each, shows `xlb list`, and removes
// everything it made. `make demo` runs it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/xlbproject/xlb/testenv"
)

const natConfig = `! A classic LVS-NAT director: one virtual IP on port 80, two real servers
! whose default route is the director.
global_defs {
    xdp_interface eth0 eth1
}

virtual_server 198.18.0.100 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP

    real_server 198.18.1.2 80 {
        weight 1
    }
    real_server 198.18.1.3 80 {
        weight 1
    }
}
`

func main() {
	xlbd := flag.String("xlbd", "bin/xlbd", "path of the xlbd binary")
	xlb := flag.String("xlb", "bin/xlb", "path of the xlb binary")
	requests := flag.Int("n", 10, "requests to send")
	flag.Parse()
	if err := run(*xlbd, *xlb, *requests); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func run(xlbdPath, xlbPath string, requests int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo builds network namespaces and loads BPF: run it as root")
	}
	xlbdPath, _ = filepath.Abs(xlbdPath)
	xlbPath, _ = filepath.Abs(xlbPath)

	step("Building the topology in network namespaces")
	topo, err := testenv.New(testenv.Options{Reals: 2})
	if err != nil {
		return err
	}
	defer func() {
		step("Cleaning up: stopping xlbd, removing namespaces and pins")
		if err := topo.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
	}()
	fmt.Print(`
   client 198.18.0.2 --- eth0 [ director ] eth1 --- LAN bridge --- real1 198.18.1.2
                          198.18.0.1     198.18.1.1             \-- real2 198.18.1.3
                          VIP 198.18.0.100 (on eth0)
   Each real runs an HTTP server that answers with its own name.
   The reals' default route is the director, as LVS-NAT needs.
`)
	for _, r := range topo.Reals {
		if _, err := r.ServeHTTP(80); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "xlb-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "xlb.conf")
	if err := os.WriteFile(conf, []byte(natConfig), 0o644); err != nil {
		return err
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/xlb-demo-%d", os.Getpid())

	step("Starting xlbd on the director with this configuration (%s)", conf)
	fmt.Print(indent(natConfig))
	d, err := topo.Director.StartDaemon(xlbdPath, "-f", conf, "--bpffs", pinDir, "--detach-on-exit")
	if err != nil {
		return err
	}
	if err := d.WaitLog("xlbd running", 20*time.Second); err != nil {
		return err
	}
	fmt.Println("\n   xlbd says:")
	fmt.Print(indent(d.Log()))

	step("Sending %d HTTP requests from the client to http://198.18.0.100/, each on a new TCP connection", requests)
	hc := topo.Client.HTTPClient(3 * time.Second)
	answered := map[string]int{}
	for i := 1; i <= requests; i++ {
		resp, err := hc.Get("http://198.18.0.100/")
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := strings.TrimSpace(string(body))
		answered[name]++
		addr := ""
		if h := topo.Host(name); h != nil {
			addr = h.Addr.String()
		}
		fmt.Printf("   request %2d: %s, answered by %s (%s)\n", i, resp.Status, name, addr)
	}
	fmt.Printf("\n   round robin: real1 answered %d, real2 answered %d of %d\n", answered["real1"], answered["real2"], requests)

	step("What the data plane counted (xlb list, read from the pinned BPF maps)")
	out, err := exec.Command(xlbPath, "--bpffs", pinDir, "list").CombinedOutput()
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("xlb list: %w", err)
	}
	fmt.Println(`
   ActiveConn / InActConn: the connection table's established and other
   entries per real, as ipvsadm counts them (a closed connection stays
   inactive until its TIME_WAIT expires, 2 minutes).
   Conns: connections xlb scheduled to each real; InPkts: client -> real
   packets rewritten (VIP -> real) at XDP; OutPkts: replies rewritten back
   (real -> VIP) on their way to the client. The kernel's stack on the
   director never saw these packets.`)

	if err := d.Stop(5 * time.Second); err != nil {
		return fmt.Errorf("stop xlbd: %w", err)
	}
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("   " + line + "\n")
	}
	return b.String()
}
