#!/bin/bash
# The kernel-module test (CTest label vm): builds xen2mx.ko against Debian's
# linux-headers-6.1.*-amd64, boots Debian's matching kernel in two QEMU
# guests under software emulation, joined by a virtual Ethernet link, and
# runs tests/vm/guest/tests.sh in both. Judged by the PASS/FAIL lines the
# guests print; any FAIL, a guest that did not finish, or a kernel BUG/Oops/
# WARNING fails it. Skips (77) when it cannot run here.
# Environment: X2M_BUILD, X2M_SRC (CTest sets them), FI_PINGPONG, FI_INFO,
# X2M_VM_CACHE (default $X2M_BUILD/tests/vm/cache), X2M_VM_SECONDS (guest
# time limit, default 480), X2M_VM_KEEP=1 keeps the logs' directory.
set -u
src=${X2M_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${X2M_BUILD:-$src}
cache=${X2M_VM_CACHE:-$build/tests/vm/cache}
seconds=${X2M_VM_SECONDS:-480}
here=$src/tests/vm
start=$(date +%s)

skip() {
    echo "SKIP: $*"
    exit 77
}
elapsed() { echo "$(($(date +%s) - start)) s"; }

[ -z "${X2M_PRELOAD:-}" ] || skip "the provider is built with sanitizers, whose runtime the guests do not carry"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"

"$here/prepare.sh" "$cache"
rc=$?
[ $rc -eq 0 ] || exit $rc
. "$cache/kernel.env"
echo "== prepared ($(elapsed))"

# The module, built out of tree against the guests' kernel.
kbuild=$cache/$KVER/kmod
"$here/build_kmod.sh" "$src" "$HEADERS" "$kbuild" "$cache/kmod-build.log" || exit 1
echo "== xen2mx.ko built for $KVER ($(elapsed))"

programs=()
for p in "${FI_PINGPONG:-$(command -v fi_pingpong)}" "${FI_INFO:-$(command -v fi_info)}" \
    "$build/.libs/libxen2mx-fi.so" "$build/fabtests/tools/kmod_tool" "$build/fabtests/tools/idle_peer" \
    "$build/fabtests/unit/test_messaging" \
    "$build/fabtests/unit/test_rma" "$build/util/xen2mx_info" "${X2M_TC:-$(command -v tc)}" ${X2M_VM_EXTRA:-}; do
    [ -n "$p" ] && [ -x "$p" ] || [ -f "$p" ] || {
        echo "FAIL: $p is missing (make check builds the test programs; libfabric-bin has fi_pingpong, iproute2 tc)"
        exit 1
    }
    programs+=("$p")
done
"$here/initramfs.sh" "$KROOT" "$KVER" "$kbuild/xen2mx.ko" "$cache/initrd.cpio.gz" "${programs[@]}" || {
    echo "FAIL: cannot pack the initramfs"
    exit 1
}
echo "== initramfs $(du -h "$cache/initrd.cpio.gz" | cut -f1) ($(elapsed))"

# Whether the provider has a link over /dev/xen2mx to test in the guests.
export X2M_KMOD_LINK=0
[ -f "$src/prov/xen2mx/link/kmod_link.cpp" ] && X2M_KMOD_LINK=1
logs=$(mktemp -d)
[ "${X2M_VM_KEEP:-0}" = 1 ] || trap 'rm -rf "$logs"' EXIT
"$here/boot_pair.sh" "$KERNEL" "$cache/initrd.cpio.gz" "$logs" "$seconds" || exit 1
echo "== guests done ($(elapsed))"

failures=0
for role in a b; do
    echo "---- guest $role"
    tr -d '\r' <"$logs/$role.log" | grep -avE '^\s*$'
    grep -aq "^X2M-END role=$role" "$logs/$role.log" || {
        echo "FAIL: guest $role did not finish (time limit ${seconds}s, or it crashed)"
        failures=$((failures + 1))
    }
done
passed=$(cat "$logs"/a.log "$logs"/b.log | grep -ac '^PASS')
failed=$(cat "$logs"/a.log "$logs"/b.log | grep -ac '^FAIL')
failures=$((failures + failed))
echo "== $passed checks passed, $failed failed in the guests ($(elapsed); logs in $logs)"
[ $failures -eq 0 ] || exit 1
[ "$passed" -gt 0 ] || { echo "FAIL: no check ran"; exit 1; }
exit 0
