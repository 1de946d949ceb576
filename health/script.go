package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadCommand is wrapped by SplitCommand's errors.
var ErrBadCommand = errors.New("bad command line")

// SplitCommand splits a misc_path or notify command line into the program
// and its arguments, without a shell, the way keepalived does: words are
// separated by blanks; '...' keeps everything inside literally; "..." keeps
// blanks and honours \" and \\; outside quotes a backslash escapes the next
// character. Nothing is expanded ($VAR, globs, ~).
func SplitCommand(s string) ([]string, error) {
	var (
		argv  []string
		word  strings.Builder
		inArg bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				argv = append(argv, word.String())
				word.Reset()
				inArg = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("split command %q: %w: unterminated '", s, ErrBadCommand)
			}
			word.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inArg = true
		case c == '"':
			inArg = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				word.WriteByte(s[i])
			}
			if !closed {
				return nil, fmt.Errorf("split command %q: %w: unterminated \"", s, ErrBadCommand)
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("split command %q: %w: trailing backslash", s, ErrBadCommand)
			}
			i++
			word.WriteByte(s[i])
			inArg = true
		default:
			word.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		argv = append(argv, word.String())
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("split command %q: %w: empty", s, ErrBadCommand)
	}
	return argv, nil
}

// Script is a program run without a shell: a notify_up / notify_down
// script, or the program of a MISC_CHECK.
type Script struct {
	// Command is the command line, split by SplitCommand.
	Command string
	// User and Group, when set, are the user and group the program runs
	// as (keepalived's "script user group"); Group defaults to the
	// user's primary group. Running as another user needs root.
	User, Group string
	// Timeout, when above 0, bounds the run: at Timeout (or when the
	// context ends) the program's whole process group is killed.
	Timeout time.Duration
	// Env is added to the daemon's environment ("NAME=value").
	Env []string
}

// ExitError is returned by Script.Run when the program ran and exited with
// a status other than 0.
type ExitError struct {
	Program string
	Status  int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with status %d", e.Program, e.Status)
}

// Run starts the program in a new process group, waits for it and returns
// nil when it exits with status 0, an *ExitError for another status, a
// *TimeoutError (wrapped) when it was killed at its timeout, or the reason
// it could not start.
func (s Script) Run(ctx context.Context) error {
	argv, err := SplitCommand(s.Command)
	if err != nil {
		return err
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	return runProgram(ctx, argv, s)
}

// MiscCheck is keepalived's MISC_CHECK: it runs a program and the server is
// up when the program exits with status 0. With Dynamic (misc_dynamic), exit
// status 1 is down and 2 to 255 are up with weight status-2.
type MiscCheck struct {
	// Path is misc_path: the program and its arguments.
	Path string
	// Timeout is misc_timeout; the process group is killed at it. The
	// context's deadline (the Monitor's ConnectTimeout) also bounds it.
	Timeout time.Duration
	// User and Group to run as (user); default the daemon's.
	User, Group string
	// Dynamic is misc_dynamic.
	Dynamic bool
	// Env is added to the program's environment.
	Env []string
}

// Check implements Checker.
func (m *MiscCheck) Check(ctx context.Context) (Result, error) {
	err := Script{Command: m.Path, User: m.User, Group: m.Group, Timeout: m.Timeout, Env: m.Env}.Run(ctx)
	var ee *ExitError
	if m.Dynamic && errors.As(err, &ee) && ee.Status >= 2 {
		return Result{Weight: ee.Status - 2, WeightSet: true}, nil
	}
	return Result{}, err
}

// Notifier runs notify_up or notify_down for a target's events. The
// program gets XLB_TARGET, XLB_STATE (UP or DOWN) and XLB_REASON in its
// environment.
type Notifier struct {
	Up, Down Script
}

// Notify runs the script that matches ev, if it has a command.
func (n Notifier) Notify(ctx context.Context, ev Event) error {
	s, state := n.Down, "DOWN"
	if ev.Up {
		s, state = n.Up, "UP"
	}
	if strings.TrimSpace(s.Command) == "" {
		return nil
	}
	s.Env = append(append([]string(nil), s.Env...),
		"XLB_TARGET="+ev.Target, "XLB_STATE="+state, "XLB_REASON="+ev.Reason)
	if err := s.Run(ctx); err != nil {
		return fmt.Errorf("notify %s: %w", strings.ToLower(state), err)
	}
	return nil
}
