#!/bin/sh
# SPDX-License-Identifier: MIT
# test.sh: every test, in one command — install what is missing, check the
# style, then build and run the whole CTest suite — the vm tests in QEMU
# included — with warnings as errors (preset dev), under AddressSanitizer +
# UBSan (asan) and under ThreadSanitizer (tsan); fuzz the bridge's parsers
# for a while with clang's libFuzzer (fuzz: scripts/fuzz.sh,
# $IOTCAR_FUZZ_SECONDS a target, 30 by default); then the same dev suite in
# a Debian 13 root, its vm tests on Debian 13's kernel (debian13:
# scripts/debian13.sh, as root), and in that root the arm64 cross build,
# its unit and agent tests through qemu-aarch64 (arm64).
#
#   scripts/test.sh              everything (what CI runs)
#   scripts/test.sh dev          only the presets named
set -eu
cd "$(dirname "$0")/.."
presets=${*:-dev asan tsan fuzz debian13 arm64}
# Debian installs mosquitto in /usr/sbin, off an ordinary user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

# What this system needs for the presets that run on it (debian13 runs in
# the Debian 13 root, and so does arm64 when started outside it).
flags=
for preset in $presets; do
	case $preset in
	debian13) ;;
	arm64) [ -z "${IOTCAR_IN_DEBIAN13:-}" ] || flags="$flags --arm64" ;;
	*) flags="$flags --test" ;;
	esac
done
if [ -n "$flags" ]; then
	# shellcheck disable=SC2086 # one word per flag
	scripts/install-deps.sh $flags
fi
case $flags in *--test*) scripts/check-style.sh ;; esac
# The Debian 13 root needs root: debootstrap, chroot, mounts; with the
# proxy and CA variables that scripts/debian13.sh passes on.
root=
[ "$(id -u)" -eq 0 ] || root="sudo -E"
for preset in $presets; do
	start=$(date +%s)
	echo "==== $preset"
	case $preset in
	fuzz)
		scripts/fuzz.sh "${IOTCAR_FUZZ_SECONDS:-30}"
		;;
	debian13)
		$root scripts/debian13.sh scripts/test.sh dev
		;;
	arm64)
		if [ -z "${IOTCAR_IN_DEBIAN13:-}" ]; then
			$root scripts/debian13.sh scripts/test.sh arm64
		else
			cmake --preset arm64 >/dev/null
			cmake --build --preset arm64
			ctest --preset arm64
		fi
		;;
	*)
		cmake --preset "$preset" >/dev/null
		cmake --build --preset "$preset"
		ctest --preset "$preset"
		;;
	esac
	echo "==== $preset: passed in $(($(date +%s) - start)) s"
done
echo "test: all passed ($presets)"
