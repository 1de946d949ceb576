#!/usr/bin/env bash
# A director built by hand with ip(8), without xlb's testenv: one client, a
# director with one interface per side, two reals on their own links; one
# NAT (rr) and one DR (wrr 3:1) virtual server. Run as root from the
# repository after `make build`. Everything it creates is removed on exit.
set -euo pipefail
XLBD=${XLBD:-bin/xlbd}
XLB=${XLB:-bin/xlb}
P=xlbex$$
PIN=/sys/fs/bpf/$P
WEB=$(mktemp -d)
XLBD_PID=
cleanup() {
	[ -n "$XLBD_PID" ] && kill "$XLBD_PID" 2>/dev/null && wait "$XLBD_PID" 2>/dev/null || true
	for n in r1 r2; do
		for pid in $(ip netns pids $P$n 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	done
	"$XLBD" --cleanup --bpffs "$PIN" >/dev/null 2>&1 || true
	for n in c d r1 r2; do ip netns del $P$n 2>/dev/null || true; done
	rm -rf "$WEB"
}
trap cleanup EXIT
netns() { local ns=$1; shift; nsenter --net=/run/netns/$P$ns -- "$@"; }

for n in c d r1 r2; do ip netns add $P$n; ip -n $P$n link set lo up; done
ip -n ${P}c link add cli0 type veth peer name front0 netns ${P}d
ip -n ${P}d link add back1 type veth peer name srv0 netns ${P}r1
ip -n ${P}d link add back2 type veth peer name srv0 netns ${P}r2

# Client 198.18.10.2, routed through the director.
ip -n ${P}c addr add 198.18.10.2/24 dev cli0
ip -n ${P}c link set cli0 up
ip -n ${P}c route add default via 198.18.10.1

# Director: the VIPs on its client side (VRRP would put them there), a
# router for the reals.
ip -n ${P}d addr add 198.18.10.1/24 dev front0
ip -n ${P}d addr add 198.18.10.100/32 dev front0
ip -n ${P}d addr add 198.18.10.101/32 dev front0
ip -n ${P}d addr add 198.18.11.1/24 dev back1
ip -n ${P}d addr add 198.18.12.1/24 dev back2
for i in front0 back1 back2; do ip -n ${P}d link set $i up; done
netns d sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.all.accept_local=1
for i in front0 back1 back2; do netns d sysctl -qw net.ipv4.conf.$i.accept_local=1 net.ipv4.conf.$i.rp_filter=0; done

# Reals: NAT needs the director as default route; DR needs the VIP on lo
# and no ARP answers for it.
for i in 1 2; do
	ip -n ${P}r$i addr add 198.18.1$i.2/24 dev srv0
	ip -n ${P}r$i link set srv0 up
	ip -n ${P}r$i route add default via 198.18.1$i.1
	ip -n ${P}r$i addr add 198.18.10.101/32 dev lo
	netns r$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
done

# veth: frames XDP redirects or transmits need NAPI on the receiving end
# (GRO on), and locally generated TCP must carry full checksums (tx off).
netns c ethtool -K cli0 tx off gro on >/dev/null
for i in 1 2; do netns r$i ethtool -K srv0 tx off gro on >/dev/null; done
for i in front0 back1 back2; do netns d ethtool -K $i gro on >/dev/null; done

for i in 1 2; do
	mkdir -p "$WEB/r$i" && echo "real$i" >"$WEB/r$i/index.html"
	netns r$i python3 -m http.server 80 --bind 0.0.0.0 --directory "$WEB/r$i" >/dev/null 2>&1 &
done

cat >"$WEB/xlb.conf" <<'CONF'
global_defs {
    xdp_interface front0 back1 back2
}
virtual_server 198.18.10.100 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.18.11.2 80 {
        weight 1
    }
    real_server 198.18.12.2 80 {
        weight 1
    }
}
virtual_server 198.18.10.101 80 {
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    real_server 198.18.11.2 80 {
        weight 3
    }
    real_server 198.18.12.2 80 {
        weight 1
    }
}
CONF
nsenter --net=/run/netns/${P}d -- "$XLBD" -f "$WEB/xlb.conf" --bpffs "$PIN" &
XLBD_PID=$!
for _ in $(seq 50); do [ -e "$PIN/links/back2" ] && break; sleep 0.1; done
sleep 0.5 # the reals' web servers

echo "NAT 198.18.10.100 (rr):"
for _ in 1 2 3 4; do netns c curl -s -m 2 http://198.18.10.100/; done
echo "DR 198.18.10.101 (wrr 3:1):"
for _ in 1 2 3 4 5 6 7 8; do netns c curl -s -m 2 http://198.18.10.101/; done
"$XLB" --bpffs "$PIN" list
