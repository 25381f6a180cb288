#!/bin/sh
# SPDX-License-Identifier: MIT
# setup.sh: the CTest fixture of the vm tests (vm.setup) — the kernel side
# from the shared cache (kernel.sh, downloaded and built the first time)
# and this build's initramfs (initramfs.sh), both in DIR for run.sh.
#
#   tests/vm/setup.sh DIR CACHE-DIR CAR-AGENT VMTOOL
set -eu
[ $# -eq 4 ] || { echo "usage: $0 DIR CACHE-DIR CAR-AGENT VMTOOL" >&2; exit 2; }
here=$(dirname "$0")
command -v qemu-system-x86_64 >/dev/null || {
	echo "setup.sh: qemu-system-x86_64 is missing: scripts/install-deps.sh --test" >&2
	exit 1
}
mkdir -p "$1"
kdir=$("$here/kernel.sh" "$2")
ln -sfn "$kdir" "$1/kernel"
"$here/initramfs.sh" "$1/initramfs.cpio" "$kdir" "$3" "$4"
echo "setup.sh: kernel $(cat "$kdir/ready"), initramfs $1/initramfs.cpio"
