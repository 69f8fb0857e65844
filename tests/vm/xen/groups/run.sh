#!/bin/bash
# The multi-guest Xen test (CTest xen.guests, label xen): one Xen 4.17 host
# under QEMU's software emulation, Dom0 with the toolstack and a bridge,
# two PV guests with a Debian userland (libfabric, Open MPI, OpenSSH) and a
# netfront each on that bridge. xen2mx runs over the split driver: Dom0
# loads xen2mx.ko with a board on the bridge and xen2mx-back.ko, creates
# each guest with util/xen2mx-xl (its config asks for a xen2mx device), and
# the guests load xen2mx-front.ko and use the provider's kmod link on their
# /dev/xen2mx. Between the guests: fi_pingpong -p xen2mx -e rdm -S all -c
# and the messaging suite (group 1), Open MPI jobs of 2 and 4 ranks launched
# over ssh (group 3); Dom0 lists the guests' endpoints with xen2mx_info and
# counts its grant mappings back to 0 once the guests are gone. Judged by
# the PASS/FAIL lines of Dom0 and of the guests (relayed by Dom0 as "g1| ",
# "g2| "); a machine or guest that does not finish fails it. Skips (77)
# when it cannot run here.
# `run.sh hosts` is the two-host test (CTest xen.hosts): two such Xen hosts
# with one guest each, g1 on host a and g2 on host b, and a plain machine
# n1 booting the guests' image on Debian's kernel with the native
# xen2mx.ko, the three joined by one wire (udp_switch.py, an Ethernet switch
# on the loopback for their QEMUs' udp netdevs); each Dom0's NIC is in its
# bridge. Between g1 and g2 (frames through both Dom0 backends and the
# wire) and between g1 and n1: fi_pingpong -p xen2mx -e rdm -c, zero-copy
# and -S all, either end as server (group 2); Open MPI jobs of 2 and 4
# ranks across g1 and g2 (group 3). Judged by the lines of both Dom0s
# (each relaying its guest) and of n1.
# Environment: X2M_BUILD, X2M_SRC, FI_PINGPONG, FI_INFO (CTest sets them),
# X2M_VM_CACHE (default $X2M_BUILD/tests/vm/cache), X2M_XEN_SECONDS (the
# machine's time limit, 1200), X2M_XEN_MEMORY (the machine's MiB, 2560; 2048
# for each host of the two-host test), X2M_XEN_SMP (its processors, 2),
# X2M_VM_KEEP=1 keeps the log, X2M_XEN_BENCH=SCRIPT (one host only: g1 runs
# SCRIPT in place of the tests, util/bench/xen_compare.sh) with
# X2M_XEN_PIN=0|1 (Dom0 pins the guests' vCPUs to different processors, 1).
set -u
scenario=${1:-guests}
case $scenario in
guests | hosts) ;;
*) echo "usage: $0 [guests|hosts]" >&2; exit 2 ;;
esac
src=${X2M_SRC:-$(cd "$(dirname "$0")/../../../.." && pwd)}
build=${X2M_BUILD:-$src}
cache=${X2M_VM_CACHE:-$build/tests/vm/cache}
seconds=${X2M_XEN_SECONDS:-1200}
xen_dir=$src/tests/vm/xen
here=$xen_dir/groups
start=$(date +%s)

skip() {
    echo "SKIP: $*"
    exit 77
}
elapsed() { echo "$(($(date +%s) - start)) s"; }

[ -z "${X2M_PRELOAD:-}" ] || skip "the provider is built with sanitizers, whose runtime the guests do not carry"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap of the Dom0 and guest root filesystems, apt-get of Xen and QEMU)"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"
if [ "$scenario" = hosts ] && ! command -v python3 >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 >/dev/null 2>&1 ||
        skip "python3 (the switch joining the machines) is missing and apt-get cannot install it"
fi
command -v zstd >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zstd >/dev/null 2>&1 ||
        skip "zstd is missing and apt-get cannot install it"
}

"$xen_dir/prepare.sh" "$cache" || exit $?
. "$cache/kernel.env"
. "$cache/xen/xen.env"
echo "== prepared ($(elapsed))"
"$xen_dir/rootfs.sh" "$cache" || exit $?
echo "== Dom0 rootfs ready ($(elapsed))"
"$here/guest_rootfs.sh" "$cache" || exit $?
echo "== guest rootfs ready ($(elapsed))"

