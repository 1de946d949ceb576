// Package control turns xlb's configuration into the data plane's state.
//
// Desired builds the wanted virtual services from a parsed config and checks
// it against what the data plane supports, with errors at config positions.
// A Director adds what health checks and VRRP report at run time (reals
// down, quorum, sorry server, VIPs held) and hands the result to a
// Reconciler, which writes the difference between that and what the maps hold,
// in place: each service's scheduling ring is written to its idle slot and
// made live with one atomic update, so no packet sees a half-written table,
// and reals keep their ids, so established flows keep their real.
//
//	want, err := control.Desired(cfg, limits)
//	rec, err := control.NewReconciler(dp, logger)
//	director := control.NewDirector(rec.Apply, logger)
//	err = director.SetConfig(cfg, want)
package control
