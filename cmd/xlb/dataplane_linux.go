package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/xlbproject/xlb/loader"
)

// openPinned opens the maps xlbd pinned under dir, read-only.
func openPinned(dir string) (dataplane, error) {
	dp, err := loader.OpenPinned(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no xlb data plane pinned at %s: start xlbd, or name the running one's directory with --bpffs DIR", dir)
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("cannot read the pinned maps at %s: run xlb as root", dir)
	}
	if err != nil {
		return nil, err
	}
	return dp, nil
}
