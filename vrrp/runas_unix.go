//go:build unix

package vrrp

import "syscall"

// sysProcAttr makes a command run as r.
func (r *RunAs) sysProcAttr() *syscall.SysProcAttr {
	if r == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: r.UID, Gid: r.GID, Groups: []uint32{}}}
}
