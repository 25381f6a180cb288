#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: one vm test — boot the VM that setup.sh prepared in DIR with
# iotcar.test=CHECK (boot.sh), and pass when its console says
# "VMTEST: PASS". The console is kept in DIR/CHECK.log.
#
#   tests/vm/run.sh DIR CHECK
set -u
[ $# -eq 2 ] || { echo "usage: $0 DIR CHECK" >&2; exit 2; }
dir=$1
check=$2
[ -f "$dir/initramfs.cpio" ] || {
	echo "run.sh: no $dir/initramfs.cpio: the vm.setup test makes it" >&2
	exit 1
}
exec "$(dirname "$0")/boot.sh" "vm.$check" "$dir/$check.log" 512M \
	"$dir/kernel/kernel" "$dir/initramfs.cpio" "iotcar.test=$check"
