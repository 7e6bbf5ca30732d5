#!/bin/bash
# A lab for people: two network namespaces joined by a veth pair, the Linux
# kernel on one end, netsplice (DPDK af_packet PMD) on the other.
#
#   scripts/lab.sh up      create nsp-dpdk and nsp-linux (needs root)
#   scripts/lab.sh down    remove them
#   scripts/lab.sh status  show them
#
# After `up`, start netsplice in the DPDK namespace, e.g.
#   ip netns exec nsp-dpdk bin/netsplice serve --ip 192.0.2.1/24 --echo udp:7 \
#     --eal '--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --vdev=net_af_packet0,iface=nsp-d0'
# and talk to it from the Linux namespace:
#   ip netns exec nsp-linux ping 192.0.2.1
#   echo hi | ip netns exec nsp-linux socat - UDP:192.0.2.1:7
set -euo pipefail

NS_D=nsp-dpdk
NS_L=nsp-linux
IF_D=nsp-d0
IF_L=nsp-l0
ADDR_L=192.0.2.2/24

up() {
	ip netns add "$NS_D"
	ip netns add "$NS_L"
	ip -n "$NS_D" link set lo up
	ip -n "$NS_L" link set lo up
	ip link add "$IF_D" netns "$NS_D" type veth peer name "$IF_L" netns "$NS_L"
	# AF_PACKET on a veth sees 64 KiB frames with partial checksums unless
	# the offloads are off; the DPDK end gets no kernel address, or that
	# namespace's kernel would answer ARP too.
	for pair in "$NS_D:$IF_D" "$NS_L:$IF_L"; do
		ip netns exec "${pair%%:*}" ethtool -K "${pair##*:}" tx off tso off gso off gro off rx off >/dev/null
		ip -n "${pair%%:*}" link set "${pair##*:}" up
	done
	ip -n "$NS_L" addr add "$ADDR_L" dev "$IF_L"
	echo "lab up: netsplice side $NS_D/$IF_D (no address), Linux side $NS_L/$IF_L $ADDR_L"
	echo "start: ip netns exec $NS_D bin/netsplice serve --ip 192.0.2.1/24 --echo udp:7 --eal '--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --vdev=net_af_packet0,iface=$IF_D'"
}

down() {
	ip netns del "$NS_D" 2>/dev/null || true
	ip netns del "$NS_L" 2>/dev/null || true
	echo "lab down"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) ip netns list | grep -E "^($NS_D|$NS_L)\b" || echo "no lab" ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
