#!/bin/bash
# Packs Dom0's initramfs (uncompressed cpio: nothing to inflate under
# emulation): the Debian rootfs with the toolstack (rootfs.sh), the Xen
# device modules of the kernel and their dependencies, guest/dom0-init as
# /init, guest/dom0-tests.sh, util/xen2mx-attach and xen2mx-detach,
# xen2mx.ko, xen2mx-back.ko and kmod_tool (with the libraries the rootfs
# lacks), and the PV guest: Debian's kernel, its initramfs and its xl
# configuration. TESTS (default guest/dom0-tests.sh) is the script /init
# runs, packed as /x2m/dom0-tests.sh, with guest/dom0-lib.sh beside it.
#   dom0_initramfs.sh ROOTFS KROOT KVER DOMU_INITRD OUT.cpio XEN2MX_KO XEN2MX_BACK_KO KMOD_TOOL [TESTS]
set -eu
rootfs=$1 kroot=$2 kver=$3 domu_initrd=$4 out=$5 native=$6 back=$7 tool=$8
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
tests=${9:-$here/guest/dom0-tests.sh}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cp -a "$rootfs/." "$stage/"
rm -f "$stage/.x2m-ready"

moddir=$kroot/lib/modules/$kver
modules="xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd dummy sch_netem"
for name in $modules; do
    line=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$moddir/modules.dep" | head -n 1)
    [ -n "$line" ] || { echo "no module $name in $moddir" >&2; exit 1; }
    for file in ${line%%:*} ${line#*:}; do
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$file")"
        cp "$moddir/$file" "$stage/lib/modules/$kver/$file"
    done
done
cp "$moddir"/modules.order "$moddir"/modules.builtin* "$stage/lib/modules/$kver/" 2>/dev/null || true
chroot "$stage" depmod -a "$kver"
echo "$modules" >"$stage/etc/x2m-modules"

cp "$here/guest/dom0-init" "$stage/init"
chmod 755 "$stage/init"
mkdir -p "$stage/x2m/domu" "$stage/usr/local/sbin"
cp "$here/guest/dom0-lib.sh" "$here/guest/domu.cfg" "$stage/x2m/"
cp "$tests" "$stage/x2m/dom0-tests.sh"
cp "$src/util/xen2mx-attach" "$src/util/xen2mx-detach" "$stage/usr/local/sbin/"
cp "$native" "$back" "$stage/x2m/"
cp "$tool" "$stage/usr/local/bin/kmod_tool"
for lib in $(ldd "$tool" 2>/dev/null | grep -oE '/[^ ]+'); do
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
done
cp "$kroot/boot/vmlinuz-$kver" "$stage/x2m/domu/vmlinuz"
cp "$domu_initrd" "$stage/x2m/domu/initrd.cpio.gz"

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