# The split driver, built for the guests' kernel.
kbuild=$cache/$KVER/kmod-xen-guests
"$src/tests/vm/build_kmod.sh" "$src" "$HEADERS" "$kbuild" "$cache/kmod-xen-guests-build.log" || exit 1
echo "== xen2mx.ko, xen2mx-back.ko, xen2mx-front.ko built for $KVER ($(elapsed))"

programs=()
for p in "${FI_PINGPONG:-$(command -v fi_pingpong)}" "${FI_INFO:-$(command -v fi_info)}" \
    "$build/.libs/libxen2mx-fi.so" "$build/fabtests/unit/test_messaging" "$build/fabtests/tools/kmod_tool" \
    "$src/util/xen2mx-mpirun" "$build/fabtests/mpi/mpi_p2p" "$build/fabtests/mpi/mpi_coll"; do
    [ -n "$p" ] && [ -f "$p" ] || {
        echo "FAIL: $p is missing (make check builds the test programs, libopenmpi-dev the MPI ones; libfabric-bin has fi_pingpong)"
        exit 1
    }
    programs+=("$p")
done
info=$build/util/xen2mx_info
[ -x "$info" ] || { echo "FAIL: $info is missing (make builds it)"; exit 1; }
"$here/guest_initramfs.sh" "$cache/xen/guest-rootfs" "$KROOT" "$KVER" "$cache/xen/guests.cpio.zst" "$kbuild" "${programs[@]}" ||
    { echo "FAIL: cannot pack the guests' initramfs"; exit 1; }
"$xen_dir/dom0_initramfs.sh" "$cache/xen/rootfs" "$KROOT" "$KVER" "$cache/xen/guests.cpio.zst" "$cache/xen/dom0-guests.cpio" \
    "$kbuild/xen2mx.ko" "$kbuild/xen2mx-back.ko" "$build/fabtests/tools/kmod_tool" ||
    { echo "FAIL: cannot pack Dom0's initramfs"; exit 1; }
"$here/dom0_overlay.sh" "$cache/xen/rootfs" "$KROOT" "$KVER" "$((seconds - 120))" "$cache/xen/dom0-guests.overlay.cpio" "$info" ||
    { echo "FAIL: cannot pack Dom0's additions"; exit 1; }
cat "$cache/xen/dom0-guests.overlay.cpio" >>"$cache/xen/dom0-guests.cpio"
echo "== initramfs: Dom0 $(du -h "$cache/xen/dom0-guests.cpio" | cut -f1), guests $(du -h "$cache/xen/guests.cpio.zst" | cut -f1) ($(elapsed))"

logs=$(mktemp -d)
[ "${X2M_VM_KEEP:-0}" = 1 ] || trap 'rm -rf "$logs"' EXIT
# A CPU model without AVX and XSAVE: with -cpu max the guests' and Dom0's
# programs (sshd, xl, fi_pingpong's data checks) were seen to crash or
# compute wrong results, and merely masking AVX out of max left glibc with
# inconsistent CPU features.
export X2M_XEN_CPU=${X2M_XEN_CPU:-Nehalem} X2M_XEN_SMP=${X2M_XEN_SMP:-2}

# The one-host test. Dom0 keeps the xenbus test's 1 GiB: it holds its 220
# MB image (rootfs and guest image) twice while unpacking it (768 MiB is too
# little). The guests get 512 MiB each out of the rest. Two processors let
# Xen run the two guests side by side.
boot_one() {
    X2M_XEN_MEMORY=${X2M_XEN_MEMORY:-2560} "$xen_dir/boot.sh" "$XEN" "$KROOT/boot/vmlinuz-$KVER" \
        "$cache/xen/dom0-guests.cpio" "$logs/host.log" "$seconds"
    echo "== Xen host done ($(elapsed))"
}

