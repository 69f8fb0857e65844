#!/bin/bash
# Packs what the multi-guest test adds to Dom0's initramfs (a second cpio
# archive appended to the one tests/vm/xen/dom0_initramfs.sh makes; the
# kernel unpacks both, the later one winning): guest/dom0-guests.sh as
# /x2m/dom0-tests.sh (Dom0's /init runs it), the guests' xl configuration,
# the bridge and xen-netback modules with their dependencies in load order,
# and the split driver's Dom0 modules when given (KMOD_DIR holding xen2mx.ko
# and xen2mx-back.ko).
#   dom0_overlay.sh KROOT KVER GUEST_SECONDS OUT.cpio KMOD_DIR|-
set -eu
kroot=$1 kver=$2 guest_seconds=$3 out=$4 kmod_dir=$5
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/x2m/groups/modules"
cp "$here/guest/dom0-guests.sh" "$stage/x2m/dom0-tests.sh"
cp "$here/guest/guest.cfg" "$stage/x2m/groups/"
echo "$guest_seconds" >"$stage/x2m/groups/guest-seconds"

moddir=$kroot/lib/modules/$kver
order=$stage/x2m/groups/modules/order
: >"$order"
for name in bridge xen-netback; do
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
if [ "$kmod_dir" != - ]; then
    mkdir -p "$stage/x2m/groups/kmod"
    cp "$kmod_dir/xen2mx.ko" "$kmod_dir/xen2mx-back.ko" "$stage/x2m/groups/kmod/"
fi

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
