#!/bin/sh
# SPDX-License-Identifier: MIT
# kernel.sh: the kernel side of the VM tests — Debian's own amd64 kernel,
# its configfs, i2c-dev and i2c-stub modules, a gpio-sim module and a
# pwm-pca9685 module — in a cache directory, made once and reused by
# every build tree.
#
#   tests/vm/kernel.sh DIR       prints DIR/<kernel version> when ready
#
# Debian's kernels do not enable CONFIG_GPIO_SIM nor CONFIG_PWM_PCA9685,
# so gpio-sim.ko and pwm-pca9685.ko are built out of tree from
# linux-source at exactly the image's version, against the matching
# linux-headers (unpacked, never installed: nothing touches /boot).
# irq_sim.c is linked into the same module with one line changed:
# irq_to_desc() is not exported to modules, and generic_handle_irq() runs
# the same handle_simple_irq() flow handler. About 230 MB is downloaded the
# first time (linux-source is 140 MB); the result is about 70 MB.
#
# $IOTCAR_VM_KERNEL names another kernel meta package (default
# linux-image-amd64; linux-image-6.12-amd64 works too). Not the cloud
# flavour: it has no GPIO at all.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 CACHE-DIR" >&2; exit 2; }
cache=$1
meta=${IOTCAR_VM_KERNEL:-linux-image-amd64}

die() { echo "kernel.sh: $*" >&2; exit 1; }
log() { echo "kernel.sh: $*" >&2; }

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# apt-get download, with one `apt-get update` when the lists are stale
# (as root only; others are told what to run).
fetch() {
	if apt-get download "$@" >/dev/null 2>"$work/apt.err"; then
		return 0
	fi
	if [ "$(id -u)" -eq 0 ]; then
		log "apt-get download $* failed; updating the package lists"
		apt-get update -q >/dev/null
		apt-get download "$@" >/dev/null 2>"$work/apt.err" && return 0
	fi
	cat "$work/apt.err" >&2
	die "cannot download $* (as root: apt-get update)"
}

resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(resolve)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	log "$meta is not in the package lists; updating them"
	apt-get update -q >/dev/null
	pkg=$(resolve)
fi
[ -n "$pkg" ] || die "cannot resolve $meta (as root: apt-get update)"
kver=${pkg#linux-image-}
debver=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
out=$cache/$kver

# One builder at a time; the others wait and then find it done.
exec 9>"$cache/.lock"
flock 9
# What a cache made by an older recipe of this script lacks: make it again.
recipe="$pkg $debver i2c-stub pwm-pca9685"
if [ "$(cat "$out/ready" 2>/dev/null)" = "$recipe" ] && [ -f "$out/kernel" ]; then
	echo "$out"
	exit 0
fi

log "making $out from $pkg $debver (first run only)"
work=$cache/work-$kver
rm -rf "$work" "$out"
mkdir -p "$work/deb" "$out"
cd "$work/deb"
fetch "$pkg=$debver"
dpkg -x "${pkg}"_*.deb "$work/image"
boot=$work/image/boot
# /lib/modules up to bookworm, /usr/lib/modules from trixie on.
moddir=$work/image/lib/modules/$kver
[ -d "$moddir" ] || moddir=$work/image/usr/lib/modules/$kver
[ -f "$boot/vmlinuz-$kver" ] || die "no vmlinuz in $pkg"

cfg() { sed -n "s/^CONFIG_$1=//p" "$boot/config-$kver"; }
[ "$(cfg GPIOLIB)" = y ] && [ "$(cfg GPIO_CDEV)" = y ] ||
	die "$kver has no GPIO character device (GPIOLIB, GPIO_CDEV)"
[ "$(cfg FTRACE)" = y ] || die "$kver has no ftrace"

# A module of the image, uncompressed, into $out; loaded at boot unless
# the second argument is "noload" (a check loads it, with parameters).
add_module() {
	f=$(find "$moddir" -name "$1.ko*" | head -n 1)
	[ -n "$f" ] || die "module $1 is not in $pkg"
	case $f in
	*.xz) xz -dc "$f" >"$out/$1.ko" ;;
	*.zst) zstd -dqc "$f" >"$out/$1.ko" ;;
	*) cp "$f" "$out/$1.ko" ;;
	esac
	[ "${2:-}" = noload ] || echo "$1.ko" >>"$out/load-order"
}

: >"$out/load-order"
case $(cfg CONFIGFS_FS) in
m) add_module configfs ;;
y) ;;
*) die "$kver has no configfs" ;;
esac

# The PCA9685's bus: i2c-dev's /dev/i2c-N, i2c-stub's registers.
[ "$(cfg I2C)" = y ] || die "$kver has no I2C core built in"
case $(cfg I2C_CHARDEV) in
m) add_module i2c-dev ;;
y) ;;
*) die "$kver has no i2c-dev" ;;
esac
[ "$(cfg I2C_STUB)" = m ] || die "$kver has no i2c-stub module"
add_module i2c-stub noload

