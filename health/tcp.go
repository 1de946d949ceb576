package health

import (
	"context"
	"time"
)

// TCPCheck is keepalived's TCP_CHECK: the server is up when a TCP
// connection to it completes within the budget.
type TCPCheck struct {
	Endpoint
}

// Check implements Checker.
func (c *TCPCheck) Check(ctx context.Context) (Result, error) {
	conn, err := c.dial(ctx, "tcp", time.Now())
	if err != nil {
		return Result{}, err
	}
	conn.Close()
	return Result{}, nil
}
