package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The weight range of a real, as IPVS and keepalived accept it.
const (
	minWeight = 0
	maxWeight = 65535
)

var steerOpts struct {
	proto    string
	wait     bool
	all      bool
	timeout  time.Duration
	interval time.Duration
}

func protoFlag(fs *flag.FlagSet) {
	fs.StringVar(&steerOpts.proto, "proto", "", "`TCP` or UDP, when both services exist on VIP:PORT")
}

var weightCmd = &command{
	name:    "weight",
	args:    "VIP:PORT REAL:PORT N|config",
	summary: "set a real's weight in the running xlbd until the next reload (0: no new connections); 'config' goes back to the configured weight",
	examples: []string{
		"xlb weight 198.18.0.100:80 198.18.1.2:80 5",
		"xlb weight --proto UDP 198.18.0.100:53 198.18.1.2:53 0",
		"xlb weight 198.18.0.100:80 198.18.1.2:80 config",
	},
	flags: protoFlag,
	run:   runWeight,
}

var drainCmd = &command{
	name:    "drain",
	args:    "VIP:PORT REAL:PORT",
	summary: "give a real weight 0 (existing connections continue) and wait until its active connections reach 0; lasts until the next reload",
	examples: []string{
		"xlb drain 198.18.0.100:80 198.18.1.2:80",
		"xlb drain --timeout 10m 198.18.0.100:80 198.18.1.2:80",
		"xlb drain --wait=false 198.18.0.100:80 198.18.1.2:80   # only set weight 0",
	},
	flags: func(fs *flag.FlagSet) {
		protoFlag(fs)
		fs.BoolVar(&steerOpts.wait, "wait", true, "wait for the real's ActiveConn to reach 0")
		fs.BoolVar(&steerOpts.all, "all", false, "wait for InActConn to reach 0 too (closed connections' entries expire by their timeouts: TIME_WAIT takes 2 minutes)")
		fs.DurationVar(&steerOpts.timeout, "timeout", 5*time.Minute, "give up waiting after `D` (exit status 1; the weight stays 0)")
		fs.DurationVar(&steerOpts.interval, "interval", time.Second, "poll the connection counts every `D`")
	},
	run: runDrain,
}

var healthCmd = &command{
	name:     "health",
	args:     "",
	summary:  "show each real's checkers: last result and reason, last change (asks xlbd)",
	examples: []string{"xlb health", "xlb --socket /run/xlb/test.sock health"},
	run:      func(e *env, _ *flag.FlagSet, args []string) error { return runStatus(e, "health", args) },
}

var vrrpCmd = &command{
	name:     "vrrp",
	args:     "",
	summary:  "show each VRRP instance: state, effective priority, master, adverts, drops (asks xlbd)",
	examples: []string{"xlb vrrp"},
	run:      func(e *env, _ *flag.FlagSet, args []string) error { return runStatus(e, "vrrp", args) },
}

// realArgs checks VIP:PORT REAL:PORT.
func realArgs(args []string, n int) (vip, real netip.AddrPort, err error) {
	if len(args) != n {
		return vip, real, usageErr("want %d arguments, got %d", n, len(args))
	}
	if vip, err = netip.ParseAddrPort(args[0]); err != nil {
		return vip, real, usageErr("virtual service %q: want VIP:PORT, e.g. 198.18.0.100:80", args[0])
	}
	if real, err = netip.ParseAddrPort(args[1]); err != nil {
		return vip, real, usageErr("real %q: want ADDR:PORT, e.g. 198.18.1.2:80", args[1])
	}
	switch p := strings.ToUpper(steerOpts.proto); p {
	case "", "TCP", "UDP":
		steerOpts.proto = p
	default:
		return vip, real, usageErr("--proto %q: want TCP or UDP", steerOpts.proto)
	}
	return vip, real, nil
}

func runWeight(e *env, _ *flag.FlagSet, args []string) error {
	vip, real, err := realArgs(args, 3)
	if err != nil {
		return err
	}
	req := request{Cmd: "weight", Proto: steerOpts.proto, VIP: vip.String(), Real: real.String()}
	if args[2] != "config" {
		w, err := strconv.Atoi(args[2])
		if err != nil || w < minWeight || w > maxWeight {
			return usageErr("weight %q: want a whole number from %d to %d, or 'config'", args[2], minWeight, maxWeight)
		}
		req.Weight = &w
	}
	resp, err := call(e.socket, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, resp.Message)
	return nil
}

func runDrain(e *env, _ *flag.FlagSet, args []string) error {
	vip, real, err := realArgs(args, 2)
	if err != nil {
		return err
	}
	if steerOpts.interval < 10*time.Millisecond || steerOpts.timeout < 0 {
		return usageErr("--interval must be at least 10ms and --timeout not negative")
	}
	zero := 0
	resp, err := call(e.socket, request{Cmd: "weight", Proto: steerOpts.proto, VIP: vip.String(), Real: real.String(), Weight: &zero})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, resp.Message)
	if !steerOpts.wait {
		return nil
	}
	deadline := time.Now().Add(steerOpts.timeout)
	last := [2]int64{-1, -1}
	for {
		r, err := call(e.socket, request{Cmd: "real", Proto: steerOpts.proto, VIP: vip.String(), Real: real.String()})
		if err != nil {
			return err
		}
		now := [2]int64{r.ActiveConns, r.InactiveConns}
		if now[0] == 0 && (now[1] == 0 || !steerOpts.all) {
			fmt.Fprintf(e.stdout, "drained: real %s of %s has no active connections (%d inactive entries left, they expire by their timeouts)\n", real, vip, now[1])
			return nil
		}
		if now != last {
			fmt.Fprintf(e.stdout, "waiting: ActiveConn %d InActConn %d\n", now[0], now[1])
			last = now
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("real %s of %s still has %d active and %d inactive connections after %s; it stays at weight 0 (wait longer with --timeout)",
				real, vip, now[0], now[1], steerOpts.timeout)
		}
		time.Sleep(min(steerOpts.interval, max(time.Until(deadline), 0)))
	}
}

func runStatus(e *env, what string, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	resp, err := call(e.socket, request{Cmd: what})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, resp.Status, "", "  "); err != nil {
		return fmt.Errorf("read %s status: %w", what, err)
	}
	out.WriteByte('\n')
	_, err = e.stdout.Write(out.Bytes())
	return err
}
