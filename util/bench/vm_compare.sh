#!/bin/bash
# The guest part of make bench: fi_pingpong between two QEMU guests (the
# harness of tests/vm: Debian's kernel under software emulation, one vCPU
# each, virtio-net NICs joined by a QEMU socket netdev on the loopback, one
# UDP datagram per frame), comparing over that same virtual link:
#   kmod         xen2mx over /dev/xen2mx (FI_XEN2MX_LINK=kmod), as it runs
#                by default: at MTU 1500 the kernel copies every payload
#                into the frame
#   kmod-zc      the same with full frames' payloads lent to the NIC
#                zero-copy (FI_XEN2MX_KMOD_ZEROCOPY=1024), each send
#                waiting until the NIC is done with its frame
#   kmod-nopull  kmod with no memory region given to the kernel
#                (FI_XEN2MX_KMOD_PULLS=0): the process answers the pulls of
#                large messages itself, as with a module before regions;
#                against kmod, what registering and deregistering each
#                large send's region costs or saves
#   ethernet     xen2mx over its raw-socket link (FI_XEN2MX_LINK=ethernet,
#                AF_PACKET, root in the guest)
#   udp          xen2mx's frames in UDP datagrams (FI_XEN2MX_LINK=udp)
#   tcp;ofi_rxm  libfabric's tcp provider under its rxm layer, the
#                baseline every ratio is taken against
# Guest a runs the servers, guest b the clients; every round runs every size
# with every variant in turn, so that slow phases of the shared host hit all
# variants alike; the tables show medians of the rounds. Each guest has one
# vCPU; with VM_PIN=1 (the default when the host has two CPUs or more) guest
# a's QEMU is pinned to CPU 0 and guest b's to CPU 1. The threads running
# the guests' CPUs are reniced (VM_VCPU_NICE, 19): fi_pingpong busy-polls,
# and QEMU's main thread, which carries the frames, must not wait behind
# them.
#
# What the numbers mean: the CPUs are emulated (TCG, no KVM), so every
# instruction costs tens of times what it costs on hardware and a system
# call or an interrupt far more; absolute figures say nothing of a real
# machine. The ratios say how much work each path does per message: fewer
# system calls, copies and wake-ups show as a ratio below 1 in latency and
# above 1 in bandwidth against tcp;ofi_rxm.
#
#   vm_compare.sh [rounds]
# Environment: X2M_BUILD (build tree, default: the source tree),
# VM_LATENCY_SIZES (default "8 256 4096 65536"), VM_BANDWIDTH_SIZES (default
# "65536 1048576 4194304"), VM_VARIANTS (default all six above), VM_ITERATIONS (round trips per run for sizes up to 4 KiB, up
# to 64 KiB, up to 1 MiB, and larger; default "400 100 16 6"), VM_SECONDS (time limit of the whole guest run, default 900),
# FI_PINGPONG, FI_INFO, X2M_VM_CACHE, X2M_VM_KEEP=1 (keep the consoles'
# logs), VM_PIN=0|1, VM_NETDEV (udp, as the tests; stream: a TCP stream,
# where back-to-back frames wait for the host's delayed ACKs), VM_DIAG=1
# (the guests' CPU time and softirq counts after each run), VM_RESULTS=FILE
# (print the tables from guest b's console log of an earlier run, kept with
# X2M_VM_KEEP=1, and boot nothing).
# Prints "skipped: REASON" and exits 0 when QEMU, the kernel or the test
# programs cannot be had; exits 1 when the guests fail.
set -u
rounds=${1:-3}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${X2M_BUILD:-$src}
cache=${X2M_VM_CACHE:-$build/tests/vm/cache}
latency_sizes=${VM_LATENCY_SIZES:-"8 256 4096 65536"}
bandwidth_sizes=${VM_BANDWIDTH_SIZES:-"65536 1048576 4194304"}
sizes=$(printf '%s\n' $latency_sizes $bandwidth_sizes | sort -nu | tr '\n' ' ')
variants=${VM_VARIANTS:-"kmod kmod-zc kmod-nopull ethernet udp tcp;ofi_rxm"}
seconds=${VM_SECONDS:-900}
iterations=${VM_ITERATIONS:-"400 100 16 6"}
baseline='tcp;ofi_rxm'
vm=$src/tests/vm
start=$(date +%s)

skipped() {
    echo "skipped: $*"
    exit 0
}
elapsed() { echo "$(($(date +%s) - start)) s"; }