# ==== Modules Debian's image lacks: built out of tree ====

# oot_source: the matching linux-headers unpacked into $kbuild, and the
# files of linux-source these modules need into $work/src (one pass over
# the 140 MB tarball).
kbuild=
oot_source() {
	[ -z "$kbuild" ] || return 0
	majmin=$(echo "$debver" | cut -d. -f1,2)
	hdrs="linux-headers-$kver $(apt-cache depends "linux-headers-$kver" |
		awk '/Depends: linux-(headers|kbuild)-/ { print $2 }' | sort -u)"
	for p in $hdrs; do
		fetch "$p=$debver"
		dpkg -x "${p}"_*.deb "$work/hdr"
	done
	kbuild=$work/hdr/usr/src/linux-headers-$kver
	# The flavour's Makefile includes the common one by absolute path.
	sed -i "s|^include /usr/src/|include $work/hdr/usr/src/|" \
		"$kbuild/Makefile"
	fetch "linux-source-$majmin=$debver"
	src=linux-source-$majmin
	mkdir -p "$work/src"
	cd "$work/src"
	dpkg-deb --fsys-tarfile "$work/deb/${src}"_*.deb |
		tar -xO "./usr/src/$src.tar.xz" |
		tar -xJ "$src/drivers/gpio/gpio-sim.c" \
			"$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c" \
			"$src/drivers/pwm/pwm-pca9685.c"
	src=$work/src/$src
}
# oot_build NAME [noload]: make NAME.ko from the sources and Kbuild in
# $work/oot-NAME, into $out.
oot_build() {
	cd "$work/oot-$1"
	# No BTF for the module (6.12's kbuild would want pahole).
	make -s -C "$kbuild" M="$work/oot-$1" CONFIG_DEBUG_INFO_BTF_MODULES= \
		modules >&2
	strip --strip-debug -o "$out/$1.ko" "$1.ko"
	[ "${2:-}" = noload ] || echo "$1.ko" >>"$out/load-order"
}

case $(cfg GPIO_SIM) in
m) add_module gpio-sim ;;
y) ;;
*)
	oot_source
	mkdir -p "$work/oot-gpio-sim"
	cd "$work/oot-gpio-sim"
	cp "$src/drivers/gpio/gpio-sim.c" gpio-sim-core.c
	cp "$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c" .
	sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
		irq_sim.c
	grep -q 'generic_handle_irq(irqnum)' irq_sim.c ||
		die "the irq_sim.c change did not apply to $src"
	printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' \
		>Kbuild
	oot_build gpio-sim
	;;
esac

# The kernel's own PCA9685 driver, for /sys/class/pwm: a check binds it
# to i2c-stub's chip (new_device), so it is not loaded at boot.
case $(cfg PWM_PCA9685) in
m) add_module pwm-pca9685 noload ;;
y) die "$kver has pwm-pca9685 built in: it would take i2c-stub's chip" ;;
*)
	[ "$(cfg PWM)" = y ] || die "$kver has no PWM subsystem"
	oot_source
	mkdir -p "$work/oot-pwm-pca9685"
	cd "$work/oot-pwm-pca9685"
	cp "$src/drivers/pwm/pwm-pca9685.c" .
	echo 'obj-m := pwm-pca9685.o' >Kbuild
	oot_build pwm-pca9685 noload
	;;
esac

# QEMU boots an ELF vmlinux with a PVH entry point directly: no firmware
# and no decompression, 5 s less per boot under TCG. The bzImage is an
# xz (bookworm) or zstd (trixie) stream after a setup header, found as
# scripts/extract-vmlinux does: tr turns the magic into a line's start.
img=$boot/vmlinuz-$kver
unpack() { # TR-FROM TR-TO START DECOMPRESS
	for pos in $(tr "$1" "$2" <"$img" | grep -abo "^$3" | cut -d: -f1); do
		tail -c "+$pos" "$img" | $4 >"$work/vmlinux" 2>/dev/null || true
		readelf -h "$work/vmlinux" >/dev/null 2>&1 && return 0
	done
	return 1
}
unpack '\3757zXZ\000\nabcde' '\nabcde=' abcde 'xz -dqc' ||
	unpack '\050\265\057\375\nabc' '\nabc=' abc 'zstd -dqc' || true
# XEN_ELFNOTE_PHYS32_ENTRY (0x12): the PVH entry QEMU looks for.
if readelf -n "$work/vmlinux" 2>/dev/null | grep -q 'Xen.*0x00000012'; then
	mv "$work/vmlinux" "$out/kernel"
else
	log "no PVH vmlinux in $pkg: booting the bzImage through the BIOS"
	cp "$img" "$out/kernel"
fi
echo "$recipe" >"$out/ready"
cd "$cache"
rm -rf "$work"
log "ready: $out ($(du -sh "$out" | cut -f1))"
echo "$out"
