#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: the system test. Boots the VM kernel (tests/vm/kernel.sh) with
# the root of image.sh and systemd as PID 1, adds this build's packages
# (scripts/package.sh) and check.sh, which installs them with apt and
# checks the services from inside, as a unit of the booted system. Passes
# when the console says "VMTEST: PASS" (tests/vm/boot.sh, as the vm tests
# boot); the console is kept in DIR/system.log.
#
#   tests/system/run.sh DIR KERNEL PACKAGES-DIR
#
# The packages are also installed a second time as version +1 (the same
# files, repacked): the upgrade.
set -u
[ $# -eq 3 ] || { echo "usage: $0 DIR KERNEL PACKAGES-DIR" >&2; exit 2; }
dir=$1
kernel=$2
pkgs=$3
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "system: $*" >&2; exit 1; }

"$here/image.sh" "$dir" "$pkgs" || die "no root image"
[ -f "$kernel" ] || die "no kernel $kernel: the vm.setup test makes it"

# The overlay: the packages, their +1 versions, the check and its unit.
top=$dir/overlay
rm -rf "$top"
mkdir -p "$top/root/iotcar/next" "$top/etc/systemd/system/multi-user.target.wants"
for deb in "$pkgs"/*.deb; do
	case $deb in *-dbgsym_*) continue ;; esac
	cp "$deb" "$top/root/iotcar/"
	x=$dir/deb.d
	rm -rf "$x"
	dpkg-deb -R "$deb" "$x"
	sed -i 's/^Version: \(.*\)$/Version: \1+1/' "$x/DEBIAN/control"
	dpkg-deb -b -Zgzip "$x" "$top/root/iotcar/next/" >/dev/null ||
		die "cannot repack $deb"
done
rm -rf "$dir/deb.d"
cp "$here/check.sh" "$top/root/check.sh"
cat >"$top/etc/systemd/system/iotcar-system-test.service" <<'UNIT'
[Unit]
Description=iotcar system test
After=mosquitto.service

[Service]
Type=oneshot
ExecStart=/bin/bash /root/check.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
UNIT
ln -s ../iotcar-system-test.service \
	"$top/etc/systemd/system/multi-user.target.wants/"
(cd "$top" && find . -print0 | cpio --null -o -H newc --quiet) >"$dir/overlay.cpio"
# The kernel unpacks both archives, one over the other.
cat "$dir/root.cpio" "$dir/overlay.cpio" >"$dir/boot.cpio"

status=0
"$here/../vm/boot.sh" system.boot "$dir/system.log" 1536M "$kernel" \
	"$dir/boot.cpio" "rdinit=/lib/systemd/systemd systemd.firstboot=off systemd.show_status=error" ||
	status=$?
rm -f "$dir/boot.cpio"
exit $status
