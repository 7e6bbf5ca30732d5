#!/usr/bin/env bash
# netsplice vs gVisor: runs the same benchmark workloads on both stacks in one
# run and prints one table with the ratios.
#
#   bash bench/compare.sh            (make bench runs it)
#   DURATION=5s WORKLOADS=tcp-bulk bash bench/compare.sh
#
# netsplice: `netsplice bench --json --softnets 1` (the main module).
# gVisor:    bench/peers/gvisor, a Go module of its own so that the main module
#            does not depend on gVisor; the first run downloads gVisor through
#            the Go module proxy.
# The relay rows compare netsplice's softnet-mode relay with a userland
# copy relay on gVisor (gVisor has no splice); `netsplice bench --workload
# tcp-relay,udp-relay` shows every splice mode.
# Both binaries are built first; then each workload runs on netsplice and
# right after on gVisor, so both see the same machine at about the same time.
#
# Every ratio is "how many times better netsplice is": netsplice/gvisor for
# rates (Gbit/s, Mpkt/s, conn/s), gvisor/netsplice for costs (ns per packet,
# CPU per GiB). Allocations are shown without a ratio. The last column says
# which ratio a row has.
set -euo pipefail

GO=${GO:-go}
DURATION=${DURATION:-2s}
WORKLOADS=${WORKLOADS:-tcp-bulk,tcp-conn,udp-bulk,tcp-relay,udp-relay}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "building netsplice and the gVisor peer (bench/peers/gvisor)..." >&2
(cd "$root" && "$GO" build -o "$tmp/netsplice" ./cmd/netsplice)
(cd "$root/bench/peers/gvisor" && "$GO" build -o "$tmp/gvisor" .)

: >"$tmp/results.json"
IFS=, read -ra workloads <<<"$WORKLOADS"
for w in "${workloads[@]}"; do
	echo "running $w for $DURATION on netsplice, then on gVisor..." >&2
	"$tmp/netsplice" bench --json --softnets 1 --duration "$DURATION" --workload "$w" >>"$tmp/results.json"
	"$tmp/gvisor" --json --duration "$DURATION" --workload "$w" >>"$tmp/results.json"
done

gvisor_version=$(cd "$root/bench/peers/gvisor" && "$GO" list -m -f '{{.Version}}' gvisor.dev/gvisor)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
echo
echo "netsplice vs gVisor ($gvisor_version), 1 softnet, $DURATION per workload, $(nproc) CPUs${cpu:+, $cpu}, $("$GO" env GOVERSION)"
awk -v order="$WORKLOADS" '
# num returns the number after "key": in a flat JSON line, or "" if absent.
function num(line, key,    m) {
	if (match(line, "\"" key "\":[-0-9.eE+]+")) {
		m = substr(line, RSTART, RLENGTH)
		sub(/^"[^"]*":/, "", m)
		return m + 0
	}
	return ""
}
function str(line, key,    m) {
	if (match(line, "\"" key "\":\"[^\"]*\"")) {
		m = substr(line, RSTART, RLENGTH)
		sub(/^"[^"]*":"/, "", m)
		sub(/"$/, "", m)
		return m
	}
	return ""
}
{
	s = str($0, "stack"); w = str($0, "workload")
	# The relay workloads: netsplice in its default softnet mode against
	# gVisor'"'"'s userland copy relay (netsplice bench prints every mode).
	if (s == "netsplice" && w ~ /-relay$/ && str($0, "mode") != "softnet") next
	n = split("gbps pps ns_per_pkt relay_ns_per_seg allocs_per_pkt cpu_s_per_gib cps drops", keys, " ")
	for (i = 1; i <= n; i++) v[s, w, keys[i]] = num($0, keys[i])
	seen[s, w] = 1
}
# row prints one metric; higher says whether higher is better (1), lower
# (0), or that the row gets no ratio (-1: allocations, often 0 on netsplice).
function row(w, label, key, scale, fmt, higher,    a, b, r, how) {
	a = v["netsplice", w, key]; b = v["gvisor", w, key]
	if (a == "" && b == "") return
	r = ""; how = ""
	if (higher == 1) { how = "netsplice/gvisor"; if (b > 0) r = a / b }
	if (higher == 0) { how = "gvisor/netsplice"; if (a > 0) r = b / a }
	printf "%-9s %-13s %12s %12s %9s  %s\n", w, label, \
		(a == "" ? "-" : sprintf(fmt, a * scale)), (b == "" ? "-" : sprintf(fmt, b * scale)), \
		(r == "" ? "-" : sprintf("%.2fx", r)), how
}
END {
	printf "%-9s %-13s %12s %12s %9s  %s\n", "workload", "metric", "netsplice", "gvisor", "ratio", "ratio is"
	nw = split(order, ws, ",")
	for (i = 1; i <= nw; i++) {
		w = ws[i]
		if (!seen["netsplice", w] || !seen["gvisor", w]) { printf "%-9s missing results\n", w; bad = 1; continue }
		if (w == "tcp-conn") {
			row(w, "conn/s", "cps", 1, "%.0f", 1)
			row(w, "allocs/conn", "allocs_per_pkt", 1, "%.1f", -1)
		} else {
			unit = (w ~ /^tcp-/) ? "seg" : "pkt"
			row(w, "Gbit/s", "gbps", 1, "%.2f", 1)
			row(w, "M" unit "/s", "pps", 1e-6, "%.3f", 1)
			row(w, "ns/" unit, "ns_per_pkt", 1, "%.0f", 0)
			if (w ~ /-relay$/) row(w, "relay ns/" unit, "relay_ns_per_seg", 1, "%.0f", -1)
			row(w, "allocs/" unit, "allocs_per_pkt", 1, "%.3f", -1)
			row(w, "CPU s/GiB", "cpu_s_per_gib", 1, "%.3f", 0)
		}
		printf "%-9s %-13s %12d %12d\n", w, "drops", v["netsplice", w, "drops"], v["gvisor", w, "drops"]
	}
	print "ratio > 1: netsplice is better by that factor (rates: netsplice/gvisor; costs: gvisor/netsplice)."
	exit bad
}' "$tmp/results.json"
