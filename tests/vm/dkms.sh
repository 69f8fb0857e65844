#!/bin/bash
# The DKMS test (CTest label vm): kmod/ goes through `dkms add`, `dkms build`
# and `dkms install` as kmod/README.md tells a user to, inside a debootstrap
# chroot that has dkms and Debian's linux-headers-KVER installed (the host's
# kernel and /lib/modules are never touched); then xen2mx.ko must be in the
# chroot's /lib/modules/KVER/updates/dkms, built for KVER, known to depmod
# and to `dkms status`, and `dkms remove` must take it away again.
# Skips (77) when it cannot run here (not root, no debootstrap, no mirror).
# Environment: X2M_SRC (CTest sets it), X2M_VM_CACHE (default
# $X2M_BUILD/tests/vm/cache), X2M_DKMS_KVER (default: the newest
# linux-headers-6.1.*-amd64 installed on the host, else the newest apt offers).
set -u
src=${X2M_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${X2M_BUILD:-$src}
cache=${X2M_VM_CACHE:-$build/tests/vm/cache}
here=$src/tests/vm
start=$(date +%s)
failures=0

skip() {
    echo "SKIP: $*"
    exit 77
}
elapsed() { echo "$(($(date +%s) - start)) s"; }
pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not installed (apt-get install debootstrap)"
command -v chroot >/dev/null 2>&1 || skip "chroot not installed (coreutils)"

kver=${X2M_DKMS_KVER:-$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' |
    sort -rV | head -n 1)}
if [ -z "$kver" ] && command -v apt-cache >/dev/null 2>&1; then
    kver=$(apt-cache search --names-only '^linux-headers-6\.1\.[0-9]+-[0-9]+-amd64$' 2>/dev/null |
        awk '{print $1}' | sed 's/^linux-headers-//' | sort -rV | head -n 1)
fi
[ -n "$kver" ] || skip "no linux-headers-6.1.*-amd64 installed here and apt offers none"

"$here/dkms_rootfs.sh" "$cache" "$kver" || exit $?
root=$cache/dkms/rootfs
echo "== chroot with dkms and linux-headers-$kver ready ($(elapsed))"

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$src/kmod/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/kmod/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || { echo "FAIL: kmod/dkms.conf names no PACKAGE_NAME or PACKAGE_VERSION"; exit 1; }

# in_root COMMAND...: runs COMMAND in the chroot, with the /proc dkms reads.
in_root() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C "$@"
}
cleanup() {
    in_root dkms remove "$name/$version" --all >/dev/null 2>&1
    rm -rf "$root/usr/src/$name-$version" "$root/var/lib/dkms/$name" "$root/lib/modules/$kver/updates"
    umount "$root/proc" 2>/dev/null
}
mkdir -p "$root/proc"
mount -t proc proc "$root/proc" || skip "cannot mount /proc in the chroot"
trap cleanup EXIT
# What a previous run may have left.
in_root dkms remove "$name/$version" --all >/dev/null 2>&1
rm -rf "$root/usr/src/$name-$version" "$root/var/lib/dkms/$name" "$root/lib/modules/$kver/updates"

# As kmod/README.md says: the sources under /usr/src/NAME-VERSION.
cp -r "$src/kmod" "$root/usr/src/$name-$version"
rm -rf "$root/usr/src/$name-$version/build"
log=$cache/dkms/dkms.log
: >"$log"
step() {
    local what=$1
    shift
    if in_root "$@" >>"$log" 2>&1; then
        pass "$what"
        return 0
    fi
    fail "$what: $(tail -n 15 "$log" | tr '\n' ' ')"
    for f in "$root/var/lib/dkms/$name/$version/build/make.log"; do [ -f "$f" ] && tail -n 30 "$f"; done
    return 1
}
step "dkms add $name/$version" dkms add "$name/$version" &&
    step "dkms build $name/$version -k $kver" dkms build "$name/$version" -k "$kver" &&
    step "dkms install $name/$version -k $kver" dkms install "$name/$version" -k "$kver"
echo "== dkms add, build, install ($(elapsed))"

ko=$root/lib/modules/$kver/updates/dkms/$name.ko
if [ -f "$ko" ]; then
    pass "$name.ko installed in the chroot's /lib/modules/$kver/updates/dkms"
else
    fail "no $name.ko in the chroot's /lib/modules/$kver/updates/dkms: $(ls -R "$root/lib/modules/$kver/updates" 2>&1 | tr '\n' ' ')"
fi
magic=$(in_root modinfo -k "$kver" -F vermagic "$name" 2>&1)
file=$(in_root modinfo -k "$kver" -F filename "$name" 2>&1)
case "$magic" in
"$kver "*) pass "modinfo: built for $kver ($magic)" ;;
*) fail "modinfo -F vermagic: '$magic', expected $kver" ;;
esac
[ "$file" = "/lib/modules/$kver/updates/dkms/$name.ko" ] && pass "depmod finds it there ($file)" ||
    fail "modinfo -F filename: '$file'"
status=$(in_root dkms status "$name/$version" -k "$kver" 2>&1)
echo "$status" | grep -q "installed" && pass "dkms status: $status" || fail "dkms status: '$status'"
step "dkms remove $name/$version --all" dkms remove "$name/$version" --all
[ ! -e "$ko" ] && pass "dkms remove took $name.ko away" || fail "$ko still there after dkms remove"

echo "== $failures failed ($(elapsed); the host's /lib/modules untouched: built in $root)"
[ $failures -eq 0 ]
