#!/bin/bash
# The relay lab, `make run`: a Linux client and a Linux server in network
# namespaces, netsplice relaying between them on DPDK's af_packet PMD (one
# port toward each), no NIC and no hugepages needed. For each splice mode
# it runs iperf3 and a file download through the relay for a few seconds,
# then prints one table and removes everything it made. Needs root.
#
#   scripts/relay-lab.sh [BINARY] [SECONDS]
set -euo pipefail

BIN=${1:-bin/netsplice}
SECS=${2:-3}
ID=$$
NS_C=nsr${ID}c NS_R=nsr${ID}r NS_S=nsr${ID}s
RC=nsr${ID}rc RS=nsr${ID}rs CI=nsr${ID}ci SI=nsr${ID}si
DIR=$(mktemp -d)
RELAY_PID=

cleanup() {
	[ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null || true
	for ns in "$NS_C" "$NS_R" "$NS_S"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "relay-lab: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ethtool iperf3 socat; do
	command -v "$tool" >/dev/null || { echo "relay-lab: $tool missing (make deps installs it)" >&2; exit 2; }
done

for ns in "$NS_C" "$NS_R" "$NS_S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$RC" netns "$NS_R" type veth peer name "$CI" netns "$NS_C"
ip link add "$RS" netns "$NS_R" type veth peer name "$SI" netns "$NS_S"
for p in "$NS_R:$RC" "$NS_R:$RS" "$NS_C:$CI" "$NS_S:$SI"; do
	# AF_PACKET on a veth sees 64 KiB frames with partial checksums unless
	# the offloads are off on both ends.
	ip netns exec "${p%%:*}" ethtool -K "${p##*:}" tx off tso off gso off gro off rx off >/dev/null
	ip -n "${p%%:*}" link set "${p##*:}" up
done
ip -n "$NS_C" addr add 192.0.2.2/24 dev "$CI"
ip -n "$NS_C" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$NS_S" addr add 198.51.100.2/24 dev "$SI"
ip -n "$NS_S" route add 192.0.2.0/24 via 198.51.100.1

# The server side: iperf3, and a 256 MiB file for the download.
head -c $((256 << 20)) /dev/urandom > "$DIR/payload"
ip netns exec "$NS_S" iperf3 -s -D -p 5201 --logfile "$DIR/iperf3-server.log"
ip netns exec "$NS_S" socat -U TCP-LISTEN:8000,reuseaddr,fork "OPEN:$DIR/payload" &
sleep 0.3

# Busy polling wants a core per softnet beside iperf3 and the kernel.
POLL=adaptive
[ "$(nproc)" -ge 6 ] && POLL=busy

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

printf '\nnetsplice relay lab: Linux client 192.0.2.2 -> netsplice relay (af_packet, 2 softnets, %s polling) -> Linux server 198.51.100.2\n' "$POLL"
printf '%-10s %-10s %10s %12s %12s %12s\n' mode workload Gbit/s "CPU s/GiB" "splice moves" handoffs
for mode in softnet dedicated copy; do
	ip netns exec "$NS_R" "$BIN" relay --lcores 2 --poll "$POLL" --mode "$mode" \
		--eal "--no-huge -m 640 --no-pci -l 0 --no-telemetry --no-shconf --log-level=lib.eal:error --vdev=net_af_packet0,iface=$RC --vdev=net_af_packet1,iface=$RS" \
		--ip 192.0.2.1/24 --ip 198.51.100.1/24 \
		--listen tcp:192.0.2.1:5201 --to tcp:198.51.100.2:5201 \
		--listen tcp:192.0.2.1:80 --to tcp:198.51.100.2:8000 > "$DIR/relay-$mode.log" 2>&1 &
	RELAY_PID=$!
	for _ in $(seq 100); do grep -q "ready" "$DIR/relay-$mode.log" && break; sleep 0.1; done
	grep -q "ready" "$DIR/relay-$mode.log" || { cat "$DIR/relay-$mode.log" >&2; exit 1; }
	pid=$(pgrep -n -f "relay --lcores 2 --poll $POLL --mode $mode" || echo "$RELAY_PID")

	t0=$(cpu_ticks "$pid")
	bps=$(ip netns exec "$NS_C" iperf3 -c 192.0.2.1 -p 5201 -t "$SECS" -J 2>/dev/null |
		awk -F'[:,]' '/"sum_received"/ {f=1} f && /"bits_per_second"/ {print $2; exit}')
	t1=$(cpu_ticks "$pid")
	gib=$(awk -v b="${bps:-0}" -v s="$SECS" 'BEGIN {print b*s/8/1073741824}')
	printf '%-10s %-10s %10.2f %12.2f\n' "$mode" iperf3 "$(awk -v b="${bps:-0}" 'BEGIN {print b/1e9}')" \
		"$(awk -v t=$((t1 - t0)) -v h="$HZ" -v g="$gib" 'BEGIN {if (g > 0) print t/h/g; else print 0}')"

	t0=$(cpu_ticks "$pid")
	start=$(date +%s.%N)
	sum=$(ip netns exec "$NS_C" timeout 60 socat -u TCP:192.0.2.1:80 STDOUT | sha256sum | cut -d' ' -f1)
	end=$(date +%s.%N)
	t1=$(cpu_ticks "$pid")
	[ "$sum" = "$(sha256sum < "$DIR/payload" | cut -d' ' -f1)" ] || { echo "relay-lab: download through $mode relay corrupted" >&2; exit 1; }
	kill -TERM "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true; RELAY_PID=
	moves=$(awk '/^splice:/ {for (i = 1; i <= NF; i++) if ($i == "moves") print $(i+1)}' "$DIR/relay-$mode.log")
	handoffs=$(awk '/^splice:/ {for (i = 1; i <= NF; i++) if ($i == "handoffs") print $(i+1)}' "$DIR/relay-$mode.log")
	printf '%-10s %-10s %10.2f %12.2f %12s %12s\n' "$mode" download \
		"$(awk -v s="$start" -v e="$end" 'BEGIN {print 256*8/1024/(e-s)}')" \
		"$(awk -v t=$((t1 - t0)) -v h="$HZ" 'BEGIN {print t/h/0.25}')" "${moves:-?}" "${handoffs:-?}"
done
printf '\nsplice moves and hand-offs are per mode over both workloads; softnet mode keeps hand-offs at the\n'
printf 'ARP news only. The af_packet PMD, not the stack, bounds throughput here (see README).\n'
