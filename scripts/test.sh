#!/bin/sh
# SPDX-License-Identifier: MIT
# test.sh: every test, in one command — install what is missing, check the
# style, then build and run the whole CTest suite — the vm tests in QEMU
# included — with warnings as errors (preset dev), under AddressSanitizer +
# UBSan (asan) and under ThreadSanitizer (tsan), and fuzz the bridge's parsers for a while with
# clang's libFuzzer (fuzz: scripts/fuzz.sh, $IOTCAR_FUZZ_SECONDS a target,
# 30 by default).
#
#   scripts/test.sh              everything (what CI runs)
#   scripts/test.sh dev          only the presets named
set -eu
cd "$(dirname "$0")/.."
presets=${*:-dev asan tsan fuzz}
# Debian installs mosquitto in /usr/sbin, off an ordinary user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

scripts/install-deps.sh --test
scripts/check-style.sh
for preset in $presets; do
	echo "==== $preset"
	if [ "$preset" = fuzz ]; then
		scripts/fuzz.sh "${IOTCAR_FUZZ_SECONDS:-30}"
		continue
	fi
	cmake --preset "$preset" >/dev/null
	cmake --build --preset "$preset"
	ctest --preset "$preset"
done
echo "test: all passed ($presets)"
