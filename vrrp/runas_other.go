//go:build !unix

package vrrp

import "syscall"

// sysProcAttr: other systems run programs as the daemon's user.
func (r *RunAs) sysProcAttr() *syscall.SysProcAttr { return nil }
