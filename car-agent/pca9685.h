/* SPDX-License-Identifier: MIT */
/*
 * pca9685.h: the NXP PCA9685, 16 channels of 12-bit PWM on I2C, through
 * the kernel's i2c-dev (/dev/i2c-N) and libi2c's SMBus calls. Only byte
 * and I2C-block transfers, which every adapter (and the kernel's i2c-stub)
 * serves.
 *
 * A struct pca9685 belongs to the thread that opened it.
 */
#ifndef PCA9685_H
#define PCA9685_H

#include <stddef.h>

#define PCA9685_CHANNELS 16
/* The internal oscillator. */
#define PCA9685_OSC_HZ 25000000
/* The registers the tests read back. */
#define PCA9685_MODE1 0x00
#define PCA9685_MODE2 0x01
#define PCA9685_LED0 0x06
#define PCA9685_PRE_SCALE 0xfe

struct pca9685;

/** @brief PRE_SCALE for @p hz: round(25 MHz / (4096 hz)) - 1, in 3..255. */
int pca9685_prescale(int hz);

/** @brief The counts (of 4096) a pulse of @p us lasts at @p prescale. */
int pca9685_counts(int us, int prescale);

/**
 * @brief Open the chip at @p address on @p bus ("1" or "/dev/i2c-1"):
 * every channel off, totem-pole outputs, the prescaler for @p hz, awake.
 * @return The chip (close with pca9685_close()), or NULL with @p err
 * saying what to do: I2C not enabled, no device at the address, the
 * address taken by a kernel driver, or the group that may use the bus.
 */
struct pca9685 *pca9685_open(const char *bus, int address, int hz, char *err,
			     size_t errlen);

/**
 * @brief Set channel @p ch to @p level of 4096: 0 is fully off, 4096 fully
 * on. Writes nothing when the channel has that level already.
 * @return 0 or -errno.
 */
int pca9685_set_level(struct pca9685 *p, int ch, int level);

/** @brief Set channel @p ch to pulses of @p us µs. 0 or -errno. */
int pca9685_set_pulse_us(struct pca9685 *p, int ch, int us);

/** @brief Every channel fully off. 0 or -errno. */
int pca9685_all_off(struct pca9685 *p);

/**
 * @brief Every channel off, the oscillator asleep, the bus closed.
 * Accepts NULL.
 */
void pca9685_close(struct pca9685 *p);

#endif
