package main

import (
	"context"
	"log/slog"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

// sweeper runs control.Sweeper as a subsystem: it expires connection table
// entries by their state's timeout (lvs_timeouts) and keeps ActiveConn and
// InActConn right.
type sweeper struct {
	sw     *control.Sweeper
	cancel context.CancelFunc
	done   chan struct{}
}

// startSweeper returns the starter of the sweeper of dp's connection table.
func startSweeper(dp *loader.Dataplane) starter {
	return func(cfg *config.Config, _ *control.Director, log *slog.Logger) (subsystem, error) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &sweeper{sw: control.NewSweeper(dp, control.TimeoutsOf(cfg), log), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(s.done)
			s.sw.Run(ctx, control.DefaultSweepInterval)
		}()
		return s, nil
	}
}

func (s *sweeper) Reload(cfg *config.Config) error {
	s.sw.SetTimeouts(control.TimeoutsOf(cfg))
	return nil
}

func (s *sweeper) Stop() {
	s.cancel()
	<-s.done
}
