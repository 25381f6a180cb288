#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh: the Debian packages iotcar needs, and nothing else
# (Debian 12 or Raspberry Pi OS bookworm, Debian 13 trixie), then the npm
# packages of the web dashboard (MQTT.js, broker/www) and, with --test, of
# the browser tests (playwright-core, tests/web) and Node-RED (nodered/)
# from their lock files. Only what is missing or out of date is installed,
# so a second run costs nothing.
#
#   scripts/install-deps.sh          to build and run (the demo)
#   scripts/install-deps.sh --test   also what the tests and checks need,
#                                    --package's too
#   scripts/install-deps.sh --arm64  the arm64 cross build (preset arm64):
#                                    gcc-aarch64-linux-gnu, the :arm64 -dev
#                                    packages beside the host's (multiarch),
#                                    qemu-user for its tests
#   scripts/install-deps.sh --package  also what scripts/package.sh needs
#   scripts/install-deps.sh --test --arm64  more than one: all of them
set -eu
cd "$(dirname "$0")/.."
test=
arm64=
package=
for arg in "$@"; do
	case $arg in
	--test) test=1 ;;
	--arm64) arm64=1 ;;
	--package) package=1 ;;
	*)
		echo "usage: $0 [--test] [--arm64]" >&2
		exit 2
		;;
	esac
done

packages="gcc libc6-dev cmake ninja-build pkg-config
	libpaho-mqtt-dev libcjson-dev libinih-dev libgpiod-dev gpiod libsystemd-dev
	libi2c-dev i2c-tools
	libncurses-dev help2man lowdown
	mosquitto mosquitto-clients openssl netcat-openbsd"
if [ -n "$test" ]; then
	# Names that differ by release: clang's version, and the t64 names
	# of trixie's 64-bit time_t transition.
	. /etc/os-release
	case ${VERSION_CODENAME:-} in
	bookworm) llvm=14 t64= ;;
	trixie) llvm=19 t64=t64 ;;
	*)
		echo "install-deps: --test knows Debian bookworm and trixie," \
			"not ${PRETTY_NAME:-this system}" >&2
		exit 1
		;;
	esac
	# clang + libclang-rt-N-dev (only a Recommends of clang): libFuzzer.
	# iproute2 and procps: the fault tests' network namespaces.
	packages="$packages python3 python3-paho-mqtt clang-format tmux
		clang libclang-rt-$llvm-dev iproute2 procps"
	# The cluster tests: RabbitMQ (MQTT 5 on trixie's 4.0, none on
	# bookworm's 3.10).
	packages="$packages rabbitmq-server"
	# The vm tests (tests/vm/): QEMU, the initramfs' busybox and cpio;
	# make, xz, zstd and the libraries of Debian's unpacked kbuild tools
	# to build gpio-sim.ko.
	packages="$packages qemu-system-x86 busybox-static cpio xz-utils zstd
		make libelf1$t64 libssl3$t64 zlib1g"
	# The browser tests: Debian's Chromium, driven by playwright-core;
	# nginx in front of the production broker's dashboard.
	packages="$packages chromium nginx"
	# The system test: the packages (below) in a debootstrap root.
	packages="$packages debootstrap"
	package=1
fi
# Packaging: debian/control's Build-Depends are the list above.
# (systemd.pc: in systemd-dev since Debian 13.)
if [ -n "$package" ]; then
	packages="$packages build-essential debhelper dpkg-dev"
	. /etc/os-release
	case ${VERSION_CODENAME:-} in
	bookworm) packages="$packages systemd" ;;
	*) packages="$packages systemd-dev" ;;
	esac
fi
if [ -n "$arm64" ]; then
	packages="$packages gcc-aarch64-linux-gnu qemu-user python3
		python3-paho-mqtt"
	for p in libc6-dev libpaho-mqtt-dev libcjson-dev libinih-dev \
		libgpiod-dev libi2c-dev libncurses-dev libsystemd-dev; do
		packages="$packages $p:arm64"
	done
fi
# npm (and Node.js with it), unless a Node.js with npm is already there.
command -v npm >/dev/null || packages="$packages npm"

missing=
for p in $packages; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || {
			echo "install-deps: run as root, or install sudo" >&2
			exit 1
		}
		sudo=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	if [ -n "$arm64" ] &&
		! dpkg --print-foreign-architectures | grep -qx arm64; then
		$sudo dpkg --add-architecture arm64
	fi
	$sudo apt-get update -q
	# shellcheck disable=SC2086 # one word per package
	$sudo apt-get install -y -q --no-install-recommends $missing
fi

# npm ci DIR: its node_modules exactly as its package-lock.json says, again
# only when the lock file is newer than what npm installed last.
npm_ci() {
	# (dash's -nt is false when the second file is missing)
	if [ -e "$1/node_modules/.package-lock.json" ] &&
		! [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
		return 0
	fi
	echo "install-deps: npm ci in $1"
	(cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
}
npm_ci broker/www
if [ -n "$test" ]; then
	npm_ci tests/web
	npm_ci nodered
fi
