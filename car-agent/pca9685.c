// SPDX-License-Identifier: MIT
/*
 * pca9685.c: the PCA9685 on i2c-dev; see pca9685.h.
 *
 * libi2c (i2c-tools) rather than our own ioctls: its SMBus calls are the
 * kernel's I2C_SMBUS ioctl with the data unions filled in, which is the
 * very code we would otherwise write again, and Debian and Raspberry Pi
 * OS package it with i2cget/i2cset, the tools the docs use to check a
 * board.
 */
#include "pca9685.h"

#include <errno.h>
#include <fcntl.h>
#include <i2c/smbus.h>
#include <linux/i2c-dev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MODE1_AI 0x20
#define MODE1_SLEEP 0x10
#define MODE2_OUTDRV 0x04
/* Bit 4 of LEDn_ON_H / LEDn_OFF_H: fully on / fully off. */
#define LED_FULL 0x10

struct pca9685 {
	int fd;
	/* Each channel's level as last written; -1 unknown. */
	int level[PCA9685_CHANNELS];
	int prescale;
};

int pca9685_prescale(int hz)
{
	long div = 4096L * (hz > 0 ? hz : 1);
	long p = (PCA9685_OSC_HZ + div / 2) / div - 1;

	return p < 3 ? 3 : p > 255 ? 255 : (int)p;
}

int pca9685_counts(int us, int prescale)
{
	/* One count lasts (prescale + 1) / 25 MHz = (prescale + 1) / 25 µs. */
	long c = ((long)us * 25 + (prescale + 1) / 2) / (prescale + 1);

	return c < 0 ? 0 : c > 4095 ? 4095 : (int)c;
}

/* The four registers LEDn_ON_L..LEDn_OFF_H of @p level. */
static void pca9685_regs(int level, uint8_t regs[4])
{
	memset(regs, 0, 4);
	if (level <= 0) {
		regs[3] = LED_FULL;
	} else if (level >= 4096) {
		regs[1] = LED_FULL;
	} else {
		regs[2] = (uint8_t)(level & 0xff);
		regs[3] = (uint8_t)(level >> 8);
	}
}

static int pca9685_write(struct pca9685 *p, uint8_t reg, uint8_t value)
{
	return i2c_smbus_write_byte_data(p->fd, reg, value) < 0 ? -errno : 0;
}

int pca9685_set_level(struct pca9685 *p, int ch, int level)
{
	uint8_t regs[4];

	if (ch < 0 || ch >= PCA9685_CHANNELS)
		return -EINVAL;
	level = level < 0 ? 0 : level > 4096 ? 4096 : level;
	if (p->level[ch] == level)
		return 0;
	pca9685_regs(level, regs);
	/* One transfer, so the chip never holds half a new pulse. */
	if (i2c_smbus_write_i2c_block_data(
		    p->fd, (uint8_t)(PCA9685_LED0 + 4 * ch), 4, regs) < 0) {
		p->level[ch] = -1;
		return -errno;
	}
	p->level[ch] = level;
	return 0;
}

int pca9685_set_pulse_us(struct pca9685 *p, int ch, int us)
{
	return pca9685_set_level(p, ch, pca9685_counts(us, p->prescale));
}

int pca9685_all_off(struct pca9685 *p)
{
	int ret = 0;

	/* Each channel's own registers, not ALL_LED_OFF: what reads back is
	 * what the chip does, on any chip or emulation. Whatever we think a
	 * channel holds, it is written. */
	for (int c = 0; c < PCA9685_CHANNELS; c++) {
		int err;

		p->level[c] = -1;
		err = pca9685_set_level(p, c, 0);
		ret = ret ? ret : err;
	}
	return ret;
}

/* The path of @p bus: "1" is /dev/i2c-1. */
static void pca9685_bus_path(const char *bus, char *path, size_t len)
{
	char *end;

	errno = 0;
	(void)strtol(bus, &end, 10);
	if (*bus && !*end && !errno)
		snprintf(path, len, "/dev/i2c-%s", bus);
	else
		snprintf(path, len, "%s", bus);
}

