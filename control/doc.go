// Package control turns xlb's configuration into the data plane's state.
//
// Desired builds the wanted virtual services from a parsed config and checks
// it against what the data plane supports, with errors at config positions.
// A Reconciler writes the difference between that and what the maps hold,
// in place: each service's scheduling ring is written to its idle slot and
// made live with one atomic update, so no packet sees a half-written table,
// and reals keep their ids, so established flows keep their real.
//
//	want, err := control.Desired(cfg, dp.Limits())
//	rec, err := control.NewReconciler(dp, logger)
//	err = rec.Apply(want)
package control
