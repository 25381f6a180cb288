/* SPDX-License-Identifier: MIT */
/*
 * pwm_sysfs.h: one channel of a kernel PWM chip through /sys/class/pwm
 * (a Pi's pwm-2chan overlay, a Pi 5's RP1 PWM, a PCA9685 bound to the
 * kernel's pwm-pca9685): export, period, duty cycle, enable.
 *
 * A struct pwm_sysfs belongs to the thread that opened it.
 */
#ifndef PWM_SYSFS_H
#define PWM_SYSFS_H

#include <stdbool.h>
#include <stddef.h>

/* An output's spec names a sysfs PWM channel so: "pwmchip0:1". */
#define PWM_SYSFS_PREFIX "pwmchip"

struct pwm_sysfs;

/**
 * @brief Parse @p spec ("pwmchip2:1") into the chip's number and the
 * channel. Returns true when it is such a spec.
 */
bool pwm_sysfs_spec(const char *spec, int *chip, int *channel);

/**
 * @brief Export channel @p channel of pwmchip@p chip under @p root
 * (/sys/class/pwm), set its period to @p hz, duty 0, enabled.
 * @return The channel (close with pwm_sysfs_close()), or NULL with @p err
 * saying what to do: no such chip (the overlay), no such channel, or
 * permission.
 */
struct pwm_sysfs *pwm_sysfs_open(const char *root, int chip, int channel,
				 int hz, char *err, size_t errlen);

/** @brief Pulses of @p us µs from the next period on. 0 or -errno. */
int pwm_sysfs_set_pulse_us(struct pwm_sysfs *p, int us);

/** @brief Duty 0, disabled, unexported, freed. Accepts NULL. */
void pwm_sysfs_close(struct pwm_sysfs *p);

#endif