static int pca9685_open_bus(struct pca9685 *p, const char *path, int address,
			    char *err, size_t errlen)
{
	p->fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->fd < 0) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errlen,
				 "%s does not exist: enable I2C (Raspberry Pi "
				 "OS: raspi-config nonint do_i2c 0, or "
				 "dtparam=i2c_arm=on in config.txt; elsewhere "
				 "modprobe i2c-dev); i2cdetect -l lists the "
				 "buses",
				 path);
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
				 "%s: permission denied: add the user to the "
				 "group that owns it (Raspberry Pi OS: "
				 "sudo adduser $USER i2c, then log in again)",
				 path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (ioctl(p->fd, I2C_SLAVE, (unsigned long)address) < 0) {
		int e = errno;

		if (e == EBUSY)
			snprintf(err, errlen,
				 "0x%02x on %s is taken by a kernel driver "
				 "(pwm-pca9685?): use its /sys/class/pwm "
				 "channels, or unbind it",
				 address, path);
		else
			snprintf(err, errlen, "0x%02x on %s: %s", address, path,
				 strerror(e));
		return -e;
	}
	return 0;
}

/* Every channel off, then the prescaler (it takes only while asleep). */
static int pca9685_setup(struct pca9685 *p, int hz)
{
	struct timespec wake = {.tv_nsec = 500000};
	int ret;

	p->prescale = pca9685_prescale(hz);
	if ((ret = pca9685_write(p, PCA9685_MODE1, MODE1_SLEEP | MODE1_AI)) ||
	    (ret = pca9685_all_off(p)) ||
	    (ret = pca9685_write(p, PCA9685_MODE2, MODE2_OUTDRV)) ||
	    (ret = pca9685_write(p, PCA9685_PRE_SCALE, (uint8_t)p->prescale)) ||
	    (ret = pca9685_write(p, PCA9685_MODE1, MODE1_AI)))
		return ret;
	/* The oscillator needs 500 µs before RESTART may be set. */
	nanosleep(&wake, NULL);
	return 0;
}

struct pca9685 *pca9685_open(const char *bus, int address, int hz, char *err,
			     size_t errlen)
{
	struct pca9685 *p = calloc(1, sizeof(*p));
	char path[64];
	int mode1;
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int c = 0; c < PCA9685_CHANNELS; c++)
		p->level[c] = -1;
	pca9685_bus_path(bus, path, sizeof(path));
	if (pca9685_open_bus(p, path, address, err, errlen))
		goto fail;
	/* The first transfer finds out whether anything is there. */
	mode1 = i2c_smbus_read_byte_data(p->fd, PCA9685_MODE1);
	if (mode1 < 0) {
		ret = errno;
		/* A NACK: ENXIO or EREMOTEIO by adapter, ENODEV from i2c-stub.
		 */
		if (ret == ENXIO || ret == EREMOTEIO || ret == EIO ||
		    ret == ENODEV)
			snprintf(err, errlen,
				 "no device answers at 0x%02x on %s: check the "
				 "board's wiring, power and address jumpers "
				 "(i2cdetect -y %s shows what answers)",
				 address, path, bus);
		else
			snprintf(err, errlen, "0x%02x on %s: %s", address, path,
				 strerror(ret));
		goto fail;
	}
	ret = pca9685_setup(p, hz);
	if (ret) {
		snprintf(err, errlen,
			 "setting up the PCA9685 at 0x%02x on %s: %s", address,
			 path, strerror(-ret));
		goto fail;
	}
	return p;

fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return NULL;
}

void pca9685_close(struct pca9685 *p)
{
	if (!p)
		return;
	/* Both, whatever the first does: a chip left running is worse. */
	(void)pca9685_all_off(p);
	(void)pca9685_write(p, PCA9685_MODE1, MODE1_SLEEP | MODE1_AI);
	close(p->fd);
	free(p);
}
