package main

import (
	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// dataplaneLimits reads the capacities of the compiled BPF program without
// loading it.
func dataplaneLimits() (control.Limits, error) {
	maxServices, ringSize, maxReals, err := loader.Capacity()
	if err != nil {
		return control.Limits{}, err
	}
	return control.Limits{MaxServices: maxServices, RingSize: ringSize, MaxReals: maxReals}, nil
}
