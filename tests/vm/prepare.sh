#!/bin/bash
# Gets what the guests need, on Debian 12: QEMU, a static busybox, and a
# Debian kernel 6.1.0-N-amd64 whose headers are installed (to build the
# module) and whose image is unpacked under CACHE (never installed: the host
# does not run it). Installs with apt-get what is missing (root only).
#   prepare.sh CACHE
# Writes CACHE/kernel.env (KVER, HEADERS, KROOT, KERNEL) and exits 0; exits
# 77 with the reason when it cannot, 1 on an unexpected failure.
set -u
cache=$1
mkdir -p "$cache"
log=$cache/prepare.log
: >"$log"

skip() {
    echo "SKIP: $*"
    exit 77
}

have_static_busybox() {
    [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1
}

apt_install() {
    [ "$(id -u)" -eq 0 ] || skip "$* missing and installing it needs root (apt-get install $*)"
    command -v apt-get >/dev/null 2>&1 || skip "$* missing and there is no apt-get"
    echo "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1 && return 0
    # The lists may be stale or absent on a fresh machine.
    apt-get update >>"$log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1 ||
        skip "apt-get cannot install $* (see $log): $(tail -n 2 "$log" | tr '\n' ' ')"
}

missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
have_static_busybox || missing+=(busybox-static)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# The kernel: headers already installed first (newest first), then the
# newest one apt offers.
candidates=$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -rV)
if command -v apt-cache >/dev/null 2>&1; then
    offered=$(apt-cache search --names-only '^linux-headers-6\.1\.[0-9]+-[0-9]+-amd64$' 2>/dev/null |
        awk '{print $1}' | sed 's/^linux-headers-//' | sort -rV | head -n 1)
    if [ -z "$offered" ] && [ "$(id -u)" -eq 0 ]; then
        apt-get update >>"$log" 2>&1
        offered=$(apt-cache search --names-only '^linux-headers-6\.1\.[0-9]+-[0-9]+-amd64$' 2>/dev/null |
            awk '{print $1}' | sed 's/^linux-headers-//' | sort -rV | head -n 1)
    fi
    candidates="$candidates $offered"
fi
[ -n "${candidates// /}" ] || skip "no linux-headers-6.1.*-amd64 installed and apt offers none"

# unpack KVER: the kernel image of KVER under $cache/KVER/root, from apt.
unpack() {
    local kver=$1 dir=$cache/$1 pkg
    [ -f "$dir/root/boot/vmlinuz-$kver" ] && return 0
    command -v apt-get >/dev/null 2>&1 || return 1
    rm -rf "$dir" && mkdir -p "$dir/deb" || return 1
    for pkg in "linux-image-$kver-unsigned" "linux-image-$kver"; do
        (cd "$dir/deb" && apt-get download "$pkg" >>"$log" 2>&1) && break
    done
    ls "$dir"/deb/*.deb >/dev/null 2>&1 || return 1
    dpkg-deb -x "$dir"/deb/*.deb "$dir/root" >>"$log" 2>&1 || return 1
    rm -rf "$dir/deb"
    [ -f "$dir/root/boot/vmlinuz-$kver" ]
}

kver=""
for candidate in $candidates; do
    if unpack "$candidate"; then
        kver=$candidate
        break
    fi
done
[ -n "$kver" ] || skip "no kernel image matching the headers could be downloaded (apt-get download linux-image-...; see $log)"
headers=/usr/src/linux-headers-$kver
[ -d "$headers" ] || apt_install "linux-headers-$kver"
[ -f "$headers/Makefile" ] || skip "$headers is incomplete"
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || apt_install make gcc

kroot=$cache/$kver/root
# The module dependencies of the kernel's own tree (busybox's depmod: the
# host may have no kmod).
[ -f "$kroot/lib/modules/$kver/modules.dep" ] || busybox depmod -b "$kroot" "$kver" >>"$log" 2>&1 ||
    { echo "FAIL: depmod on $kroot"; exit 1; }

# An uncompressed vmlinux boots through PVH in about half the time of the
# bzImage under emulation; the bzImage is the fallback.
kernel=$kroot/boot/vmlinuz-$kver
if [ ! -f "$cache/$kver/vmlinux" ]; then
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel" 2>/dev/null | head -n 1 | cut -d: -f1)
    if [ -n "$offset" ] && command -v xz >/dev/null 2>&1; then
        tail -c +$((offset + 1)) "$kernel" | xz -dc >"$cache/$kver/vmlinux.tmp" 2>/dev/null
        if head -c 4 "$cache/$kver/vmlinux.tmp" | grep -q ELF; then
            mv "$cache/$kver/vmlinux.tmp" "$cache/$kver/vmlinux"
        else
            rm -f "$cache/$kver/vmlinux.tmp"
        fi
    fi
fi
[ -f "$cache/$kver/vmlinux" ] && kernel=$cache/$kver/vmlinux

cat >"$cache/kernel.env" <<ENV
KVER=$kver
HEADERS=$headers
KROOT=$kroot
KERNEL=$kernel
ENV
echo "kernel $kver ($(basename "$kernel")), headers $headers"
