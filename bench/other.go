//go:build !linux

package main

import "errors"

func run(options) error {
	return errors.New("bench runs on Linux only: it loads BPF programs and builds network namespaces")
}
