/* SPDX-License-Identifier: MIT */
/*
 * hal.h: the car's hardware behind one interface (Mosquitto's mux.h
 * pattern): the outputs of motor.h out, one distance reading in. The
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

#include "motor.h"

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
	/* Bring the outputs to @p out (motor.h); 0 or -errno. */
	int (*set_outputs)(struct hal *hal, const struct motor_outputs *out);
	/* Latest reading: 0 with *cm, or -ENODATA when none is valid. */
	int (*read_distance)(struct hal *hal, double *cm);
	/* Optional: the simulated car's pose; -ENOTSUP on hardware. */
	int (*get_pose)(struct hal *hal, struct hal_pose *pose);
	/* Stop the motors, drive every output low, release, free. */
	void (*close)(struct hal *hal);
};

struct hal {
	const struct hal_ops *ops;
	/* "sim", "gpiod", "pca9685" (outputs on a PCA9685) or "pwm" (servos
	 * on kernel PWM channels). */
	const char *name;
	/* Readable when a new distance reading waits; -1 without a sensor. */
	int event_fd;
};

struct hal_sim_config {
	enum motor_drivetrain drivetrain;
	/* Distance from the start position to the wall straight ahead. */
	double wall_cm;
	/* Wheel speed at 100 % duty. */
	double max_speed_cm_s;
	/* Differential: the distance between the wheels. */
	double track_cm;
	/* Ackermann: the distance between the axles, and the front wheels'
	 * angle at full lock. */
	double wheelbase_cm;
	double max_steer_deg;
	int sensor_hz;
	/* File that gets a line per output change, or NULL. */
	const char *trace_path;
	/* How long a change of the outputs takes, as on a slow driver (an
	 * I2C PWM board takes about 0.3 ms): the loop waits that long. */
	int latency_us;
};

/* The car's outputs, each on a GPIO line, a PCA9685 channel or (servos)
 * a kernel PWM channel. A motor's
 * pins are IN1, IN2, EN in motor.h's order. */
enum hal_output {
	HAL_LEFT_IN1,
	HAL_LEFT_IN2,
	HAL_LEFT_EN,
	HAL_RIGHT_IN1,
	HAL_RIGHT_IN2,
	HAL_RIGHT_EN,
	/* TB6612's standby line: high to run. */
	HAL_STBY,
	/* Ackermann: the steering servo and the ESC. */
	HAL_STEERING,
	HAL_THROTTLE,
	HAL_OUTPUTS,
};

/* The config key of each output. */
extern const char *const hal_output_keys[HAL_OUTPUTS];

/* An output's spec names a PCA9685 channel with this prefix: "pca9685:3". */
#define HAL_PCA9685_PREFIX "pca9685:"

struct hal_gpiod_config {
	enum motor_drivetrain drivetrain;
	/* The motors' driver, and whether they brake (or coast) at 0. */
	enum motor_driver driver;
	bool brake;
	/* Chip label, path, name or number; NULL or "": the chip whose
	 * lines have the names given below (gpio.h). */
	const char *chip;
	/* Each output: a line (an offset "17" or a name "GPIO17"), a
	 * PCA9685 channel ("pca9685:0"), a kernel PWM channel for a servo
	 * ("pwmchip0:1"), or NULL for none. */
	const char *output[HAL_OUTPUTS];
	/* HC-SR04; both NULL for a car without a distance sensor. */
	const char *trigger;
	const char *echo;
	int pwm_hz;
	int sensor_hz;
	int echo_timeout_ms;
	/* Consumer name shown by gpioinfo. */
	const char *consumer;
	/* The PCA9685 of "pca9685:N" outputs. */
	const char *pca9685_bus;
	int pca9685_address;
	int pca9685_hz;
	/* Servos on kernel PWM channels ("pwmchipN:M" outputs): where the
	 * chips are (/sys/class/pwm), and the pulses' frequency. */
	const char *pwm_sysfs_root;
	int servo_hz;
	/* Ackermann: the servo's and the ESC's pulses at -100, 0, 100. */
	struct motor_pulse steering;
	struct motor_pulse throttle;
};

/**
 * @brief Open the simulated car.
 * @return The HAL (close with hal_close()), or NULL with a message in @p err.
 */
struct hal *hal_sim_open(const struct hal_sim_config *cfg, char *err,
			 size_t errlen);

/**
 * @brief Move @p pose @p dt_s seconds on at constant outputs @p out: the
 * simulated car's kinematics (differential drive, or the bicycle model of
 * an Ackermann car: turn rate v tan(angle) / wheelbase), as exact arcs.
 * Pure: no wall, no clock.
 */
void hal_sim_step(const struct hal_sim_config *cfg,
		  const struct motor_outputs *out, struct hal_pose *pose,
		  double dt_s);

/**
 * @brief Open the car's hardware: its motors or servos on libgpiod lines
 * or PCA9685 channels, its HC-SR04 on libgpiod. Every output starts low.
 * @return The HAL, or NULL with a message in @p err that says what to do
 * (missing chip, line busy and who holds it, permission and which group).
 */
struct hal *hal_gpiod_open(const struct hal_gpiod_config *cfg, char *err,
			   size_t errlen);

static inline int hal_set_outputs(struct hal *hal,
				  const struct motor_outputs *out)
{
	return hal->ops->set_outputs(hal, out);
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
