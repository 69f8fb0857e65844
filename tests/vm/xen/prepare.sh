#!/bin/bash
# Gets what the Xen tests need besides the kernel (tests/vm/prepare.sh does
# that one): QEMU, debootstrap, and the Xen 4.17 hypervisor from Debian,
# downloaded with `apt-get download` and unpacked under CACHE/xen (never
# installed on the host), its multiboot image gunzipped.
#   prepare.sh CACHE
# Writes CACHE/xen/xen.env (XEN, XEN_VERSION) and exits 0; exits 77 with the
# reason when it cannot, 1 on an unexpected failure.
set -u
cache=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$cache/xen
mkdir -p "$dir"
log=$dir/prepare.log
: >"$log"

skip() {
    echo "SKIP: $*"
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "the Dom0 rootfs is made by debootstrap, which needs root"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get: the Xen tests take Xen and its toolstack from Debian 12"

# The kernel (shared with the vm tests).
"$here/../prepare.sh" "$cache"
rc=$?
[ $rc -eq 0 ] || exit $rc

missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
if [ ${#missing[@]} -gt 0 ]; then
    echo "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
        apt-get update >>"$log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
            skip "apt-get cannot install ${missing[*]} (see $log): $(tail -n 2 "$log" | tr '\n' ' ')"
    }
fi

# The hypervisor: the version apt offers now (security updates included), so
# that it matches the toolstack the rootfs gets.
version=$(apt-cache policy xen-hypervisor-4.17-amd64 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    apt-get update >>"$log" 2>&1
    version=$(apt-cache policy xen-hypervisor-4.17-amd64 2>/dev/null | awk '/Candidate:/ {print $2}')
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || skip "apt offers no xen-hypervisor-4.17-amd64 (not Debian 12, or no network)"

if [ ! -f "$dir/hypervisor-$version/xen" ]; then
    rm -rf "$dir"/hypervisor-* && mkdir -p "$dir/hypervisor-$version/deb" || exit 1
    (cd "$dir/hypervisor-$version/deb" && apt-get download "xen-hypervisor-4.17-amd64=$version" >>"$log" 2>&1) ||
        skip "apt-get download xen-hypervisor-4.17-amd64 failed (see $log)"
    dpkg-deb -x "$dir/hypervisor-$version"/deb/*.deb "$dir/hypervisor-$version/root" >>"$log" 2>&1 || exit 1
    image=$(ls "$dir/hypervisor-$version"/root/boot/xen-4.17*-amd64.gz 2>/dev/null | head -n 1)
    [ -n "$image" ] || { echo "FAIL: no xen-4.17*-amd64.gz in xen-hypervisor-4.17-amd64"; exit 1; }
    gzip -dc "$image" >"$dir/hypervisor-$version/xen.tmp" && mv "$dir/hypervisor-$version/xen.tmp" "$dir/hypervisor-$version/xen" || exit 1
    rm -rf "$dir/hypervisor-$version/deb" "$dir/hypervisor-$version/root"
fi

cat >"$dir/xen.env" <<ENV
XEN=$dir/hypervisor-$version/xen
XEN_VERSION=$version
ENV
echo "xen $version"
