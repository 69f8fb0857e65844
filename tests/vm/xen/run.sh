#!/bin/bash
# The Xen test (CTest label xen): Xen 4.17 from Debian booted under QEMU's
# software emulation with Debian's kernel as PV Dom0 running the toolstack
# from a debootstrap rootfs. Dom0 loads xen2mx.ko (a board on a dummy
# interface) and xen2mx-back.ko, creates a PV guest with `xl create` that
# loads xen2mx-front.ko, and gives it a xen2mx device with
# util/xen2mx-attach: both ends connect, the guest runs kmod_tool against
# its /dev/xen2mx (frames go guest -> Dom0 -> guest), the backend restarts
# under it, the device is detached and attached again, and the guest is
# destroyed with endpoints open; Dom0's grant mappings are counted back to 0
# each time. Judged by the PASS/FAIL lines printed in Dom0 and
# in the guest (relayed by Dom0 with a "domU| " prefix); any FAIL, a machine
# that did not finish, or no guest line fails it. Skips (77) when it cannot
# run here (not root, no apt, no network to the mirror).
#   run.sh [xenbus|faults]
# faults (CTest xen.faults): two guests, one of them running the hostile
# test frontend (kmod/test) against the backend, destroyed mid-transfer,
# the backend restarted under the other (guest/fault-dom0-tests.sh).
# Environment: X2M_BUILD, X2M_SRC (CTest sets them), X2M_VM_CACHE (default
# $X2M_BUILD/tests/vm/cache), X2M_XEN_SECONDS (machine time limit, default
# 600), X2M_VM_KEEP=1 keeps the log.
set -u
src=${X2M_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
build=${X2M_BUILD:-$src}
cache=${X2M_VM_CACHE:-$build/tests/vm/cache}
seconds=${X2M_XEN_SECONDS:-600}
here=$src/tests/vm/xen
scenario=${1:-xenbus}
start=$(date +%s)

skip() {
    echo "SKIP: $*"
    exit 77
}
elapsed() { echo "$(($(date +%s) - start)) s"; }

case $scenario in
xenbus | faults) ;;
*) echo "usage: run.sh [xenbus|faults]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap of the Dom0 rootfs, apt-get of Xen and QEMU)"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"

"$here/prepare.sh" "$cache" || exit $?
. "$cache/kernel.env"
. "$cache/xen/xen.env"
echo "== prepared ($(elapsed))"
"$here/rootfs.sh" "$cache" || exit $?
echo "== Dom0 rootfs ready ($(elapsed))"

# The modules, built out of tree against the guests' kernel.
kbuild=$cache/$KVER/kmod-xen
extra=()
[ "$scenario" = faults ] && extra=(test)
"$src/tests/vm/build_kmod.sh" "$src" "$HEADERS" "$kbuild" "$cache/kmod-xen-build.log" "${extra[@]}" || exit 1
kmod_tool=$build/fabtests/tools/kmod_tool
[ -x "$kmod_tool" ] || { echo "FAIL: $kmod_tool is missing (make check builds it)"; exit 1; }
echo "== xen2mx.ko, xen2mx-back.ko, xen2mx-front.ko built for $KVER ($(elapsed))"

if [ "$scenario" = faults ]; then
    domu_pack=("$here/guest/fault-domu-init" "$kbuild/test/xen2mx-front-hostile.ko")
    dom0_tests=$here/guest/fault-dom0-tests.sh
else
    domu_pack=()
    dom0_tests=$here/guest/dom0-tests.sh
fi
"$here/domu_initramfs.sh" "$cache/xen/domu-$scenario.cpio.gz" "$kbuild/xen2mx-front.ko" "$kmod_tool" "${domu_pack[@]}" ||
    { echo "FAIL: cannot pack the guest's initramfs"; exit 1; }
"$here/dom0_initramfs.sh" "$cache/xen/rootfs" "$KROOT" "$KVER" "$cache/xen/domu-$scenario.cpio.gz" \
    "$cache/xen/dom0-$scenario.cpio" "$kbuild/xen2mx.ko" "$kbuild/xen2mx-back.ko" "$kmod_tool" "$dom0_tests" ||
    { echo "FAIL: cannot pack Dom0's initramfs"; exit 1; }
echo "== initramfs ($scenario): Dom0 $(du -h "$cache/xen/dom0-$scenario.cpio" | cut -f1), guest $(du -h "$cache/xen/domu-$scenario.cpio.gz" | cut -f1) ($(elapsed))"

# One boot of the Xen host, judged; 0 when every check passed.
judge_boot() {
    local log=$1 failures=0 lines passed failed guest_passed
    # Dom0 boots the bzImage: Xen's PV loader takes it.
    "$here/boot.sh" "$XEN" "$KROOT/boot/vmlinuz-$KVER" "$cache/xen/dom0-$scenario.cpio" "$log" "$seconds"
    echo "== Xen host done ($(elapsed))"
    tr -d '\r' <"$log" | grep -avE '^\s*$'
    grep -aq '^X2M-END role=dom0' "$log" || {
        echo "FAIL: Dom0 did not finish (time limit ${seconds}s, or it crashed)"
        failures=$((failures + 1))
    }
    lines=$(tr -d '\r' <"$log")
    passed=$(echo "$lines" | grep -acE '^(domU\| )?PASS')
    failed=$(echo "$lines" | grep -acE '^(domU\| )?FAIL')
    guest_passed=$(echo "$lines" | grep -acE '^domU\| PASS')
    failures=$((failures + failed))
    echo "== $passed checks passed ($guest_passed in the guest), $failed failed ($(elapsed); log in $logs)"
    [ "$guest_passed" -gt 0 ] || { echo "FAIL: no check ran in the guest"; return 1; }
    [ $failures -eq 0 ]
}

logs=$(mktemp -d)
[ "${X2M_VM_KEEP:-0}" = 1 ] || trap 'rm -rf "$logs"' EXIT
judge_boot "$logs/host.log" && exit 0
# Debian's own tools have been seen to crash inside Dom0 under software
# emulation (xenstore-write, once in four runs, in libc, with nothing of
# ours running; none since Xen runs with spec-ctrl=eager-fpu): such a run
# boots again once, and only a second failure counts. Any other failure
# counts at once, and so does a crash of one of the project's programs.
crashes=$(tr -d '\r' <"$logs/host.log" | grep -aoE '[[:alnum:]_.-]+\[[0-9]+\]: segfault at')
[ -n "$crashes" ] || exit 1
if echo "$crashes" | grep -qE '^(xen2mx|kmod_tool|fi_|test_|mpi_)'; then
    echo "FAIL: one of the project's programs crashed in Dom0: $(echo $crashes)"
    exit 1
fi
echo "== a program crashed in Dom0 under emulation (above); the machine boots once more"
judge_boot "$logs/host.again.log" || exit 1
exit 0
