#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: one vm test — boot the VM that setup.sh prepared in DIR with
# iotcar.test=CHECK, and pass when its console says "VMTEST: PASS". The
# console is kept in DIR/CHECK.log; on a failure it is printed whole.
#
#   tests/vm/run.sh DIR CHECK
#
# QEMU runs TCG (this project's machines cannot use KVM) with -icount: the
# guest's clock counts executed instructions (shift=0: one per ns, a 1 GHz
# CPU) instead of following the host's, so the PWM and echo timings the
# checks measure do not depend on how busy the host is. sleep=off skips
# the guest's idle time. One vCPU: icount runs one anyway.
set -u
[ $# -eq 2 ] || { echo "usage: $0 DIR CHECK" >&2; exit 2; }
dir=$1
check=$2
log=$dir/$check.log
[ -f "$dir/initramfs.cpio" ] || {
	echo "run.sh: no $dir/initramfs.cpio: the vm.setup test makes it" >&2
	exit 1
}
start=$(date +%s)
timeout "${IOTCAR_VM_TIMEOUT:-500}" qemu-system-x86_64 \
	-accel tcg -cpu max -icount shift=0,sleep=off -smp 1 -m 512M \
	-nodefaults -no-user-config -display none -monitor none \
	-serial stdio -no-reboot \
	-kernel "$dir/kernel/kernel" -initrd "$dir/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet cryptomgr.notests iotcar.test=$check" \
	</dev/null 2>&1 | tr -d '\r' >"$log"
secs=$(($(date +%s) - start))
if grep -q '^VMTEST: PASS' "$log"; then
	grep '^vmtest:' "$log"
	echo "vm.$check: PASS in $secs s"
	exit 0
fi
echo "vm.$check: FAIL after $secs s; the VM's console ($log):"
cat "$log"
exit 1
