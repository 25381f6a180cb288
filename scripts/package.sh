#!/bin/sh
# SPDX-License-Identifier: MIT
# package.sh: the Debian packages of this tree, for the release and the
# architecture of this machine, into build/packages/: iotcar-car-agent,
# iotcar-bridge, iotcar-console, iotcar-broker, and the -dbgsym packages
# with the programs' debug symbols. The Debian way: debian/ and
# dpkg-buildpackage, on a copy of the tree in build/packages/src.
#
#   scripts/package.sh
#   sudo apt install ./build/packages/iotcar-car-agent_*.deb ...
set -eu
cd "$(dirname "$0")/.."
out=build/packages

# debhelper and the build dependencies (debian/control).
scripts/install-deps.sh --package
www=broker/www/node_modules/mqtt/dist/mqtt.min.js
[ -f $www ] || { echo "package.sh: no $www: scripts/install-deps.sh" >&2; exit 1; }

rm -rf $out
mkdir -p $out/src
tar -c --exclude=./build --exclude=./.git --exclude=node_modules \
	--exclude=__pycache__ --exclude=./nodered/data . | tar -x -C $out/src
mkdir -p "$out/src/$(dirname $www)"
cp $www "$out/src/$www"
(cd $out/src && dpkg-buildpackage -b -us -uc)
rm -rf $out/src
ls -1 $out/*.deb
