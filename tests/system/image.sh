#!/bin/sh
# SPDX-License-Identifier: MIT
# image.sh: the system test's root file system, made by debootstrap from
# this machine's Debian release (bookworm or trixie) and kept as a cpio
# that the kernel unpacks into its root (no disk, no kernel modules).
#
#   tests/system/image.sh DIR PACKAGES-DIR
#
# It holds systemd as PID 1, Mosquitto, its clients and every library the
# packages in PACKAGES-DIR depend on, so that apt installs them there with
# no network. Made once into DIR/root.cpio, again only when the release
# or that list changes (DIR/key). Needs root.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 DIR PACKAGES-DIR" >&2; exit 2; }
dir=$1
pkgs=$2
PATH=$PATH:/usr/sbin:/sbin
die() { echo "image.sh: $*" >&2; exit 1; }

. /etc/os-release
release=${VERSION_CODENAME:?}
# The packages' dependencies (the first of each alternative), not ours.
deps=$(for deb in "$pkgs"/*.deb; do
	case $deb in *-dbgsym_*) continue ;; esac
	dpkg-deb -f "$deb" Depends
done | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/[[:space:]]//g' |
	grep -v -e '^$' -e '^iotcar-' | sort -u | paste -sd, -)
[ -n "$deps" ] || die "no packages in $pkgs: scripts/package.sh"
include=systemd,systemd-sysv,mosquitto-clients,$deps
key="$release $include"
if [ -f "$dir/root.cpio" ] && [ "$(cat "$dir/key" 2>/dev/null)" = "$key" ]; then
	echo "image.sh: $dir/root.cpio is ready ($release)"
	exit 0
fi
command -v debootstrap >/dev/null && command -v cpio >/dev/null ||
	die "debootstrap or cpio is missing: scripts/install-deps.sh --test"

echo "image.sh: making $dir/root.cpio: $release with $include"
root=$dir/root.new
rm -rf --one-file-system "$root" "$dir/root.cpio" "$dir/key"
mkdir -p "$root"
# In a mount namespace: debootstrap's mounts end with it.
unshare --mount --propagation private debootstrap --variant=minbase \
	--include="$include" "$release" "$root" http://deb.debian.org/debian

# A machine of its own: an id (no first-boot questions), a name, no
# getty on the serial console that the test writes to.
tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
echo iotcar-system >"$root/etc/hostname"
printf '127.0.0.1 localhost iotcar-system\n::1 localhost\n' >"$root/etc/hosts"
: >"$root/etc/fstab"
for unit in serial-getty@ttyS0.service getty@tty1.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# What the test never reads: half the size, a faster boot.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* \
	"$root"/usr/share/locale/* "$root"/usr/share/info/* \
	"$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) \
	>"$dir/root.cpio.new"
mv "$dir/root.cpio.new" "$dir/root.cpio"
echo "$key" >"$dir/key"
rm -rf --one-file-system "$root"
echo "image.sh: $dir/root.cpio: $(du -m "$dir/root.cpio" | cut -f1) MB"
