#!/bin/bash
# The Xen part of make bench (make bench-xen): fi_pingpong -e rdm between the
# two PV guests of the multi-guest Xen test (tests/vm/xen/groups: one Xen
# 4.17 host under QEMU's software emulation, Dom0 with xen2mx.ko on the
# bridge xenbr0 and xen2mx-back.ko, guests g1 and g2 with xen2mx-front.ko
# and a netfront each on that bridge), comparing between the same guests:
#   kmod         xen2mx over the split driver (/dev/xen2mx of xen2mx-front,
#                frames turned round in Dom0's board) with its defaults:
#                at a 1500-byte MTU every frame is copied into the tx
#                chunks the guest shares with Dom0
#   kmod-zc      the same with every full frame's payload lent zero-copy
#                (FI_XEN2MX_KMOD_ZEROCOPY=1024: the guest's pages granted
#                to Dom0 and put on the board as skb fragments)
#   kmod-evall   kmod with Dom0's backend sending the receiving guest an
#                event for every frame (xen2mx-back's rx_event_batching=0)
#                instead of one per burst of frames the guest had not read
#   kmod-dom0    kmod with Dom0 opening no lane between the guests
#                (xen2mx-back's lanes=0): every frame through Dom0, as
#                before lanes; kmod's own frames go through a lane from
#                one guest's kernel into the other's endpoint memory
#   kmod-idle    kmod with each process sleeping in the kernel once its
#                ring has been empty for 20 us (FI_XEN2MX_KMOD_IDLE_WAIT=20),
#                so that its vCPU hands the processor over to Dom0 at once
#   tcp;ofi_rxm  libfabric's tcp provider under rxm over the netfronts
#                (xen-netfront, xen-netback, Dom0's bridge): the baseline
#                every ratio is taken against
#   udp;ofi_rxd  libfabric's udp provider under rxd over the same path
# g1 runs the servers, g2 the clients; every round runs every size with
# every variant in turn, so that slow phases of the shared host hit all
# variants alike; the tables show medians of the rounds. Each guest has one
# vCPU; with XEN_PIN=1 (the default) Dom0 pins g1's to the emulated host's
# processor 0 and g2's to processor 1 (Dom0's own vCPU floats).
#
# What the numbers mean: Xen, Dom0 and the guests run on emulated CPUs (TCG,
# no KVM), where a hypercall, an event-channel notification or a page-table
# switch costs far more than on hardware; absolute figures say nothing of a
# real machine. The ratios say how much work each path does per message.
#
#   xen_compare.sh [rounds]
# Environment: X2M_BUILD (build tree, default: the source tree),
# XEN_LATENCY_SIZES (default "8 1024"), XEN_BANDWIDTH_SIZES (default
# "65536 1048576"), XEN_VARIANTS (default "kmod kmod-dom0 kmod-zc kmod-idle tcp;ofi_rxm udp;ofi_rxd"), XEN_SKIP
# (VARIANT:SIZE pairs not run; default "kmod-zc:1048576", where each
# zero-copy frame waits for its completion from Dom0, some 5 ms under
# emulation, and a run outlasts its time limit), XEN_ITERATIONS (round trips per run for sizes up to 4 KiB, up to
# 64 KiB, up to 1 MiB, and larger; default "200 30 6 3"), XEN_RUN_SECONDS
# (time limit of one fi_pingpong run, 60), XEN_SECONDS (time limit of the
# whole emulated machine, 1500), XEN_PIN=0|1, XEN_APPEND (more of Xen's
# command line, e.g. sched_ratelimit_us=0: credit2 then lets a waking
# Dom0 preempt a guest at once rather than after the guest's first 1000
# us), XEN_DIAG=1 (the guests' CPU
# time, steal included, around each run), X2M_VM_CACHE, X2M_VM_KEEP=1,
# XEN_RESULTS=FILE (print the tables from the output of an earlier run,
# kept with XEN_KEEP_OUTPUT=FILE, and boot nothing).
# Prints "skipped: REASON" and exits 0 when the Xen machine cannot be had;
# exits 1 when it fails.
set -u
rounds=${1:-3}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${X2M_BUILD:-$src}
latency_sizes=${XEN_LATENCY_SIZES:-"8 1024"}
bandwidth_sizes=${XEN_BANDWIDTH_SIZES:-"65536 1048576"}
sizes=$(printf '%s\n' $latency_sizes $bandwidth_sizes | sort -nu | tr '\n' ' ')
variants=${XEN_VARIANTS:-"kmod kmod-dom0 kmod-zc kmod-idle tcp;ofi_rxm udp;ofi_rxd"}
skip=${XEN_SKIP:-"kmod-zc:1048576"}
iterations=${XEN_ITERATIONS:-"200 30 6 3"}
baseline='tcp;ofi_rxm'
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

