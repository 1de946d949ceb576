package main

import (
	"context"
	"log/slog"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

// fibWatch runs control.FIBWatcher as a subsystem: the program's cached
// next hops follow every route, link, address and neighbour change.
type fibWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startFIBWatch returns the starter of the FIB watcher of dp.
func startFIBWatch(dp *loader.Dataplane) starter {
	return func(_ *config.Config, _ *control.Director, log *slog.Logger) (subsystem, error) {
		ctx, cancel := context.WithCancel(context.Background())
		w := &fibWatch{cancel: cancel, done: make(chan struct{})}
		watcher := control.NewFIBWatcher(dp, log)
		go func() {
			defer close(w.done)
			watcher.Run(ctx)
		}()
		return w, nil
	}
}

func (w *fibWatch) Reload(*config.Config) error { return nil }

func (w *fibWatch) Stop() {
	w.cancel()
	<-w.done
}
