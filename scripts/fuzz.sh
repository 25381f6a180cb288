#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz.sh: build the fuzz targets with clang and libFuzzer (preset fuzz),
# replay their corpus, then fuzz each for a while (default 30 s) starting
# from a copy of it. An input that breaks a target is saved under
# build/fuzz/artifacts/; add it to tests/fuzz/corpus/<target>/ with the fix.
#
#   scripts/fuzz.sh            30 s a target (what CI runs)
#   scripts/fuzz.sh 600        ten minutes a target
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-30}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
ctest --preset fuzz
mkdir -p build/fuzz/artifacts
for target in frame proto; do
	work=$(mktemp -d)
	cp tests/fuzz/corpus/$target/* "$work/"
	dict=
	[ -f tests/fuzz/$target.dict ] && dict=-dict=tests/fuzz/$target.dict
	echo "==== fuzz_$target for ${seconds}s"
	status=0
	build/fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds" \
		-timeout=10 -max_len=4096 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/$target- $dict \
		"$work" >build/fuzz/fuzz_$target.log 2>&1 || status=$?
	grep -E '^stat::number_of_executed_units|^Done' \
		build/fuzz/fuzz_$target.log || true
	rm -rf "$work"
	if [ "$status" != 0 ]; then
		grep -v '^#' build/fuzz/fuzz_$target.log | tail -40
		echo "fuzz: fuzz_$target failed; the input is in build/fuzz/artifacts/" >&2
		exit 1
	fi
done
echo "fuzz: no failures"
