package vrrp

import (
	"context"
	"os/exec"
	"strconv"
	"time"
)

// notifyTimeout bounds one notify program run.
const notifyTimeout = 30 * time.Second

// NotifyArgs returns the argv keepalived gives a generic notify program:
// the configured argv followed by "INSTANCE", the instance name, the state
// (MASTER, BACKUP, FAULT or STOP) and the priority.
func NotifyArgs(argv []string, name, state string, prio uint8) []string {
	out := append([]string(nil), argv...)
	return append(out, "INSTANCE", name, state, strconv.Itoa(int(prio)))
}

func (in *Instance) notify(s State) {
	var specific []string
	switch s {
	case StateMaster:
		specific = in.cfg.NotifyMaster
	case StateBackup:
		specific = in.cfg.NotifyBackup
	case StateFault:
		specific = in.cfg.NotifyFault
	}
	in.runNotify(specific)
	if len(in.cfg.Notify) > 0 {
		in.runNotify(NotifyArgs(in.cfg.Notify, in.cfg.Name, s.String(), in.m.Priority()))
	}
}

func (in *Instance) notifyStop() {
	in.runNotify(in.cfg.NotifyStop)
	if len(in.cfg.Notify) > 0 {
		in.runNotify(NotifyArgs(in.cfg.Notify, in.cfg.Name, "STOP", in.m.Priority()))
	}
}

// runNotify starts argv without a shell and without waiting, as keepalived
// does; a failure is logged.
func (in *Instance) runNotify(argv []string) {
	if len(argv) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = in.cfg.NotifyRunAs.sysProcAttr()
	if err := cmd.Start(); err != nil {
		cancel()
		in.log.Warn("vrrp: cannot run notify program", "program", argv[0], "err", err)
		return
	}
	go func() {
		defer cancel()
		if err := cmd.Wait(); err != nil {
			in.log.Warn("vrrp: notify program failed", "program", argv[0], "err", err)
		}
	}()
}
