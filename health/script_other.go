//go:build !linux

package health

import (
	"context"
	"fmt"
)

func runProgram(ctx context.Context, argv []string, s Script) error {
	return fmt.Errorf("run %s: %w", argv[0], ErrNotSupported)
}
