//go:build !linux

package main

import "errors"

type options struct {
	doc, json string
	calls     int
	flows     int
	only      string
}

func run(options) error {
	return errors.New("bench runs on Linux only: it loads BPF programs and builds network namespaces")
}
