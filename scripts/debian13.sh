#!/bin/sh
# SPDX-License-Identifier: MIT
# debian13.sh: a command in a Debian 13 (trixie) root, to build and test
# iotcar there as on the host. The root is made once with debootstrap
# (minbase and ca-certificates, from deb.debian.org) in build/debian13/root
# and reused. Each run has a mount and a PID namespace of its own: proc,
# sys, the host's /dev, tmpfs on /tmp, /run and /dev/shm, and this tree at
# its own path, so that nothing it mounts or starts outlives it. In the
# root the tree's build/ is build/debian13/build: the build trees and the
# VM kernel cache made there never mix with the host's. The host's extra
# trusted CAs (/usr/local/share/ca-certificates), its resolv.conf and its
# CA, proxy and IOTCAR_* variables are passed in. As root.
#
#   scripts/debian13.sh                      a shell in the root
#   scripts/debian13.sh scripts/test.sh dev  preset dev's tests on trixie
#   scripts/debian13.sh tests/vm/kernel.sh build/vm-kernel
set -eu
here=$(pwd -P)
cd "$(dirname "$0")/.."
src=$(pwd -P)
top=$src/build/debian13
root=$top/root
PATH=$PATH:/usr/sbin:/sbin

die() { echo "debian13: $*" >&2; exit 1; }

# The second stage, as PID 1 of the namespaces the first made (below),
# with the caller's folder in $IOTCAR_DEBIAN13_NS.
if [ -n "${IOTCAR_DEBIAN13_NS:-}" ]; then
	here=$IOTCAR_DEBIAN13_NS
	# The root a mount point: `ip netns exec` makes / a slave mount.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --bind /dev "$root/dev"
	mount --bind /dev/pts "$root/dev/pts"
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
	mount -t tmpfs -o mode=755,nosuid,nodev run "$root/run"
	mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
	[ -f /etc/hosts ] && mount --bind /etc/hosts "$root/etc/hosts"
	mkdir -p "$root$src" "$top/build"
	mount --bind "$src" "$root$src"
	mount --bind "$top/build" "$root$src/build"

	# The command, in the caller's folder when it is in the tree.
	case $here in
	"$src" | "$src"/*) dir=$here ;;
	*) dir=$src ;;
	esac
	[ $# -gt 0 ] || set -- sh
	# shellcheck disable=SC2016 # expanded by the inner sh
	set -- sh -c 'cd "$1" && shift && exec "$@"' debian13 "$dir" "$@"
	# Nothing else of the host's environment, that names host paths.
	names=$(awk 'BEGIN { for (k in ENVIRON) print k }' | grep -E \
		'^(TERM|CI|IOTCAR_[A-Z0-9_]+|[A-Za-z0-9_]*(CERT|CA_BUNDLE|CAINFO|SSL)[A-Za-z0-9_]*|[a-z]+_proxy|[A-Z]+_PROXY)$' |
		grep -vx IOTCAR_DEBIAN13_NS) || true
	value=
	for name in $names; do
		eval "value=\$$name"
		set -- "$name=$value" "$@"
	done
	# A child, not exec: PID 1 reaps the orphans, and its end ends them.
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 IOTCAR_IN_DEBIAN13=1 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		"$@"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, mounts)"
mkdir -p "$top"

# The root, made once: into root.new, renamed when complete, so that a run
# that was stopped leaves nothing that looks ready.
exec 9>"$top/.lock"
flock 9
if ! [ -f "$root/.debian13-ready" ]; then
	if ! command -v debootstrap >/dev/null; then
		echo "debian13: installing debootstrap"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends debootstrap
	fi
	echo "debian13: making $root (first run only)"
	new=$top/root.new
	rm -rf --one-file-system "$new" "$root"
	mkdir -p "$new"
	# In a mount namespace: debootstrap's mounts in the new root end
	# with it, even when it is killed.
	unshare --mount --propagation private debootstrap --variant=minbase \
		--include=ca-certificates trixie "$new" \
		http://deb.debian.org/debian
	# Mount points for the host's own (below), localhost in case it has
	# no hosts file.
	rm -f "$new/etc/resolv.conf" "$new/etc/hosts"
	: >"$new/etc/resolv.conf"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' \
		>"$new/etc/hosts"
	# No .deb kept once installed: 400 MB less with the test packages.
	echo 'APT::Keep-Downloaded-Packages "false";' \
		>"$new/etc/apt/apt.conf.d/90iotcar-no-cache"
	date -u +%Y-%m-%dT%H:%M:%SZ >"$new/.debian13-ready"
	mv "$new" "$root"
fi
exec 9>&-

# The host's extra CAs (a proxy's, a company's) trusted in the root too.
cas=/usr/local/share/ca-certificates
if [ -d "$cas" ] && ! diff -r "$cas" "$root$cas" >/dev/null 2>&1; then
	rm -rf "$root$cas"
	cp -R "$cas" "$root$cas"
	chroot "$root" /usr/sbin/update-ca-certificates --fresh >/dev/null 2>&1
fi

# --kill-child: the namespaces end with this script, however it ends.
status=0
IOTCAR_DEBIAN13_NS=$here unshare --mount --propagation private --pid \
	--kill-child "$src/scripts/debian13.sh" "$@" || status=$?
# Under sudo, what npm installed into the shared tree goes back to the user.
if [ -n "${SUDO_UID:-}" ]; then
	for d in broker/www tests/web nodered; do
		[ ! -d "$d/node_modules" ] ||
			chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$d/node_modules"
	done
fi
exit $status
