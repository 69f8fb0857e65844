#!/bin/bash
# The PV guests' root filesystem: `debootstrap --variant=minbase bookworm`
# with a real userland for the tests across guests: libfabric and its tools
# (fi_pingpong, fi_info), Open MPI, OpenSSH (Open MPI's launcher reaches the
# other guest through it), iproute2, kmod; upgraded from bookworm-updates and
# bookworm-security so that its libraries are those the build tree was linked
# against on this Debian 12 machine. A user x2m (uid 1000) and root share one
# key pair that every guest accepts. Kept under CACHE/xen/guest-rootfs;
# rebuilt only when the package list changes or it is missing.
#   guest_rootfs.sh CACHE
# Exits 77 with the reason when it cannot, 1 on an unexpected failure.
set -u
cache=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$cache/xen/guest-rootfs
log=$cache/xen/guest-rootfs.log
packages=libfabric1,libfabric-bin,openmpi-bin,openssh-server,openssh-client,iproute2,kmod,procps,iputils-ping,netcat-openbsd
stamp="1 $packages"

skip() {
    echo "SKIP: $*"
    exit 77
}

[ -f "$root/.x2m-ready" ] && [ "$(cat "$root/.x2m-ready")" = "$stamp" ] && exit 0
mkdir -p "$cache/xen"
: >"$log"
. "$here/apt_mirror.sh"
mirror=$(apt_mirror bookworm | head -n 1)
security=$(apt_mirror bookworm-security | head -n 1)
[ -n "$mirror" ] || skip "the machine's apt sources name no bookworm mirror for debootstrap"
[ -n "$security" ] || security=${mirror%/debian}/debian-security

echo "debootstrap bookworm (from the machine's mirror) for the guests: $packages"
rm -rf "$root"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >>"$log" 2>&1 ||
    skip "debootstrap failed (no network to the mirror?); see $log: $(tail -n 2 "$log" | tr '\n' ' ')"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
chroot "$root" apt-get update >>"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y --no-install-recommends dist-upgrade >>"$log" 2>&1 ||
    skip "the guest rootfs cannot be upgraded from bookworm-updates/bookworm-security; see $log"

# Logins between the guests: one key for root and x2m, host keys made once,
# no questions about unknown hosts (the guests are made afresh every run).
chroot "$root" useradd -m -u 1000 -s /bin/bash x2m >>"$log" 2>&1 || exit 1
chroot "$root" ssh-keygen -A >>"$log" 2>&1 || exit 1
mkdir -p "$root/root/.ssh"
ssh-keygen -q -t ed25519 -N '' -C x2m-guests -f "$root/root/.ssh/id_ed25519" >>"$log" 2>&1 || exit 1
cp "$root/root/.ssh/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
cp -a "$root/root/.ssh" "$root/home/x2m/.ssh"
chroot "$root" chown -R x2m:x2m /home/x2m/.ssh
chmod 700 "$root/root/.ssh" "$root/home/x2m/.ssh"
cat >"$root/etc/ssh/ssh_config.d/x2m.conf" <<'CONF'
Host *
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ConnectTimeout 20
CONF
cat >"$root/etc/ssh/sshd_config.d/x2m.conf" <<'CONF'
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
# Open MPI passes its variables to remote ranks on the command line; these
# let the guests' own tests hand theirs on as well.
AcceptEnv FI_* X2M_*
CONF

rm -f "$root/etc/apt/sources.list"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
    "$root"/usr/share/info/* "$root"/var/cache/debconf/*-old
echo "$stamp" >"$root/.x2m-ready"
du -sh "$root" | cut -f1
