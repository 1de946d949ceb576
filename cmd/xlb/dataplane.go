package main

import (
	"github.com/xlbproject/xlb/loader"
)

// dataplane is the pinned data plane as the CLI reads it
// (*loader.Dataplane opened read-only).
type dataplane interface {
	source
	ReasonStats() (map[loader.Reason]loader.Counters, error)
	ScanFlows(visit func(*loader.Flow) bool) (seen, deleted int, err error)
	Close() error
}
