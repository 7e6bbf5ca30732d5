#!/usr/bin/env bash
# netsplice vs gVisor vs the Linux kernel: runs the same benchmark workloads
# on each stack, RUNS times, and prints one table of medians with their
# spread and the ratios.
#
#   bash bench/compare.sh            (make bench runs it)
#   DURATION=5s RUNS=5 WORKLOADS=tcp-bulk bash bench/compare.sh
#   KERNEL=off bash bench/compare.sh  (without the Linux kernel peer)
#
# netsplice: `netsplice bench --json --softnets 1` (the main module).
# gVisor:    bench/peers/gvisor, a Go module of its own so that the main module
#            does not depend on gVisor; the first run downloads gVisor through
#            the Go module proxy.
# Linux:     bench/peers/kernel (main module, standard library only): iperf3
#            between network namespaces over veth, with veth's offloads on
#            and off; tcp-bulk and tcp-relay only (the relay is a Go proxy
#            whose io.Copy between TCP sockets is splice(2)). It needs root,
#            ip, ethtool and iperf3; without them the table leaves the Linux
#            columns out and says why.
# The relay rows compare netsplice's softnet-mode relay with a userland
# copy relay on gVisor (gVisor has no splice) and the kernel's splice relay;
# `netsplice bench --workload tcp-relay,udp-relay` shows every splice mode.
# All binaries are built first; then each run goes through the workloads and
# runs each on netsplice, gVisor and Linux in turn, so that every stack sees
# the machine at about the same time, and the next run does it again.
#
# Each cell is the median of the RUNS runs and, with more than one run, the
# spread: half the range (max - min) as a percentage of the median. Every
# ratio is taken on the medians and says how many times better netsplice is:
# netsplice/peer for rates (Gbit/s, Mpkt/s, conn/s), peer/netsplice for costs
# (ns per packet, CPU per GiB). Allocations, the relay's own CPU (measured
# differently on each stack) and loss counts are shown without a ratio.
set -euo pipefail

GO=${GO:-go}
DURATION=${DURATION:-2s}
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-tcp-bulk,tcp-conn,udp-bulk,tcp-relay,udp-relay}

case $RUNS in '' | *[!0-9]* | 0) echo "RUNS=$RUNS: want a positive number" >&2; exit 2 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
# The kernel peer deletes its namespaces itself, on a signal too; this
# catches what a killed peer left behind (names nsk<this shell's pid>r<run>*).
nsprefix="nsk$$r"
cleanup() {
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		local ns
		for ns in $(ip netns list 2>/dev/null | awk -v p="$nsprefix" 'index($1, p) == 1 { print $1 }'); do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
			ip netns del "$ns" 2>/dev/null || true
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "building netsplice, the gVisor peer (bench/peers/gvisor) and the kernel peer (bench/peers/kernel)..." >&2
(cd "$root" && "$GO" build -o "$tmp/netsplice" ./cmd/netsplice)
(cd "$root/bench/peers/gvisor" && "$GO" build -o "$tmp/gvisor" .)
(cd "$root" && "$GO" build -o "$tmp/kernel" ./bench/peers/kernel)

kernel_why=""
if [ "${KERNEL:-on}" = off ]; then
	kernel_why="KERNEL=off"
elif ! "$tmp/kernel" --check 2>"$tmp/kernel-check"; then
	kernel_why=$(sed 's/^kernel peer skipped: //' "$tmp/kernel-check")
	echo "kernel peer skipped: $kernel_why" >&2
fi

: >"$tmp/results.json"
IFS=, read -ra workloads <<<"$WORKLOADS"
for ((run = 1; run <= RUNS; run++)); do
	for w in "${workloads[@]}"; do
		kernel=""
		case $w in tcp-bulk | tcp-relay) [ -z "$kernel_why" ] && kernel=1 ;; esac
		echo "run $run/$RUNS: $w for $DURATION on netsplice${kernel:+ (offloads off, on)}, then gVisor${kernel:+, then Linux (offloads on, off)}..." >&2
		"$tmp/netsplice" bench --json --softnets 1 --duration "$DURATION" --workload "$w" >>"$tmp/results.json"
		if [ "$w" = tcp-conn ]; then
			# The same connections through the softnet-side API at both
			# ends (no goroutine per connection).
			"$tmp/netsplice" bench --json --softnets 1 --duration "$DURATION" --workload tcp-conn-softnet >>"$tmp/results.json"
		fi
		if [ -n "$kernel" ]; then
			# Like for like with the kernel's offloads on: netsplice with
			# checksum and segmentation offload on its in-memory ports, as
			# veth has.
			"$tmp/netsplice" bench --json --softnets 1 --duration "$DURATION" --workload "$w" --offload >>"$tmp/results.json"
		fi
		"$tmp/gvisor" --json --duration "$DURATION" --workload "$w" >>"$tmp/results.json"
		if [ -n "$kernel" ]; then
			"$tmp/kernel" --json --duration "$DURATION" --workload "$w" --prefix "$nsprefix$run" >>"$tmp/results.json" ||
				echo "kernel peer failed on $w in run $run (its cells are from the other runs)" >&2
		fi
	done
