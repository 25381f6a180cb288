/* SPDX-License-Identifier: MIT */
/*
 * hal.h: the car's hardware behind one interface (Mosquitto's mux.h
 * pattern): two signed wheel duties out, one distance reading in. The
 * simulated backend and the libgpiod backend both implement it, and the rest
 * of the agent cannot tell which one it has.
 *
 * Context: the agent's loop thread; backends may run threads of their own.
 */
#ifndef HAL_H
#define HAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

struct hal;

/** Where the simulated car is; hardware cannot know. */
struct hal_pose {
	double x_cm;
	double y_cm;
	/* 0 is facing the wall, positive turns left (counter-clockwise). */
	double heading_deg;
	double odometer_cm;
};

struct hal_ops {
	/* Set both wheels, -100..100 (negative is backward). */
	int (*set_motors)(struct hal *hal, int left_pct, int right_pct);
	/* Latest reading: 0 with *cm, or -ENODATA when none is valid. */
	int (*read_distance)(struct hal *hal, double *cm);
	/* Optional: the simulated car's pose; -ENOTSUP on hardware. */
	int (*get_pose)(struct hal *hal, struct hal_pose *pose);
	/* Stop the motors, drive every output low, release, free. */
	void (*close)(struct hal *hal);
};

struct hal {
	const struct hal_ops *ops;
	/* "sim" or "gpiod". */
	const char *name;
	/* Readable when a new distance reading waits; -1 without a sensor. */
	int event_fd;
};

struct hal_sim_config {
	/* Distance from the start position to the wall straight ahead. */
	double wall_cm;
	/* Wheel speed at 100 % duty. */
	double max_speed_cm_s;
	/* Distance between the wheels. */
	double track_cm;
	int sensor_hz;
	/* File that gets a line per output change, or NULL. */
	const char *trace_path;
	/* How long a change of the outputs takes, as on a slow driver (an
	 * I2C PWM board takes about 0.3 ms): the loop waits that long. */
	int latency_us;
};

struct hal_gpiod_config {
	/* Chip label, path, name or number; NULL or "": the chip whose
	 * lines have the names given below (gpio.h). */
	const char *chip;
	/* Lines: an offset on the chip ("17") or a line name ("GPIO17"). */
	const char *left_in1;
	const char *left_in2;
	const char *left_en;
	const char *right_in1;
	const char *right_in2;
	const char *right_en;
	/* HC-SR04; both NULL for a car without a distance sensor. */
	const char *trigger;
	const char *echo;
	int pwm_hz;
	int sensor_hz;
	int echo_timeout_ms;
	/* Consumer name shown by gpioinfo. */
	const char *consumer;
};

/**
 * @brief Open the simulated car.
 * @return The HAL (close with hal_close()), or NULL with a message in @p err.
 */
struct hal *hal_sim_open(const struct hal_sim_config *cfg, char *err,
			 size_t errlen);

/**
 * @brief Open the L298N + HC-SR04 car on libgpiod. Every output starts low.
 * @return The HAL, or NULL with a message in @p err that says what to do
 * (missing chip, line busy and who holds it, permission and which group).
 */
struct hal *hal_gpiod_open(const struct hal_gpiod_config *cfg, char *err,
			   size_t errlen);

static inline int hal_set_motors(struct hal *hal, int left_pct, int right_pct)
{
	return hal->ops->set_motors(hal, left_pct, right_pct);
}

static inline int hal_read_distance(struct hal *hal, double *cm)
{
	return hal->ops->read_distance(hal, cm);
}

static inline int hal_get_pose(struct hal *hal, struct hal_pose *pose)
{
	return hal->ops->get_pose ? hal->ops->get_pose(hal, pose) : -ENOTSUP;
}

/** @brief Stop, drive outputs low, release and free. Accepts NULL. */
static inline void hal_close(struct hal *hal)
{
	if (hal)
		hal->ops->close(hal);
}

#endif
