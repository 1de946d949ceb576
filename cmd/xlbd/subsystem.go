package main

import (
	"errors"
	"log/slog"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
)

// A subsystem is a part of xlbd that follows the configuration beside the
// data plane, such as health checking or VRRP; it reports what it learns to
// the Director.
type subsystem interface {
	// Reload adopts a new, valid configuration.
	Reload(cfg *config.Config) error
	// Stop ends the subsystem and returns once everything it started has
	// stopped.
	Stop()
}

// starter starts a subsystem for cfg.
type starter func(cfg *config.Config, director *control.Director, log *slog.Logger) (subsystem, error)

// subsystems are the running subsystems, in start order.
type subsystems []subsystem

// startSubsystems starts each in turn; when one fails, those already started
// are stopped.
func startSubsystems(cfg *config.Config, director *control.Director, log *slog.Logger, starters ...starter) (subsystems, error) {
	var subs subsystems
	for _, start := range starters {
		s, err := start(cfg, director, log)
		if err != nil {
			subs.stop()
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, nil
}

func (subs subsystems) reload(cfg *config.Config) error {
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Reload(cfg))
	}
	return errors.Join(errs...)
}

// stop stops them in reverse start order.
func (subs subsystems) stop() {
	for i := len(subs) - 1; i >= 0; i-- {
		subs[i].Stop()
	}
}
