# SPDX-License-Identifier: MIT
# The arm64 (Raspberry Pi) cross build: Debian's gcc-aarch64-linux-gnu and
# the :arm64 -dev packages beside the host's (multiarch), the tests run
# through qemu-aarch64 (qemu-user). `scripts/test.sh arm64` installs all
# of it in the Debian 13 root (install-deps.sh --arm64) and runs the arm64
# preset there.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
find_program(IOTCAR_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${IOTCAR_QEMU_AARCH64})
# pkg-config reads the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR}
	/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
