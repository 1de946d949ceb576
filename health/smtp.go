package health

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"time"
)

// SMTPCheck is keepalived's SMTP_CHECK: it reads the 220 greeting, sends
// HELO and wants 250, then says QUIT.
type SMTPCheck struct {
	Endpoint
	// HeloName is the HELO argument (helo_name); default the host name.
	HeloName string
}

// Check implements Checker.
func (c *SMTPCheck) Check(ctx context.Context) (Result, error) {
	start := time.Now()
	helo := c.HeloName
	if helo == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			helo = h
		} else {
			helo = "localhost"
		}
	}
	conn, err := c.dial(ctx, "tcp", start)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tp := textproto.NewConn(conn)
	if err := smtpExpect(ctx, start, tp, 220, "read SMTP greeting"); err != nil {
		return Result{}, err
	}
	if err := tp.PrintfLine("HELO %s", helo); err != nil {
		return Result{}, fmt.Errorf("send HELO: %w", cause(ctx, start, err))
	}
	if err := smtpExpect(ctx, start, tp, 250, "read HELO reply"); err != nil {
		return Result{}, err
	}
	// QUIT is a courtesy: the check has passed whatever the server says.
	if err := tp.PrintfLine("QUIT"); err == nil {
		tp.ReadResponse(221)
	}
	return Result{}, nil
}

// smtpError is a reply with the wrong code.
type smtpError struct {
	op   string
	code int
	msg  string
	want int
}

func (e *smtpError) Error() string {
	return fmt.Sprintf("%s: SMTP reply %d %s, want %d", e.op, e.code, e.msg, e.want)
}

// smtpExpect reads one reply and wants code; op names the step in the
// error.
func smtpExpect(ctx context.Context, start time.Time, tp *textproto.Conn, want int, op string) error {
	code, msg, err := tp.ReadResponse(want)
	var perr *textproto.Error
	switch {
	case errors.As(err, &perr):
		return &smtpError{op: op, code: code, msg: msg, want: want}
	case err != nil:
		return fmt.Errorf("%s: %w", op, cause(ctx, start, err))
	}
	return nil
}
