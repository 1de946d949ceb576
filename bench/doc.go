// Command bench measures xlb against its floors and peers in one run and
// writes the figures as docs/PERFORMANCE.md and bench/results.json. It is
// what `make bench` runs (as root, from the repository's root):
//
//	go run ./bench -doc docs/PERFORMANCE.md -json bench/results.json
//
// It runs, in order:
//
//   - the per-packet cost of the XDP program (loader's BenchmarkXDP and
//     BenchmarkXDPScheduler: one packet per BPF_PROG_TEST_RUN call, the
//     kernel's duration of each call, median and p99, beside a MAC-swap
//     floor program measured in the same run);
//   - the end-to-end forwarding rate in a testenv topology (client ->
//     director -> 3 reals), xlb beside an XDP MAC-rewrite floor, plain kernel
//     forwarding and nftables DNAT, and TCP connections per second through
//     xlb, nftables DNAT and HAProxy;
//   - the control plane: applying 1000 services x 64 reals through
//     control.Reconciler, a one-real change at that size (and which map
//     entries it touched), a Maglev service of 1000 reals, health checks per
//     second (health's benchmarks) and the VRRP failover gap (xlbd's
//     benchmark, against keepalived).
//
// Every load is bounded in count and time and runs only inside network
// namespaces this run created, which it removes at the end. Nothing here
// asserts a time: figures are reported, and the targets of issue 8 are
// listed as met or not met beside them.
package main