done

gvisor_version=$(cd "$root/bench/peers/gvisor" && "$GO" list -m -f '{{.Version}}' gvisor.dev/gvisor)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
echo
vs_linux=""
[ -z "$kernel_why" ] && vs_linux=" vs Linux $(uname -r) (iperf3 $(iperf3 --version | sed -n '1s/^iperf \([^ ]*\).*/\1/p'))"
echo "netsplice vs gVisor ($gvisor_version)$vs_linux, 1 softnet, $DURATION per workload, $RUNS runs, $(nproc) CPUs${cpu:+, $cpu}, $("$GO" env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v order="$WORKLOADS" -v haskernel="$([ -z "$kernel_why" ] && echo 1 || echo 0)" -v runs="$RUNS" '
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
	if (s == "linux") s = (str($0, "mode") == "offload") ? "linux" : "linux-no"
	if (s == "netsplice" && $0 ~ /"offload":true/) s = "netsplice-offl"
	# tcp-conn through the softnet-side API: rows of tcp-conn of its own.
	if (s == "netsplice" && w == "tcp-conn-softnet") { s = "netsplice-sn"; w = "tcp-conn" }
	n = split("gbps pps ns_per_pkt relay_ns_per_seg allocs_per_pkt cpu_s_per_gib cps drops retransmits", keys, " ")
	for (i = 1; i <= n; i++) {
		x = num($0, keys[i])
		if (x == "") continue
		c = ++cnt[s, w, keys[i]]
		val[s, w, keys[i], c] = x
	}
	seen[s, w] = 1
}
# med returns the median of stack s'"'"'s figures for w and key, "" if none;
# it sets lo and hi to the smallest and largest.
function med(s, w, key,    n, i, j, t, a) {
	n = cnt[s, w, key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[s, w, key, i]
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	lo = a[1]; hi = a[n]
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# cell formats the median and the spread (half the range, % of the median).
function cell(s, w, key, scale, fmt,    m, out) {
	m = med(s, w, key)
	if (m == "") return "-"
	out = sprintf(fmt, m * scale)
	if (cnt[s, w, key] > 1 && m != 0) out = out sprintf(" +-%.0f%%", (hi - lo) / 2 / m * 100)
	return out
}
# ratio: how many times better netsplice is than stack p, on the medians;
# higher says whether higher is better (1), lower (0), or no ratio (-1).
# Against the kernel with its offloads on, netsplice with its offloads
# (netsplice-offl) where it was measured; ns, when given, names the
# netsplice figures to take (netsplice-sn: tcp-conn through the
# softnet-side API).
function ratio(w, p, key, higher, ns,    a, b) {
	if (higher < 0) return ""
	if (ns == "") ns = (p == "linux" && cnt["netsplice-offl", w, key]) ? "netsplice-offl" : "netsplice"
	a = med(ns, w, key); b = med(p, w, key)
	if (a == "" || b == "") return "-"
	if (higher == 1) return (b > 0) ? sprintf("%.2fx", a / b) : "-"
	return (a > 0) ? sprintf("%.2fx", b / a) : "-"
}
function line(c1, c2, c3, c3o, c4, c5, c6, c7, c8, c9,    l) {
	if (haskernel) l = sprintf("%-9s %-14s %13s %14s %13s %13s %13s %8s %8s %9s", c1, c2, c3, c3o, c4, c5, c6, c7, c8, c9)
	else l = sprintf("%-9s %-14s %13s %13s %8s", c1, c2, c3, c4, c7)
	sub(/ +$/, "", l)
	print l
}
function row(w, label, key, scale, fmt, higher) {
	if (!cnt["netsplice", w, key] && !cnt["gvisor", w, key] && !cnt["linux", w, key] && !cnt["linux-no", w, key]) return
	line(w, label, cell("netsplice", w, key, scale, fmt), cell("netsplice-offl", w, key, scale, fmt), cell("gvisor", w, key, scale, fmt),
		cell("linux", w, key, scale, fmt), cell("linux-no", w, key, scale, fmt),
		ratio(w, "gvisor", key, higher), ratio(w, "linux", key, higher), ratio(w, "linux-no", key, higher))
}
END {
	line("workload", "metric", "netsplice", "netsplice-offl", "gvisor", "linux", "linux-no-offl", "x gvisor", "x linux", "x linux-no")
	nw = split(order, ws, ",")
	for (i = 1; i <= nw; i++) {
		w = ws[i]
		if (!seen["netsplice", w] || !seen["gvisor", w]) { printf "%-9s missing results\n", w; bad = 1; continue }
		if (w == "tcp-conn") {
			row(w, "conn/s", "cps", 1, "%.0f", 1)
			row(w, "allocs/conn", "allocs_per_pkt", 1, "%.1f", -1)
			if (cnt["netsplice-sn", w, "cps"]) {
				line(w, "conn/s softnet", cell("netsplice-sn", w, "cps", 1, "%.0f"), "-", cell("gvisor", w, "cps", 1, "%.0f"), "-", "-",
					ratio(w, "gvisor", "cps", 1, "netsplice-sn"), "", "")
				line(w, "allocs softnet", cell("netsplice-sn", w, "allocs_per_pkt", 1, "%.1f"), "-", cell("gvisor", w, "allocs_per_pkt", 1, "%.1f"), "-", "-", "", "", "")
			}
		} else {
			unit = (w ~ /^tcp-/) ? "seg" : "pkt"
			row(w, "Gbit/s", "gbps", 1, "%.2f", 1)
			row(w, "M" unit "/s", "pps", 1e-6, "%.3f", 1)
			row(w, "ns/" unit, "ns_per_pkt", 1, "%.0f", 0)
			if (w ~ /-relay$/) row(w, "relay ns/" unit, "relay_ns_per_seg", 1, "%.0f", -1)
			row(w, "allocs/" unit, "allocs_per_pkt", 1, "%.3f", -1)
			row(w, "CPU s/GiB", "cpu_s_per_gib", 1, "%.3f", 0)
		}
		row(w, "drops", "drops", 1, "%.0f", -1)
		if (haskernel) row(w, "retransmits", "retransmits", 1, "%.0f", -1)
	}
	print "cells: median of " runs " run(s), +- half the range in % of the median; ratios on the medians."
	print "ratio > 1: netsplice is better by that factor (rates: netsplice/peer; costs: peer/netsplice)."
	print "conn/s softnet: tcp-conn-softnet, the same connections through the softnet-side API at both ends (no goroutine per connection)."
	if (haskernel) {
		print "netsplice-offl: netsplice bench --offload, checksum and segmentation (TSO) offload on the in-memory ports as on veth, and receive coalescing (GRO);"
		print "       x linux compares it with linux (offloads on), x linux-no netsplice with linux-no-offl."
		print "linux: iperf3 over veth between namespaces, veth offloads on (linux) or off (linux-no-offl);"
		print "       CPU s/GiB is the whole machine'"'"'s busy CPU from /proc/stat (other users'"'"' work included);"
		print "       segments are bytes/1448; relay ns/seg is the splice relay process'"'"'s user+system CPU."
	}
	exit bad
}' "$tmp/results.json"
if [ -n "$kernel_why" ]; then
	echo "Linux kernel left out: $kernel_why"
fi