# The two-host test: the switch, then the three machines, each QEMU's udp
# netdev sending to the switch from a port of its own. Both hosts boot the
# same Dom0 image, told apart by their command line; Dom0 1 GiB and one
# guest of 512 MiB in 2 GiB each; n1 the guests' image in 1 GiB.
boot_hosts() {
    local base switch machine pids=() nic
    base=$((20000 + RANDOM % 30000))
    python3 "$here/udp_switch.py" $base $((base + 1)) $((base + 2)) $((base + 3)) >"$logs/switch.log" 2>&1 &
    switch=$!
    sleep 1
    kill -0 $switch 2>/dev/null || { echo "FAIL: the switch did not start: $(cat "$logs/switch.log")"; return 1; }
    nic() { echo "-netdev socket,id=n0,udp=127.0.0.1:$base,localaddr=127.0.0.1:$1 -device e1000,netdev=n0,mac=$2"; }
    for machine in a b; do
        if [ $machine = a ]; then nic=$(nic $((base + 1)) 52:54:00:58:32:a1); else nic=$(nic $((base + 2)) 52:54:00:58:32:b1); fi
        X2M_XEN_MEMORY=${X2M_XEN_MEMORY:-2048} X2M_DOM0_APPEND="x2m.scenario=hosts x2m.host=$machine" X2M_XEN_NET=$nic \
            "$xen_dir/boot.sh" "$XEN" "$KROOT/boot/vmlinuz-$KVER" "$cache/xen/dom0-guests.cpio" "$logs/host-$machine.log" \
            "$seconds" >"$logs/boot-$machine.out" 2>&1 &
        pids+=($!)
    done
    : >"$logs/native.log"
    timeout -k 10 "$seconds" qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nodefaults -display none -no-reboot \
        -serial "file:$logs/native.log" -kernel "$KERNEL" -initrd "$cache/xen/guests.cpio.zst" \
        -append "console=ttyS0 panic=-1 quiet x2m.role=n1 x2m.ip=10.86.225.3 x2m.subnet=10.86.225 x2m.scenario=hosts x2m.native=1" \
        $(nic $((base + 3)) 52:54:00:58:32:c1) >"$logs/native.qemu" 2>&1 &
    pids+=($!)
    wait "${pids[@]}"
    kill $switch 2>/dev/null
    wait $switch 2>/dev/null
    cat "$logs"/boot-*.out
    echo "== Xen hosts and native machine done ($(elapsed))"
}

failures=0
# finished LOG MARK WHAT: LOG holds the line MARK, or WHAT did not finish.
finished() {
    grep -aqE "$2" "$1" || {
        echo "FAIL: $3 did not finish (time limit ${seconds}s, or it crashed)"
        failures=$((failures + 1))
    }
}
if [ "$scenario" = hosts ]; then
    boot_hosts || exit 1
    for log in host-a host-b native; do
        echo "---- $log"
        tr -d '\r' <"$logs/$log.log" | grep -avE '^\s*$'
    done
    finished "$logs/host-a.log" '^X2M-END role=dom0' "host a's Dom0"
    finished "$logs/host-b.log" '^X2M-END role=dom0' "host b's Dom0"
    finished "$logs/host-a.log" '^g1\| X2M-GUEST-END' "guest g1 (host a)"
    finished "$logs/host-b.log" '^g2\| X2M-GUEST-END' "guest g2 (host b)"
    finished "$logs/native.log" '^X2M-GUEST-END' "the native machine n1"
    lines=$(cat "$logs/host-a.log" "$logs/host-b.log" "$logs/native.log" | tr -d '\r')
else
    boot_one
    tr -d '\r' <"$logs/host.log" | grep -avE '^\s*$'
    finished "$logs/host.log" '^X2M-END role=dom0' "Dom0"
    finished "$logs/host.log" '^g1\| X2M-GUEST-END' "guest g1"
    finished "$logs/host.log" '^g2\| X2M-GUEST-END' "guest g2"
    lines=$(tr -d '\r' <"$logs/host.log")
fi
ran=$(echo "$lines" | grep -aoE '^g1\| LINK: [a-z]+' | awk '{print $3}')
[ "$ran" = kmod ] || { echo "FAIL: the guests did not say they ran the kmod link (${ran:-no LINK line})"; failures=$((failures + 1)); }
passed=$(echo "$lines" | grep -acE '^((g1|g2)\| )?PASS')
failed=$(echo "$lines" | grep -acE '^((g1|g2)\| )?FAIL')
failures=$((failures + failed))
echo "== link: ${ran:-none}; $passed checks passed, $failed failed ($(elapsed); log in $logs)"
[ $failures -eq 0 ]
