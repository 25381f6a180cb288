// SPDX-License-Identifier: MIT
/*
 * settings.c: the car agent's option table; see settings.h.
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpio.h"
#include "iotcar/payload.h"
#include "iotcar/topic.h"

#define AS(field) offsetof(struct agent_settings, field)

/* 0x03..0x77, hexadecimal with 0x or decimal: the 7-bit addresses I2C
 * leaves to devices. */
static bool settings_is_i2c_address(const char *text)
{
	char *end;
	long v;

	if (!text || !*text)
		return false;
	errno = 0;
	v = strtol(text, &end, 0);
	return !*end && !errno && v >= 0x03 && v <= 0x77;
}

enum motor_drivetrain settings_drivetrain(const struct agent_settings *s)
{
	return strcmp(s->drivetrain, "ackermann") ? MOTOR_DIFFERENTIAL
						  : MOTOR_ACKERMANN;
}

enum motor_driver settings_motor_driver(const struct agent_settings *s)
{
	return !strcmp(s->motor_driver, "two_pin")  ? MOTOR_TWO_PIN
	       : !strcmp(s->motor_driver, "tb6612") ? MOTOR_TB6612
						    : MOTOR_L298N;
}

int settings_pca9685_address(const struct agent_settings *s)
{
	return (int)strtol(s->pca9685_address, NULL, 0);
}

