package main

import (
	"github.com/xlbproject/xlb/loader"
)

// dataplane is the pinned data plane as the CLI reads it
// (*loader.Dataplane opened read-only).
type dataplane interface {
	source
	// ReasonStatsByInterface is every pass and drop reason counter by
	// interface name (loader.OtherInterfaces for devices without counters
	// of their own); xlb stats sums them for the totals, so both tables
	// come from one reading.
	ReasonStatsByInterface() (map[string]map[loader.Reason]loader.Counters, error)
	ScanFlows(visit func(*loader.Flow) bool) (seen, deleted int, err error)
	Close() error
}
