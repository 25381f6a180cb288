/* SPDX-License-Identifier: MIT */
/*
 * sensors.h: HC-SR04 arithmetic — echo width to distance, range checks, the
 * median of the last three readings — kept apart from libgpiod so that it is
 * unit-tested without hardware.
 */
#ifndef SENSORS_H
#define SENSORS_H

#include <stdbool.h>
#include <stdint.h>

/** The HC-SR04's datasheet range. */
#define SENSORS_MIN_CM 2.0
#define SENSORS_MAX_CM 400.0
/** Datasheet: distance in cm = echo width in microseconds / 58. */
#define SENSORS_US_PER_CM 58.0

/**
 * @brief Convert an echo pulse width to a distance.
 * @return true with @p cm set, false when the width is outside the range
 * the sensor can measure (a reflection too close, or nothing in range).
 */
bool sensors_echo_to_cm(int64_t width_ns, double *cm);

/** Median-of-3 filter over readings that may be missing. */
struct sensors_median {
	double value[3];
	bool valid[3];
	unsigned count;
	unsigned next;
};

void sensors_median_init(struct sensors_median *f);

/**
 * @brief Add a reading (@p valid false for a missing or rejected echo).
 * @return true with @p out set when at least two of the last three readings
 * are valid: their median, or the nearer of two, since a filter on an
 * obstacle sensor must err towards "close".
 */
bool sensors_median_push(struct sensors_median *f, bool valid, double cm,
			 double *out);

#endif
