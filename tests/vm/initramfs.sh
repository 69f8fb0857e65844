#!/bin/bash
# Packs the guests' initramfs: a static busybox, the kernel modules the
# virtual NIC needs, xen2mx.ko, the guest scripts (X2M_VM_TESTS or
# guest/tests.sh as /x2m/tests.sh, with guest/barrier.sh, which it
# sources), and programs with every shared library ldd finds for them
# (libfabric, the provider from the build tree, Debian's fi_pingpong and
# fi_info, iproute2's tc, xen2mx_info, the project's test programs).
#   initramfs.sh KROOT KVER XEN2MX_KO OUT.cpio.gz PROGRAM...
# A PROGRAM named *.so goes to /x2m/lib (the provider directory), anything
# else to /x2m/bin.
set -eu
kroot=$1 kver=$2 module=$3 out=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

chmod 755 "$stage"
mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp,run,root,home/x2m,x2m/bin,x2m/lib,lib/modules/"$kver"}
cp /bin/busybox "$stage/bin/busybox"
cp "$here/guest/init" "$stage/init"
cp "${X2M_VM_TESTS:-$here/guest/tests.sh}" "$stage/x2m/tests.sh"
cp "$here/guest/barrier.sh" "$stage/x2m/barrier.sh"
chmod 755 "$stage/init"
cat >"$stage/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
x2m:x:1000:1000:unprivileged tests:/home/x2m:/bin/sh
P
cat >"$stage/etc/group" <<'G'
root:x:0:
x2m:x:1000:
G
echo "127.0.0.1 localhost" >"$stage/etc/hosts"
chown 1000:1000 "$stage/home/x2m"

# The virtual NIC's driver and what it depends on, in load order.
moddir=$kroot/lib/modules/$kver
: >"$stage/etc/modules"
add_module() {
    local name=$1 line dep
    line=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$moddir/modules.dep" | head -n 1)
    [ -n "$line" ] || { echo "no module $name in $moddir" >&2; exit 1; }
    for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
        [ -n "$dep" ] || continue
        grep -qxF "/lib/modules/$kver/$dep" "$stage/etc/modules" && continue
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$dep")"
        cp "$moddir/$dep" "$stage/lib/modules/$kver/$dep"
        echo "/lib/modules/$kver/$dep" >>"$stage/etc/modules"
    done
}
add_module virtio_pci
add_module virtio_net
add_module e1000
# netem holds frames in eth0's qdisc (pages of zero-copy sends still lent).
add_module sch_netem
cp "$module" "$stage/lib/modules/$kver/xen2mx.ko"

copy_libs() {
    local lib
    for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+'); do
        [ -e "$stage$lib" ] && continue
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
}
for program in "$@"; do
    case $program in
    *.so) cp "$program" "$stage/x2m/lib/" ;;
    *) cp "$program" "$stage/x2m/bin/" ;;
    esac
    copy_libs "$program"
done
# What the programs load at run time besides: the resolver's host file
# lookups (fi_pingpong resolves its addresses).
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2; do
    [ -e "$lib" ] && { mkdir -p "$stage$(dirname "$lib")"; cp -L "$lib" "$stage$lib"; }
done
echo "hosts: files" >"$stage/etc/nsswitch.conf"

(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
