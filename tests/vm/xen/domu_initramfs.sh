#!/bin/bash
# Packs the PV guest's initramfs: a static busybox and guest/domu-init as
# /init (the guest's xenbus frontend and console drivers are built into
# Debian's kernel: no module needed).
#   domu_initramfs.sh OUT.cpio.gz
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,tmp}
cp /bin/busybox "$stage/bin/busybox"
cp "$here/guest/domu-init" "$stage/init"
chmod 755 "$stage/init"
(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