static const struct iotcar_option agent_options[] = {
	{.key = "id",
	 .section = "car",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(id),
	 .def = "car1",
	 .check = iotcar_topic_is_valid_id,
	 .check_help = "a-z, 0-9, '_' and '-', 1 to 32, starting with a "
		       "letter or digit; not 'all' or 'bridge'",
	 .arg = "ID",
	 .help = "this car's id in every topic"},
	{.key = "hal",
	 .section = "car",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(hal),
	 .def = "auto",
	 .choices = "auto|sim|gpiod",
	 .help = "hardware: the simulated car, or the real one (libgpiod "
		 "lines, PCA9685 channels); auto picks gpiod when the [gpio] "
		 "section names a chip or an output"},
	{.key = "drivetrain",
	 .section = "car",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(drivetrain),
	 .def = "differential",
	 .choices = "differential|ackermann",
	 .help = "differential: steer by the wheels' difference (left/right "
		 "turn in place); ackermann: a steering servo and a throttle "
		 "(left/right turn while moving)"},
	{.key = "motor_driver",
	 .section = "car",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(motor_driver),
	 .def = "l298n",
	 .choices = "l298n|two_pin|tb6612",
	 .help = "the motors' driver: l298n (IN1/IN2 direction, PWM on EN), "
		 "two_pin (PWM on IN1/IN2, no enable: DRV8833, L9110S), "
		 "tb6612 (IN1/IN2, PWM on EN, stby low when a safety rule "
		 "stops the car)"},
	{.key = "motor_zero",
	 .section = "car",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(motor_zero),
	 .def = "coast",
	 .choices = "coast|brake",
	 .help = "a motor at 0: coast (every pin low) or brake (both inputs "
		 "high)"},
	{.key = "ttl_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(ttl_ms),
	 .def = "500",
	 .min = 50,
	 .max = 60000,
	 .arg = "MS",
	 .help = "deadman: how long a drive command lives when "
		 "it gives no ms"},
	{.key = "max_ttl_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(max_ttl_ms),
	 .def = "2000",
	 .min = 50,
	 .max = 60000,
	 .arg = "MS",
	 .help = "longest life a drive command may ask for"},
	{.key = "speed_limit",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(speed_limit),
	 .def = "100",
	 .min = 0,
	 .max = 100,
	 .arg = "PCT",
	 .help = "speed limit at start, 0..100 % of full "
		 "duty"},
	{.key = "speed",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(speed),
	 .def = "50",
	 .min = 0,
	 .max = 100,
	 .arg = "PCT",
	 .help = "speed at start of a drive text that gives none (forward, "
		 "left ...); set {\"speed\": N} changes it"},
	{.key = "stop_distance_cm",
	 .section = "limits",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(stop_distance_cm),
	 .def = "25",
	 .min = 2,
	 .max = 400,
	 .arg = "CM",
	 .help = "forward motion is refused closer than this"},
	{.key = "state_interval_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(state_interval_ms),
	 .def = "5000",
	 .min = 100,
	 .max = 3600000,
	 .arg = "MS",
	 .help = "state is republished at least this often"},
	{.key = "telemetry_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(telemetry_ms),
	 .def = "1000",
	 .min = 100,
	 .max = 3600000,
	 .arg = "MS",
	 .help = "telemetry period"},
	{.key = "telemetry_idle_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(telemetry_idle_ms),
	 .def = "5000",
	 .min = 100,
	 .max = 3600000,
	 .arg = "MS",
	 .help = "telemetry period while the car is idle (stopped, no drive "
		 "command for 2 s; it pings half as often then too); the "
		 "slower of this and telemetry_ms"},
	{.key = "estop_guard_ms",
	 .section = "limits",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(estop_guard_ms),
	 .def = "1000",
	 .min = 0,
	 .max = 60000,
	 .arg = "MS",
	 .help = "a bare estop OFF this soon after the latest ON is refused "
		 "(it may have been sent before it); OFF <latch> is not"},
	{.key = "link_timeout_ms",
	 .section = "link",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(link_timeout_ms),
	 .def = "1000",
	 .min = 200,
	 .max = 60000,
	 .arg = "MS",
	 .help = "hearing nothing for this long is link loss: stop, "
		 "reconnect; the car pings itself every quarter of it"},
	{.key = "max_command_age_ms",
	 .section = "link",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(max_command_age_ms),
	 .def = "1000",
	 .min = 100,
	 .max = IOTCAR_MAX_AGE_MS_MAX,
	 .arg = "MS",
	 .help = "a drive command that may be older than this is refused "
		 "(stale)"},
	{.key = "sensor_hz",
	 .section = "sensor",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(sensor_hz),
	 .def = "15",
	 .min = 1,
	 .max = 40,
	 .arg = "HZ",
	 .help = "distance readings per second (the HC-SR04 "
		 "needs 60 ms per cycle)"},
	{.key = "echo_timeout_ms",
	 .section = "sensor",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(echo_timeout_ms),
	 .def = "30",
	 .min = 5,
	 .max = 100,
	 .arg = "MS",
	 .help = "longest wait for each echo edge"},
	{.key = "sim_wall_cm",
	 .section = "sim",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(sim_wall_cm),
	 .def = "200",
	 .min = 1,
	 .max = 1000000,
	 .arg = "CM",
	 .help = "simulated wall straight ahead of the start"},
	{.key = "sim_max_speed_cm_s",
	 .section = "sim",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(sim_max_speed_cm_s),
	 .def = "60",
	 .min = 1,
	 .max = 1000,
	 .arg = "CM_S",
	 .help = "simulated wheel speed at full duty"},
	{.key = "sim_track_cm",
	 .section = "sim",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(sim_track_cm),
	 .def = "14",
	 .min = 1,
	 .max = 200,
	 .arg = "CM",
	 .help = "simulated distance between the wheels"},
	{.key = "sim_wheelbase_cm",
	 .section = "sim",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(sim_wheelbase_cm),
	 .def = "25",
	 .min = 1,
	 .max = 500,
	 .arg = "CM",
	 .help = "simulated Ackermann car: distance between the axles"},
	{.key = "sim_max_steer_deg",
	 .section = "sim",
	 .type = IOTCAR_OPT_DOUBLE,
	 .offset = AS(sim_max_steer_deg),
	 .def = "30",
	 .min = 1,
	 .max = 60,
	 .arg = "DEG",
	 .help = "simulated Ackermann car: the front wheels' angle at full "
		 "lock"},
	{.key = "sim_trace",
	 .section = "sim",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(sim_trace),
	 .arg = "FILE",
	 .help = "append a line per motor output change: time left right"},
	{.key = "sim_latency_us",
	 .section = "sim",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(sim_latency_us),
	 .def = "0",
	 .min = 0,
	 .max = 999999,
	 .arg = "US",
	 .help = "each change of the simulated motors takes this long, as on "
		 "a slow driver board (the loop waits)"},
	{.key = "chip",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(chip),
	 .arg = "CHIP",
	 .help = "GPIO chip: label (Pi 5: pinctrl-rp1, Pi 4: "
		 "pinctrl-bcm2711), path or name (gpiodetect); unset: the chip "
		 "whose lines have the names below"},
	{.key = "left_in1",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(left_in1),
	 .arg = "LINE",
	 .help = "left motor IN1: a line (offset or name), or a PCA9685 "
		 "channel (pca9685:0); so are the outputs below"},
	{.key = "left_in2",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(left_in2),
	 .arg = "LINE",
	 .help = "left motor IN2"},
	{.key = "left_en",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(left_en),
	 .arg = "LINE",
	 .help = "left motor enable (PWM)"},
	{.key = "right_in1",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(right_in1),
	 .arg = "LINE",
	 .help = "right motor IN1"},
	{.key = "right_in2",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(right_in2),
	 .arg = "LINE",
	 .help = "right motor IN2"},
	{.key = "right_en",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(right_en),
	 .arg = "LINE",
	 .help = "right motor enable (PWM)"},
	{.key = "stby",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(stby),
	 .arg = "LINE",
	 .help = "tb6612: the standby line (unset when tied high)"},
	{.key = "steering",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(steering),
	 .arg = "CHANNEL",
	 .help = "ackermann: the steering servo: a PCA9685 channel "
		 "(pca9685:N) or a kernel PWM channel (pwmchipN:M, "
		 "/sys/class/pwm)"},
	{.key = "throttle",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(throttle),
	 .arg = "CHANNEL",
	 .help = "ackermann: the ESC (pca9685:N or pwmchipN:M); unset: the "
		 "left motor's pins drive the car through an H-bridge"},
	{.key = "trigger",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(trigger),
	 .arg = "LINE",
	 .help = "HC-SR04 trigger"},
	{.key = "echo",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(echo),
	 .arg = "LINE",
	 .help = "HC-SR04 echo (through a 5 V to 3.3 V divider)"},
	{.key = "pwm_hz",
	 .section = "gpio",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(pwm_hz),
	 .def = "100",
	 .min = 10,
	 .max = 2000,
	 .arg = "HZ",
	 .help = "software PWM frequency of the enable lines"},
	{.key = "consumer",
	 .section = "gpio",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(consumer),
	 .def = "iotcar",
	 .arg = "NAME",
	 .help = "consumer name gpioinfo shows on our lines"},
	{.key = "stop_motors",
	 .section = "gpio",
	 .type = IOTCAR_OPT_BOOL,
	 .offset = AS(stop_motors),
	 .def = "false",
	 .help = "drive every line of the [gpio] section low, release them "
		 "and exit: the service's ExecStopPost, after any exit"},
	{.key = "pca9685_bus",
	 .section = "pca9685",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(pca9685_bus),
	 .def = "1",
	 .arg = "BUS",
	 .help = "the PCA9685's I2C bus: a number (1 is /dev/i2c-1, the Pi's "
		 "header) or a path"},
	{.key = "pca9685_address",
	 .section = "pca9685",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(pca9685_address),
	 .def = "0x40",
	 .check = settings_is_i2c_address,
	 .check_help = "an I2C address 0x03..0x77",
	 .arg = "ADDR",
	 .help = "its address (0x40; Adafruit's motor HAT: 0x60)"},
	{.key = "pca9685_hz",
	 .section = "pca9685",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(pca9685_hz),
	 .def = "50",
	 .min = 24,
	 .max = 1526,
	 .arg = "HZ",
	 .help = "its PWM frequency: 50..60 for servos and ESCs, up to 1526 "
		 "for motors alone"},
	{.key = "servo_hz",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(servo_hz),
	 .def = "50",
	 .min = 40,
	 .max = 400,
	 .arg = "HZ",
	 .help = "pulses per second on kernel PWM channels (pwmchipN:M); on a "
		 "PCA9685, pca9685_hz"},
	{.key = "esc_reverse",
	 .section = "servo",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(esc_reverse),
	 .def = "direct",
	 .choices = "direct|double_tap",
	 .help = "ackermann: an ESC that reverses at once, or (double_tap) "
		 "one in forward/brake/reverse mode: 100 ms of reverse (it "
		 "brakes), 100 ms of neutral, then reverse"},
	{.key = "steering_left_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(steering_left_us),
	 .def = "1000",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "steering pulse at full left"},
	{.key = "steering_center_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(steering_center_us),
	 .def = "1500",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "steering pulse straight ahead"},
	{.key = "steering_right_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(steering_right_us),
	 .def = "2000",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "steering pulse at full right (below left for a reversed "
		 "servo)"},
	{.key = "throttle_reverse_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(throttle_reverse_us),
	 .def = "1000",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "ESC pulse at full reverse"},
	{.key = "throttle_neutral_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(throttle_neutral_us),
	 .def = "1500",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "ESC pulse at neutral: what every safety stop sends"},
	{.key = "throttle_forward_us",
	 .section = "servo",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(throttle_forward_us),
	 .def = "2000",
	 .min = 500,
	 .max = 2500,
	 .arg = "US",
	 .help = "ESC pulse at full forward"},
	{.key = "ha_discovery",
	 .section = "ha",
	 .type = IOTCAR_OPT_CHOICE,
	 .offset = AS(ha_discovery),
	 .def = "entity",
	 .choices = "off|entity|device",
	 .help = "Home Assistant MQTT discovery: a config per entity, one "
		 "per device (HA 2024.12+), or none"},
	{.key = "ha_prefix",
	 .section = "ha",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(ha_prefix),
	 .def = "homeassistant",
	 .check = iotcar_topic_is_valid_prefix,
	 .check_help = "1 to 4 topic levels without '+', '#' or an empty "
		       "level",
	 .arg = "PREFIX",
	 .help = "Home Assistant's discovery prefix"},
	{.key = "ha_dashboard_url",
	 .section = "ha",
	 .type = IOTCAR_OPT_STRING,
	 .offset = AS(ha_dashboard_url),
	 .def = "auto",
	 .arg = "URL",
	 .help = "the device's link in Home Assistant: auto is the web "
		 "dashboard on the broker's host (https://HOST:8443/, "
		 "http://127.0.0.1:9001/ for a broker on loopback); none for "
		 "no link"},
	{.key = "ha_birth_delay_ms",
	 .section = "ha",
	 .type = IOTCAR_OPT_INT,
	 .offset = AS(ha_birth_delay_ms),
	 .def = "5000",
	 .min = 0,
	 .max = 600000,
	 .arg = "MS",
	 .help = "when Home Assistant says it is online, announce again after "
		 "a random delay of up to this"},
	{.key = "ha_cleanup",
	 .section = "ha",
	 .type = IOTCAR_OPT_BOOL,
	 .offset = AS(ha_cleanup),
	 .def = "false",
	 .help = "remove every discovery config of this car from the broker, "
		 "then exit (touches no GPIO)"},
};

