#!/bin/bash
# The generator lab, `make gen-lab`: netsplice gen on DPDK's af_packet PMD
# in one network namespace, servers on the Linux kernel's sockets in
# another (`netsplice serve --kernel`: TCP echo, UDP echo, HTTP), no NIC
# and no hugepages needed. It runs gen at a few rates,
# prints one table (rate asked and held, latency percentiles, CPU per
# connection or datagram) and removes everything it made. Needs root.
#
#   scripts/gen-lab.sh [BINARY] [SECONDS]
set -euo pipefail

BIN=${1:-bin/netsplice}
SECS=${2:-3}
ID=$$
NS_G=nsg${ID}g NS_L=nsg${ID}l GI=nsg${ID}gi LI=nsg${ID}li
DIR=$(mktemp -d)

cleanup() {
	for ns in "$NS_G" "$NS_L"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "gen-lab: needs root (network namespaces)" >&2; exit 2; }
for tool in ip ethtool; do
	command -v "$tool" >/dev/null || { echo "gen-lab: $tool missing (make deps installs it)" >&2; exit 2; }
done

for ns in "$NS_G" "$NS_L"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$GI" netns "$NS_G" type veth peer name "$LI" netns "$NS_L"
for p in "$NS_G:$GI" "$NS_L:$LI"; do
	ip netns exec "${p%%:*}" ethtool -K "${p##*:}" tx off tso off gso off gro off rx off >/dev/null
	ip -n "${p%%:*}" link set "${p##*:}" up
done
ip -n "$NS_L" addr add 192.0.2.2/24 dev "$LI"

# The Linux servers: the test services on the kernel's sockets.
ip netns exec "$NS_L" "$BIN" serve --kernel --ip 192.0.2.2/24 --echo tcp:7 --echo udp:7 --http 80 > "$DIR/server.log" 2>&1 &
for _ in $(seq 50); do grep -q "ready" "$DIR/server.log" && break; sleep 0.1; done
grep -q "ready" "$DIR/server.log" || { cat "$DIR/server.log" >&2; exit 1; }

EAL="--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --log-level=lib.eal:error --vdev=net_af_packet0,iface=$GI"
# field NAME [JSON]: a number from gen's final JSON line.
field() { grep -o "\"$1\":[-0-9.e+]*" <<<"$2" | head -1 | cut -d: -f2; }
lat() { grep -o "\"$1\":{[^}]*}" <<<"$2" | grep -o "\"$3\":[0-9.e+]*" | cut -d: -f2; }

printf '\nnetsplice gen lab: netsplice gen (af_packet, 1 softnet) -> servers on the Linux kernel at 192.0.2.2, %ss per row\n' "$SECS"
printf '%-5s %-6s %9s %9s %7s %8s %8s %8s %9s %9s %9s %10s\n' proto what "rate/s" "held/s" held failed missed lost "p50 us" "p99 us" "max us" "CPU us/op"
run() {
	local proto=$1 port=$2 rate=$3; shift 3
	local out
	out=$(ip netns exec "$NS_G" "$BIN" gen --eal "$EAL" --ip 192.0.2.1/24 --poll adaptive --json --log-level warn \
		--to "$proto:192.0.2.2:$port" --rate "$rate" --duration "${SECS}s" "$@" 2>"$DIR/gen.err" | grep '"type":"final"' || true)
	if [ -z "$out" ]; then
		echo "gen-lab: gen printed no final report:" >&2
		cat "$DIR/gen.err" >&2
		exit 1
	fi
	local key=response what=echo
	[ "$proto" = udp ] && key=rtt
	[ "$port" = 80 ] && what=http
	printf '%-5s %-6s %9s %9.0f %7s %8s %8s %8s %9.0f %9.0f %9.0f %10.1f\n' "$proto" "$what" "$rate" \
		"$(awk -v a="$(field attempted "$out")" -v s="$SECS" 'BEGIN {print a/s}')" \
		"$(grep -q '"ok":true' <<<"$out" && echo yes || echo no)" \
		"$(field failed "$out")" "$(field missed "$out")" "$(field lost "$out" || true)" \
		"$(lat "$key" "$out" p50)" "$(lat "$key" "$out" p99)" "$(lat "$key" "$out" max)" \
		"$(field cpu_us_per_conn "$out")"
}
for rate in 500 2000 5000; do run tcp 7 "$rate" --request 512 --conns 256; done
for rate in 500 2000; do run tcp 80 "$rate" --http --response 16384 --conns 256; done
for rate in 10000 50000 200000; do run udp 7 "$rate" --size 64 --flows 8; done
printf '\nrate/s: asked; held/s: attempted per second; latency: TCP request to echoed response, UDP round trip, both\n'
printf 'from the schedule (corrected for coordinated omission); CPU: gen process CPU per connection or datagram.\n'
