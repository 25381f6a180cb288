/* SPDX-License-Identifier: MIT */
/*
 * settings.h: every setting of the car agent, as one struct and one option
 * table (config.h), so the INI file, the long options and --help agree.
 */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "iotcar/config.h"
#include "motor.h"

struct agent_settings {
	struct iotcar_common_settings common;
	/* [car] */
	char *id;
	char *hal;
	char *drivetrain;
	char *motor_driver;
	char *motor_zero;
	/* [limits] */
	int ttl_ms;
	int max_ttl_ms;
	int speed_limit;
	int speed;
	double stop_distance_cm;
	int state_interval_ms;
	int telemetry_ms;
	int telemetry_idle_ms;
	int estop_guard_ms;
	/* [link] */
	int link_timeout_ms;
	int max_command_age_ms;
	/* [sensor] */
	int sensor_hz;
	int echo_timeout_ms;
	/* [sim] */
	double sim_wall_cm;
	double sim_max_speed_cm_s;
	double sim_track_cm;
	double sim_wheelbase_cm;
	double sim_max_steer_deg;
	char *sim_trace;
	int sim_latency_us;
	/* [gpio] */
	char *chip;
	char *left_in1;
	char *left_in2;
	char *left_en;
	char *right_in1;
	char *right_in2;
	char *right_en;
	char *stby;
	char *steering;
	char *throttle;
	char *trigger;
	char *echo;
	int pwm_hz;
	char *consumer;
	bool stop_motors;
	/* [pca9685] */
	char *pca9685_bus;
	char *pca9685_address;
	int pca9685_hz;
	/* [servo] */
	int servo_hz;
	char *esc_reverse;
	int steering_left_us;
	int steering_center_us;
	int steering_right_us;
	int throttle_reverse_us;
	int throttle_neutral_us;
	int throttle_forward_us;
	/* The settings came from /etc/iotcar/car-agent.conf (no --config). */
	bool read_installed;
	/* [ha] */
	char *ha_discovery;
	char *ha_prefix;
	char *ha_dashboard_url;
	int ha_birth_delay_ms;
	bool ha_cleanup;
};

/**
 * @brief Load @p s from defaults, --config, environment and argv, then
 * check the settings against each other.
 * @return As iotcar_config_load(): 0 run, 1 exit 0, -EINVAL exit 2 with
 * @p err set.
 */
int settings_load(struct agent_settings *s, int argc, char **argv, char *err,
		  size_t errlen);

/** @brief Free what settings_load() allocated. */
void settings_cleanup(struct agent_settings *s);

/** @brief "sim" or "gpiod": the backend "auto" resolves to. */
const char *settings_hal(const struct agent_settings *s);

/** @brief The [car] drivetrain and motor_driver. */
enum motor_drivetrain settings_drivetrain(const struct agent_settings *s);
enum motor_driver settings_motor_driver(const struct agent_settings *s);

/** @brief The PCA9685's address (the checked [pca9685] address). */
int settings_pca9685_address(const struct agent_settings *s);

#endif