static struct iotcar_config_spec settings_spec(struct agent_settings *s,
					       struct iotcar_option_group g[2])
{
	struct iotcar_config_spec spec = {
		.program = "car-agent",
		.usage = "[OPTION]...",
		.summary = "The iotcar car agent: drives the car from MQTT "
			   "commands and publishes its state.",
		.groups = g,
		.ngroups = 2,
		.no_operands = true,
		.read_installed = &s->read_installed,
	};

	g[0] = (struct iotcar_option_group){
		iotcar_common_options, iotcar_common_options_count, &s->common};
	g[1] = (struct iotcar_option_group){
		agent_options, sizeof(agent_options) / sizeof(agent_options[0]),
		s};
	return spec;
}

const char *settings_hal(const struct agent_settings *s)
{
	if (strcmp(s->hal, "auto") != 0)
		return s->hal;
	return s->chip || s->left_in1 || s->steering ? "gpiod" : "sim";
}

static int settings_check(const struct agent_settings *s, char *err,
			  size_t errlen)
{
	if (s->ttl_ms > s->max_ttl_ms) {
		snprintf(err, errlen, "--ttl-ms %d is above --max-ttl-ms %d",
			 s->ttl_ms, s->max_ttl_ms);
		return -EINVAL;
	}
	if (s->max_command_age_ms < s->link_timeout_ms / 2) {
		snprintf(err, errlen,
			 "--max-command-age-ms %d is under half of "
			 "--link-timeout-ms %d: the car pings every quarter of "
			 "the timeout, and could not prove any command fresh",
			 s->max_command_age_ms, s->link_timeout_ms);
		return -EINVAL;
	}
	/* An installed car left unconfigured must not pass for a car. */
	if (s->read_installed && !s->stop_motors && !s->ha_cleanup &&
	    !strcmp(s->hal, "auto") && !strcmp(settings_hal(s), "sim") &&
	    gpio_count_chips() > 0) {
		snprintf(err, errlen,
			 "the installed car-agent.conf names no [gpio] lines, "
			 "and this machine has GPIO chips: set them "
			 "(docs/hardware.md), or hal = sim in [car] for the "
			 "simulated car");
		return -EINVAL;
	}
	if (!strcmp(settings_hal(s), "gpiod") && !s->left_in1 && !s->steering) {
		snprintf(err, errlen,
			 "--hal gpiod needs the outputs of the [gpio] section "
			 "(left_in1 ..., or steering)");
		return -EINVAL;
	}
	return 0;
}

int settings_load(struct agent_settings *s, int argc, char **argv, char *err,
		  size_t errlen)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);
	int nargs = 0;
	int ret = iotcar_config_load(&spec, argc, argv, &nargs, err, errlen);

	return ret ? ret : settings_check(s, err, errlen);
}

void settings_cleanup(struct agent_settings *s)
{
	struct iotcar_option_group groups[2];
	struct iotcar_config_spec spec = settings_spec(s, groups);

	iotcar_config_cleanup(&spec);
}
