#!/bin/sh
# SPDX-License-Identifier: MIT
# boot.sh: boot a kernel and its initramfs in QEMU and judge the run by
# its console: pass when it says "VMTEST: PASS". The console is kept in
# LOG; on a pass its "vmtest:" lines are printed, on a failure all of it.
# The vm tests (run.sh) and the system test (tests/system/run.sh) boot
# with it.
#
#   tests/vm/boot.sh NAME LOG MEMORY KERNEL INITRD APPEND
#
# QEMU runs TCG (this project's machines cannot use KVM) with -icount: the
# guest's clock counts executed instructions (shift=0: one per ns, a 1 GHz
# CPU) instead of following the host's, so the PWM and echo timings the
# checks measure, and the 1 s watchdog, do not depend on how busy the host
# is. sleep=off skips the guest's idle time. One vCPU: icount runs one
# anyway. $IOTCAR_VM_TIMEOUT (s) bounds the run.
set -u
[ $# -eq 6 ] || { echo "usage: $0 NAME LOG MEMORY KERNEL INITRD APPEND" >&2; exit 2; }
name=$1
log=$2
start=$(date +%s)
timeout "${IOTCAR_VM_TIMEOUT:-600}" qemu-system-x86_64 \
	-accel tcg -cpu max -icount shift=0,sleep=off -smp 1 -m "$3" \
	-nodefaults -no-user-config -display none -monitor none \
	-serial stdio -no-reboot -kernel "$4" -initrd "$5" \
	-append "console=ttyS0 panic=-1 quiet cryptomgr.notests $6" \
	</dev/null 2>&1 | tr -d '\r' >"$log"
secs=$(($(date +%s) - start))
if grep -q '^VMTEST: PASS' "$log"; then
	grep '^vmtest:' "$log"
	echo "$name: PASS in $secs s"
	exit 0
fi
echo "$name: FAIL after $secs s; the VM's console ($log):"
cat "$log"
exit 1
