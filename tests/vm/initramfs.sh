#!/bin/sh
# SPDX-License-Identifier: MIT
# initramfs.sh: the VM tests' root file system, as an uncompressed cpio.
#
#   tests/vm/initramfs.sh OUT KERNEL-DIR CAR-AGENT VMTOOL
#
# It holds busybox-static, the car-agent and vmtool of the build under
# test, Debian's mosquitto, mosquitto_pub/_sub and libgpiod's gpioset, every
# shared library they load (ldd) and the dynamic loader; the kernel
# modules of KERNEL-DIR (kernel.sh); init.sh as /init with checks.sh; the
# [gpio] example of docs/hardware.md as /etc/iotcar/car-agent.conf, where the unit
# reads it; the udev rule and the build's systemd unit (its paths filled
# in) in /etc, and car-agent where the unit runs it too; and the sanitizer
# options of the environment ($ASAN_OPTIONS ...), their suppression files
# copied in.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 OUT KERNEL-DIR CAR-AGENT VMTOOL" >&2; exit 2; }
out=$1
kdir=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

die() { echo "initramfs.sh: $*" >&2; exit 1; }

root=$out.d
rm -rf "$root"
mkdir -p "$root/bin" "$root/usr/bin" "$root/etc/iotcar" "$root/lib/modules" \
	"$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root"

[ -x /bin/busybox ] && /bin/busybox --list | grep -q '^poweroff$' ||
	die "busybox-static is missing: scripts/install-deps.sh --test"
cp /bin/busybox "$root/bin/busybox"

# add BINARY: the binary, without debug sections, and its libraries.
add() {
	b=$(command -v "$1") || die "$1 is missing: scripts/install-deps.sh --test"
	strip --strip-debug -o "$root/usr/bin/$(basename "$1")" "$b"
	ldd "$b" | awk '/=> \// { print $3 } /^\t\/.* \(0x/ { print $1 }' |
		while read -r lib; do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
}
add "$3"
add "$4"
for b in mosquitto mosquitto_pub mosquitto_sub gpioset; do
	add $b
done

cp "$kdir"/*.ko "$kdir/load-order" "$root/lib/modules/"
cp "$src/car-agent/60-iotcar-gpio.rules" "$(dirname "$3")/car-agent.service" \
	"$root/etc/"
# car-agent where the unit runs it (the build's prefix).
bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root/etc/car-agent.service")
if [ "$bin" != /usr/bin/car-agent ]; then
	mkdir -p "$root$(dirname "$bin")"
	ln -s /usr/bin/car-agent "$root$bin"
fi
cp "$here/init.sh" "$root/init"
cp "$here/checks.sh" "$root/checks.sh"
chmod 755 "$root/init"

# The documentation's own example configuration of a real car: the first
# ini block of docs/hardware.md.
awk '/^```ini$/ { ini = 1; next }
	ini && /^```$/ { exit } ini { print }' "$src/docs/hardware.md" \
	>"$root/etc/iotcar/car-agent.conf"
for k in left_in1 left_in2 left_en right_in1 right_in2 right_en \
	trigger echo; do
	grep -q "^$k *= *" "$root/etc/iotcar/car-agent.conf" ||
		die "docs/hardware.md: its [gpio] example has no $k"
done

cat >"$root/etc/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence false
user root
EOF
# The unit's user: iotcar, in the groups gpio and i2c (init.sh applies the
# udev rule).
printf 'root:x:0:0:root:/root:/bin/sh\niotcar:x:1000:1000::/tmp:/bin/sh\n' \
	>"$root/etc/passwd"
printf 'root:x:0:\niotcar:x:1000:\ngpio:x:997:iotcar\ni2c:x:996:iotcar\n' \
	>"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"

# Sanitizer options, with suppression files moved to /etc.
: >"$root/etc/vmtest.env"
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
	eval "val=\${$var:-}"
	[ -n "$val" ] || continue
	supp=$(echo "$val" | tr : '\n' | sed -n 's/^suppressions=//p')
	if [ -n "$supp" ]; then
		cp "$supp" "$root/etc/$(basename "$supp")"
		val=$(echo "$val" | sed "s#\(^\|:\)suppressions=[^:]*#\1suppressions=/etc/$(basename "$supp")#")
	fi
	echo "export $var='$val'" >>"$root/etc/vmtest.env"
done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
	>"$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$root"
echo "initramfs.sh: $out, $(($(stat -c %s "$out") / 1024)) KiB" >&2
