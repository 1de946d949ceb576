// Package loader loads xlb's XDP program, attaches it to interfaces, pins
// its links (which hold the program) and maps under a bpffs directory so
// that they outlive the daemon, and offers a typed API over the maps.
//
// It knows nothing of configuration: the control package decides what the
// maps should hold and calls this package to write it.
//
//	dp, err := loader.Open(loader.Options{PinDir: "/sys/fs/bpf/xlb"})
//	mode, err := dp.Attach("eth0", loader.ModeAuto)
//	err = dp.SetService(ep, svc)
package loader