elapsed() { echo "$(($(date +%s) - start)) s"; }

boot_host() {
    [ "$(uname -m)" = x86_64 ] || { echo "skipped: the guests are x86_64 Debian kernels"; exit 0; }
    {
        echo "BENCH_ROUNDS=$rounds"
        echo "BENCH_SIZES='$sizes'"
        echo "BENCH_VARIANTS='$variants'"
        echo "BENCH_SKIP='$skip'"
        echo "BENCH_SECONDS=${XEN_RUN_SECONDS:-60}"
        echo "BENCH_DIAG=${XEN_DIAG:-0}"
        echo "BENCH_IFACE=eth0 BENCH_BOARD="
        set -- $iterations
        echo "BENCH_SMALL_ITERS=$1 BENCH_MEDIUM_ITERS=$2 BENCH_LARGE_ITERS=$3 BENCH_HUGE_ITERS=$4"
        cat "$src/util/bench/guest_runs.sh" "$src/util/bench/xen_guest.sh"
    } >"$work/guest.sh"
    echo "== the guests run $rounds rounds of $(echo $sizes | wc -w) sizes x $(echo $variants | wc -w) variants"
    X2M_SRC=$src X2M_BUILD=$build X2M_XEN_BENCH=$work/guest.sh X2M_XEN_PIN=${XEN_PIN:-1} X2M_XEN_APPEND=${XEN_APPEND:-} \
        X2M_XEN_SECONDS=${XEN_SECONDS:-1500} "$src/tests/vm/xen/groups/run.sh" >"$work/host.out" 2>&1
    rc=$?
    [ -z "${XEN_KEEP_OUTPUT:-}" ] || cp "$work/host.out" "$XEN_KEEP_OUTPUT"
    if [ $rc = 77 ]; then
        echo "skipped: $(grep -a '^SKIP: ' "$work/host.out" | tail -n 1 | sed 's/^SKIP: //')"
        exit 0
    fi
    grep -aE '^== |^dom0: (xen_version|.*vcpu|Name|backend)|^dom0: x2m-|BENCH-NOTE|^(g1\| |g2\| )?FAIL' "$work/host.out"
    grep -aq '^g1| X2M-GUEST-END' "$work/host.out" || {
        tail -n 40 "$work/host.out"
        echo "FAIL: guest g1 did not finish (time limit ${XEN_SECONDS:-1500}s, or it crashed; XEN_SECONDS raises it)"
        exit 1
    }
}

if [ -n "${XEN_RESULTS:-}" ]; then
    cp "$XEN_RESULTS" "$work/host.out" || exit 1
    rounds=$(grep -ac '^g1| BENCH-NOTE \[g1\] round' "$work/host.out")
else
    boot_host
fi
grep -a '^g1| BENCH ' "$work/host.out" | awk '$3 != "" {print $3, $4, $5, $6}' >"$work/results"
results=$work/results
. "$src/util/bench/tables.sh"

echo
echo "fi_pingpong -e rdm between two PV guests of one Xen host (Xen 4.17 in QEMU TCG, 1 vCPU each$([ "${XEN_PIN:-1}" = 1 ] && echo ', pinned to processors 0 and 1')),"
echo "server in g1, client in g2; median of $rounds rounds, variants alternated in each round."
[ -z "${XEN_APPEND:-}" ] || echo "Xen's command line also holds: $XEN_APPEND"
echo "kmod: xen2mx through xen2mx-front and Dom0's xen2mx-back, small frames through a lane between the guests (-dom0: none, xen2mx-back lanes=0);"
echo "-zc: full frames' pages lent to Dom0 (FI_XEN2MX_KMOD_ZEROCOPY=1024);"
echo "-evall: Dom0 sends the receiving guest an event per frame (xen2mx-back rx_event_batching=0);"
echo "-idle: each process sleeps in the kernel once its ring has been empty for 20 us (FI_XEN2MX_KMOD_IDLE_WAIT=20);"
echo "tcp;ofi_rxm, udp;ofi_rxd: over the netfronts bridged in Dom0 (xen-netfront, xen-netback, xenbr0)."
echo "In brackets: the ratio to $baseline between the same guests ('-': not run or every run failed)."
echo "Emulated CPUs make every figure slow; compare the ratios."
both_tables "$latency_sizes" "$bandwidth_sizes" "fi_pingpong usec/xfer, half the round trip"
[ -n "${XEN_RESULTS:-}" ] || echo "== $(elapsed) in all; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
