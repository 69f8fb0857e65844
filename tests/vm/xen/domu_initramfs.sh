#!/bin/bash
# Packs the PV guest's initramfs: a static busybox, INIT (default
# guest/domu-init) as /init, xen2mx-front.ko and any more modules given, and
# kmod_tool with every shared library ldd finds for it (the guest's xenbus
# and console drivers are built into Debian's kernel).
#   domu_initramfs.sh OUT.cpio.gz XEN2MX_FRONT_KO KMOD_TOOL [INIT [MODULE.ko...]]
set -eu
out=$1 front=$2 tool=$3
here=$(cd "$(dirname "$0")" && pwd)
init=${4:-$here/guest/domu-init}
shift 3
[ $# -gt 0 ] && shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp,x2m}
cp /bin/busybox "$stage/bin/busybox"
cp "$init" "$stage/init"
chmod 755 "$stage/init"
cp "$front" "$stage/x2m/xen2mx-front.ko"
for module in "$@"; do cp "$module" "$stage/x2m/"; done
cp "$tool" "$stage/x2m/kmod_tool"
for lib in $(ldd "$tool" 2>/dev/null | grep -oE '/[^ ]+'); do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
done
printf 'root:x:0:0:root:/:/bin/sh\nx2m:x:1000:1000:unprivileged tests:/tmp:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\nx2m:x:1000:\n' >"$stage/etc/group"
(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