boot_guests() {
    [ "$(uname -m)" = x86_64 ] || skipped "the guests are x86_64 Debian kernels"
    command -v timeout >/dev/null 2>&1 || skipped "timeout not installed (coreutils)"
    [ -z "${X2M_PRELOAD:-}" ] || skipped "the provider is built with sanitizers, whose runtime the guests do not carry"
    pingpong=${FI_PINGPONG:-$(command -v fi_pingpong)}
    info=${FI_INFO:-$(command -v fi_info)}
    [ -n "$pingpong" ] && [ -x "$pingpong" ] || skipped "fi_pingpong not found (apt-get install libfabric-bin)"
    [ -f "$build/.libs/libxen2mx-fi.so" ] || skipped "the provider is not built ($build/.libs/libxen2mx-fi.so)"
    [ -x "$build/fabtests/tools/kmod_tool" ] || skipped "kmod_tool is not built (make fabtests/tools/kmod_tool)"
    [ -f "$src/prov/xen2mx/link/kmod_link.cpp" ] || skipped "the provider has no kmod link"

    prepared=$("$vm/prepare.sh" "$cache" 2>&1)
    rc=$?
    [ $rc -eq 77 ] && skipped "${prepared#*SKIP: }"
    [ $rc -eq 0 ] || { echo "$prepared"; echo "FAIL: preparing the guests' kernel"; exit 1; }
    . "$cache/kernel.env"
    kbuild=$cache/$KVER/kmod-bench
    "$vm/build_kmod.sh" "$src" "$HEADERS" "$kbuild" "$cache/kmod-bench-build.log" || exit 1

    work=$(mktemp -d)
    [ "${X2M_VM_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
    # The guest script with its settings in front.
    {
        echo "BENCH_ROUNDS=$rounds"
        echo "BENCH_SIZES='$sizes'"
        echo "BENCH_VARIANTS='$variants'"
        echo "BENCH_SECONDS=120"
        echo "BENCH_DIAG=${VM_DIAG:-}"
        set -- $iterations
        echo "BENCH_SMALL_ITERS=$1 BENCH_MEDIUM_ITERS=$2 BENCH_LARGE_ITERS=$3 BENCH_HUGE_ITERS=$4"
        echo "BENCH_IFACE=eth0"
        cat "$src/util/bench/guest_runs.sh" "$src/util/bench/vm_guest.sh"
    } >"$work/guest.sh"
    X2M_VM_TESTS=$work/guest.sh "$vm/initramfs.sh" "$KROOT" "$KVER" "$kbuild/xen2mx.ko" "$work/initrd.cpio.gz" \
        "$pingpong" "$info" "$build/.libs/libxen2mx-fi.so" "$build/fabtests/tools/kmod_tool" || {
        echo "FAIL: cannot pack the initramfs"
        exit 1
    }
    if [ -z "${VM_PIN:-}" ]; then
        VM_PIN=0
        [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1 && VM_PIN=1
    fi
    [ "$VM_PIN" = 1 ] && export X2M_VM_CPU_A=0 X2M_VM_CPU_B=1
    export X2M_VM_VCPU_NICE=${VM_VCPU_NICE:-19} X2M_VM_NETDEV=${VM_NETDEV:-udp}
    echo "== module and initramfs ready ($(elapsed)); the guests run $rounds rounds of $(echo $sizes | wc -w) sizes x $(echo $variants | wc -w) variants"
    X2M_KMOD_LINK=1 "$vm/boot_pair.sh" "$KERNEL" "$work/initrd.cpio.gz" "$work" "$seconds" || exit 1
    echo "== guests done ($(elapsed))"

    for role in a b; do
        tr -d '\r' <"$work/$role.log" | grep -a '^BENCH-NOTE'
        grep -aq "^X2M-END role=$role" "$work/$role.log" || {
            tr -d '\r' <"$work/$role.log" | tail -n 30
            echo "FAIL: guest $role did not finish (time limit ${seconds}s, or it crashed; VM_SECONDS raises it)"
            exit 1
        }
    done
}

if [ -n "${VM_RESULTS:-}" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp "$VM_RESULTS" "$work/b.log" || exit 1
    rounds=$(tr -d '\r' <"$work/b.log" | grep -ac '^BENCH-NOTE \[b\] round')
else
    boot_guests
fi
tr -d '\r' <"$work/b.log" | awk '$1 == "BENCH" {print $2, $3, $4, $5}' >"$work/results"

results=$work/results
. "$src/util/bench/tables.sh"

echo
echo "fi_pingpong -e rdm between two QEMU guests (TCG, 1 vCPU each, virtio-net, frames in UDP datagrams),"
echo "server in guest a, client in guest b; median of $rounds rounds, variants alternated in each round."
echo "In brackets: the ratio to $baseline over the same virtual NIC ('-': every run failed)."
echo "Emulated CPUs make every figure slow; compare the ratios."
both_tables "$latency_sizes" "$bandwidth_sizes" "fi_pingpong usec/xfer"
[ -n "${VM_RESULTS:-}" ] || echo "== $(elapsed) in all"
exit 0
