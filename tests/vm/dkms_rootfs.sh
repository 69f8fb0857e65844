#!/bin/bash
# A Debian 12 root filesystem for the DKMS test: `debootstrap
# --variant=minbase bookworm`, then dkms and linux-headers-KVER installed
# inside it with apt-get, so that DKMS runs as it would on an installed
# system without touching the host's kernel or /lib/modules. Kept under
# CACHE/dkms/rootfs; rebuilt only when KVER changes or it is missing.
#   dkms_rootfs.sh CACHE KVER
# The mirror is read from the machine's own apt configuration at run time and
# removed from the image afterwards. Exits 77 with the reason when it cannot,
# 1 on an unexpected failure.
set -u
cache=$1 kver=$2
dir=$cache/dkms
root=$dir/rootfs
log=$dir/rootfs.log

skip() {
    echo "SKIP: $*"
    exit 77
}

[ -f "$root/.x2m-ready" ] && [ "$(cat "$root/.x2m-ready")" = "$kver" ] && exit 0
mkdir -p "$dir"
: >"$log"

# The first bookworm archive the machine's apt sources name (deb822 files
# first, then one-line lists).
mirror=$(
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^[[:space:]]*$/ { if (ok && u) print u; ok = 0; u = "" }
             /^URIs:/ { u = $2 }
             /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1 }
             END { if (ok && u) print u }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == "bookworm") print $i }'
)
mirror=$(echo "$mirror" | head -n 1)
[ -n "$mirror" ] || skip "the machine's apt sources name no bookworm mirror for debootstrap"

echo "debootstrap bookworm, then dkms and linux-headers-$kver inside it"
rm -rf "$root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >>"$log" 2>&1 ||
    skip "debootstrap failed (no network to the mirror?); see $log: $(tail -n 2 "$log" | tr '\n' ' ')"
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
chroot "$root" apt-get update >>"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y --no-install-recommends install \
        dkms "linux-headers-$kver" kmod >>"$log" 2>&1 ||
    skip "apt-get in the chroot cannot install dkms and linux-headers-$kver; see $log: $(tail -n 2 "$log" | tr '\n' ' ')"
rm -f "$root/etc/apt/sources.list"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
echo "$kver" >"$root/.x2m-ready"
du -sh "$root" | cut -f1
