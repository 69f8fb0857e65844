#!/bin/bash
# Packs the PV guests' initramfs (zstd: quick to inflate under emulation):
# the Debian userland of guest_rootfs.sh, guest/guest-init as /init,
# guest/driver.sh, the netfront module of the kernel (xen-netfront) and
# e1000 (the NIC of the two-host test's native machine, which boots the
# same image without Xen), the split driver's modules when given (KMOD_DIR
# holding xen2mx-front.ko, xen2mx.ko and what they need), and the programs
# of the build tree with every library ldd finds that the rootfs lacks.
# With X2M_XEN_BENCH naming a script, that script goes in as /x2m/bench.sh,
# which the driver then runs in place of the tests (util/bench/xen_compare.sh).
#   guest_initramfs.sh ROOTFS KROOT KVER OUT KMOD_DIR|- PROGRAM...
# A PROGRAM named *.so goes to /x2m/lib (the provider directory), anything
# else to /x2m/bin.
set -eu
rootfs=$1 kroot=$2 kver=$3 out=$4 kmod_dir=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cp -a "$rootfs/." "$stage/"
rm -f "$stage/.x2m-ready"
cp "$here/guest/guest-init" "$stage/init"
chmod 755 "$stage/init"
mkdir -p "$stage/x2m/bin" "$stage/x2m/lib"
cp "$here/guest/driver.sh" "$stage/x2m/"
[ -z "${X2M_XEN_BENCH:-}" ] || cp "$X2M_XEN_BENCH" "$stage/x2m/bench.sh"

moddir=$kroot/lib/modules/$kver
for name in xen-netfront e1000; do
    line=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$moddir/modules.dep" | head -n 1)
    [ -n "$line" ] || { echo "no $name in $moddir" >&2; exit 1; }
    for file in ${line%%:*} ${line#*:}; do
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$file")"
        cp "$moddir/$file" "$stage/lib/modules/$kver/$file"
    done
done
cp "$moddir"/modules.order "$moddir"/modules.builtin* "$stage/lib/modules/$kver/" 2>/dev/null || true
if [ "$kmod_dir" != - ]; then
    mkdir -p "$stage/lib/modules/$kver/extra"
    cp "$kmod_dir"/*.ko "$stage/lib/modules/$kver/extra/"
fi
chroot "$stage" depmod -a "$kver"

for program in "$@"; do
    case $program in
    *.so) cp "$program" "$stage/x2m/lib/" ;;
    *) cp "$program" "$stage/x2m/bin/" ;;
    esac
    for lib in $(ldd "$program" 2>/dev/null | grep -oE '/[^ ]+'); do
        [ -e "$stage$lib" ] && continue
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
done

(cd "$stage" && find . | cpio -o -H newc --quiet) | zstd -q -3 -T1 >"$out.tmp"
mv "$out.tmp" "$out"
