//go:build !linux

package main

import "errors"

func openPinned(dir string) (dataplane, error) {
	return nil, errors.New("xlb reads the data plane's BPF maps, which exist only on Linux")
}
