package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// runProgram runs argv in its own process group and kills the whole group
// when ctx ends first.
func runProgram(ctx context.Context, argv []string, s Script) error {
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	if s.User != "" || s.Group != "" {
		cred, err := credential(s.User, s.Group)
		if err != nil {
			return fmt.Errorf("run %s: %w", argv[0], err)
		}
		cmd.SysProcAttr.Credential = cred
	}
	// Stdin, Stdout and Stderr stay nil (/dev/null): Wait then returns
	// when the program exits, even if a child holds them.
	if err := cmd.Start(); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // drop "fork/exec PATH:", said below
		}
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The group id is the leader's pid, which is not reused while
		// the group has members or the leader is unreaped.
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("run %s: %w", argv[0], &TimeoutError{After: budget(ctx, start)})
		}
		return fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	}
	if err == nil {
		return nil
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%s killed by signal %v", argv[0], ws.Signal())
		}
		return &ExitError{Program: argv[0], Status: xe.ExitCode()}
	}
	return fmt.Errorf("run %s: %w", argv[0], err)
}

// credential looks up the user (and group) to run as.
func credential(name, group string) (*syscall.Credential, error) {
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("look up user: %w", err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse uid of %s: %w", name, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse gid of %s: %w", name, err)
		}
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("look up group: %w", err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse gid of %s: %w", group, err)
		}
		cred.Gid = uint32(gid)
	}
	return cred, nil
}
