#!/bin/bash
# The Dom0 root filesystem: `debootstrap --variant=minbase bookworm` with
# Xen's toolstack (xen-utils-4.17, xenstore-utils), upgraded from
# bookworm-updates and bookworm-security so that the tools match the
# hypervisor prepare.sh downloaded. Kept under CACHE/xen/rootfs; rebuilt only
# when the hypervisor's version changes or the rootfs is missing.
#   rootfs.sh CACHE
# The mirrors are read from the machine's own apt configuration at run time.
# Exits 77 with the reason when it cannot, 1 on an unexpected failure.
set -u
cache=$1
dir=$cache/xen
. "$dir/xen.env"
root=$dir/rootfs
log=$dir/rootfs.log

skip() {
    echo "SKIP: $*"
    exit 77
}

[ -f "$root/.x2m-ready" ] && [ "$(cat "$root/.x2m-ready")" = "$XEN_VERSION" ] && exit 0
: >"$log"

# uri SUITE: the first archive URI the machine's apt sources give for SUITE
# (deb822 .sources files, then one-line .list files).
uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            function flush() { if (deb && hit && u != "" && !done) { print u; done = 1 } deb = 0; hit = 0; u = "" }
            /^[[:space:]]*$/ { flush(); next }
            /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
            /^Enabled:[[:space:]]*no/ { deb = 0 }
            END { flush() }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) print $i }'
}
mirror=$(uri bookworm | head -n 1)
security=$(uri bookworm-security | head -n 1)
[ -n "$mirror" ] || skip "the machine's apt sources name no bookworm mirror for debootstrap"
[ -n "$security" ] || security=${mirror%/debian}/debian-security

echo "debootstrap bookworm (from the machine's mirror) with xen-utils-4.17"
rm -rf "$root"
debootstrap --variant=minbase --include=xen-utils-4.17,xenstore-utils,kmod,iproute2,procps \
    bookworm "$root" "$mirror" >>"$log" 2>&1 ||
    skip "debootstrap failed (no network to the mirror?); see $log: $(tail -n 2 "$log" | tr '\n' ' ')"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
chroot "$root" apt-get update >>"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y --no-install-recommends dist-upgrade >>"$log" 2>&1 ||
    skip "the rootfs cannot be upgraded from bookworm-updates/bookworm-security; see $log"
tools=$(chroot "$root" dpkg-query -W -f '${Version}' xen-utils-4.17 2>/dev/null)
[ "$tools" = "$XEN_VERSION" ] || echo "note: xen-utils-4.17 $tools, hypervisor $XEN_VERSION"
# The machine's mirror stays out of the image; so do the package lists,
# caches and documentation.
rm -f "$root/etc/apt/sources.list"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
    "$root"/usr/share/info/* "$root"/var/cache/debconf/*-old
echo "$XEN_VERSION" >"$root/.x2m-ready"
du -sh "$root" | cut -f1
