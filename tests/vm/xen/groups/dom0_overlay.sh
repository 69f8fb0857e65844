#!/bin/bash
# Packs what the multi-guest test adds to Dom0's initramfs (a second cpio
# archive appended to the one tests/vm/xen/dom0_initramfs.sh makes; the
# kernel unpacks both, the later one winning): guest/dom0-guests.sh as
# /x2m/dom0-tests.sh (Dom0's /init runs it), the guests' xl configuration,
# the bridge, xen-netback and e1000 (the two-host test's NIC) modules with
# their dependencies in load order,
# util/xen2mx-xl, and XEN2MX_INFO (util/xen2mx_info) with the libraries
# Dom0's rootfs (ROOTFS) lacks. The split driver's modules and
# xen2mx-attach/-detach are in the base archive. With X2M_XEN_BENCH set
# (the benchmark's guest script), Dom0 finds /x2m/groups/bench holding
# X2M_XEN_PIN (1 by default: pin g1's and g2's vCPUs to different
# processors).
#   dom0_overlay.sh ROOTFS KROOT KVER GUEST_SECONDS OUT.cpio XEN2MX_INFO
set -eu
rootfs=$1 kroot=$2 kver=$3 guest_seconds=$4 out=$5 info=$6
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/x2m/groups/modules"
cp "$here/guest/dom0-guests.sh" "$stage/x2m/dom0-tests.sh"
cp "$here/guest/guest.cfg" "$stage/x2m/groups/"
echo "$guest_seconds" >"$stage/x2m/groups/guest-seconds"
[ -z "${X2M_XEN_BENCH:-}" ] || echo "${X2M_XEN_PIN:-1}" >"$stage/x2m/groups/bench"
mkdir -p "$stage/usr/local/sbin" "$stage/usr/local/bin"
cp "$src/util/xen2mx-xl" "$stage/usr/local/sbin/"
cp "$info" "$stage/usr/local/bin/xen2mx_info"
for lib in $(ldd "$info" 2>/dev/null | grep -oE '/[^ ]+'); do
    [ -e "$rootfs$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
done

moddir=$kroot/lib/modules/$kver
order=$stage/x2m/groups/modules/order
: >"$order"
for name in bridge xen-netback e1000; do
    line=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$moddir/modules.dep" | head -n 1)
    [ -n "$line" ] || { echo "no module $name in $moddir" >&2; exit 1; }
    # modules.dep lists the dependencies of a module nearest first.
    for file in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
        [ -n "$file" ] || continue
        grep -qxF "$(basename "$file")" "$order" && continue
        cp "$moddir/$file" "$stage/x2m/groups/modules/"
        basename "$file" >>"$order"
    done
done

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
