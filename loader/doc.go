// Package loader loads xlb's XDP program, attaches it to interfaces, pins
// its links (which hold the program) and maps under a bpffs directory so
// that they outlive the daemon, and offers a typed API over the maps.
//
// It knows nothing of configuration: the control package decides what the
// maps should hold and calls this package to write it. A service's
// scheduling ring is written whole into its idle slot (WriteRing makes a
// new array map of the ring's size and swaps it in), then made live with
// SetService; the connection table is read and expired in batches
// (ScanFlows, ScanPersistence) and the reals' connection counts read and
// corrected with RealConns and SetRealConns.
//
//	dp, err := loader.Open(loader.Options{PinDir: "/sys/fs/bpf/xlb"})
//	mode, err := dp.Attach("eth0", loader.ModeAuto)
//	err = dp.WriteRing(svc.ID, 1-svc.Slot, realIDs)
//	err = dp.SetService(ep, svc)
package loader
