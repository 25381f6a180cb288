#!/bin/sh
# SPDX-License-Identifier: MIT
# check-style.sh: the checks STYLE.md asks for before any build —
# clang-format over every C file, and curl's banned functions.
set -eu
cd "$(dirname "$0")/.."

dirs=
for d in common car-agent bridge pc-console tests bench; do
	[ -d "$d" ] && dirs="$dirs $d"
done
# shellcheck disable=SC2086 # folder names have no blanks
files=$(find $dirs -name '*.[ch]' | sort)
command -v clang-format >/dev/null ||
	{ echo "check-style: clang-format missing (scripts/install-deps.sh --test)" >&2; exit 1; }
# shellcheck disable=SC2086 # file names have no blanks
clang-format --dry-run --Werror $files

banned='\b(gets|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atof)[[:space:]]*\('
# shellcheck disable=SC2086
if grep -nE "$banned" $files; then
	echo "check-style: banned function above; use snprintf, iotcar_strlcpy," \
		"strtok_r or iotcar_parse_long" >&2
	exit 1
fi
echo "check-style: ok ($(echo "$files" | wc -l) files)"
