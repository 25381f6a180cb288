// SPDX-License-Identifier: MIT
/*
 * main.c: car-agent's start-up sequence and nothing else — settings, log,
 * loop and signals, hardware layer, agent, run, tear down.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "discovery.h"
#include "gpio.h"
#include "hal.h"
#include "iotcar/log.h"
#include "iotcar/loop.h"
#include "iotcar/service.h"
#include "settings.h"

struct main_ctx {
	struct iotcar_loop *loop;
	struct agent *agent;
	struct iotcar_service *service;
};

static void main_on_signal(void *ctx, int signo)
{
	struct main_ctx *m = ctx;

	log_info("%s: stopping", strsignal(signo));
	iotcar_service_stopping(m->service);
	if (m->agent)
		agent_stop(m->agent);
	else
		iotcar_loop_stop(m->loop);
}

static struct hal *main_open_hal(const struct agent_settings *s, char *err,
				 size_t errlen)
{
	if (!strcmp(settings_hal(s), "gpiod")) {
		struct hal_gpiod_config gc = {
			.drivetrain = settings_drivetrain(s),
			.driver = settings_motor_driver(s),
			.brake = !strcmp(s->motor_zero, "brake"),
			.chip = s->chip,
			.output = {s->left_in1, s->left_in2, s->left_en,
				   s->right_in1, s->right_in2, s->right_en,
				   s->stby, s->steering, s->throttle},
			.trigger = s->trigger,
			.echo = s->echo,
			.pwm_hz = s->pwm_hz,
			.sensor_hz = s->sensor_hz,
			.echo_timeout_ms = s->echo_timeout_ms,
			.consumer = s->consumer,
			.pca9685_bus = s->pca9685_bus,
			.pca9685_address = settings_pca9685_address(s),
			.pca9685_hz = s->pca9685_hz,
			.pwm_sysfs_root = "/sys/class/pwm",
			.servo_hz = s->servo_hz,
			.steering = {s->steering_left_us, s->steering_center_us,
				     s->steering_right_us},
			.throttle = {s->throttle_reverse_us,
				     s->throttle_neutral_us,
				     s->throttle_forward_us},
		};
		return hal_gpiod_open(&gc, err, errlen);
	} else {
		struct hal_sim_config sc = {
			.drivetrain = settings_drivetrain(s),
			.wheelbase_cm = s->sim_wheelbase_cm,
			.max_steer_deg = s->sim_max_steer_deg,
			.wall_cm = s->sim_wall_cm,
			.max_speed_cm_s = s->sim_max_speed_cm_s,
			.track_cm = s->sim_track_cm,
			.sensor_hz = s->sensor_hz,
			.trace_path = s->sim_trace,
			.latency_us = s->sim_latency_us,
		};
		return hal_sim_open(&sc, err, errlen);
	}
}

/*
 * --stop-motors: take every line low and release it, whatever the agent
 * left behind — on a Raspberry Pi kernel a released output keeps its level
 * (persist_gpio_outputs), so a killed agent would leave the motors on.
 */
static int main_stop_motors(const struct agent_settings *s)
{
	char err[512];
	struct hal *hal;

	if (strcmp(settings_hal(s), "gpiod") != 0) {
		log_info("--stop-motors: no [gpio] outputs configured: nothing "
			 "to do");
		return 0;
	}
	hal = main_open_hal(s, err, sizeof(err));
	if (!hal) {
		log_error("--stop-motors: %s", err);
		return 1;
	}
	hal_close(hal);
	log_info("--stop-motors: every line driven low and released, every "
		 "PCA9685 and kernel PWM channel switched off");
	return 0;
}

/* Say loudly when a released line keeps its level (Raspberry Pi OS). */
static void main_check_persist(void)
{
	char param[300];

	if (gpio_outputs_persist("/sys/module", param, sizeof(param)))
		log_warning("%s is Y: this kernel keeps a GPIO output driven "
			    "after the program that set it exits, so a "
			    "crashed car-agent leaves the motors running until "
			    "its service's ExecStopPost (car-agent "
			    "--stop-motors) runs. Add dtparam=strict_gpiod to "
			    "/boot/firmware/config.txt and reboot "
			    "(docs/hardware.md)",
			    param);
}

/* ==== --ha-cleanup: remove the car's discovery configs and exit ==== */

/* Like mosquitto_pub, a one-shot command gives up on a missing broker. */
#define MAIN_CLEANUP_TIMEOUT_MS 10000

struct main_cleanup {
	struct iotcar_loop *loop;
	struct iotcar_mqtt *mqtt;
	struct iotcar_timer *timer;
	struct discovery_car car;
	const char *broker;
	bool connected;
	int failed;
	int sent;
};

static void main_cleanup_emit(void *ctx, const char *topic, const char *payload,
			      size_t len)
{
	struct main_cleanup *c = ctx;

	if (iotcar_mqtt_publish(c->mqtt, topic, payload, len, 1, true))
		c->failed++;
	else
		c->sent++;
}

static void main_cleanup_connected(void *ctx)
{
	struct main_cleanup *c = ctx;

	if (c->connected)
		return;
	c->connected = true;
	if (discovery_cleanup(&c->car, main_cleanup_emit, c))
		c->failed++;
	/* Finish outside the callback: the stop waits for every PUBACK. */
	iotcar_timer_start(c->timer, 1, 0);
}

static void main_cleanup_done(void *ctx)
{
	struct main_cleanup *c = ctx;

	if (!c->connected) {
		log_error("no broker at %s within %d s", c->broker,
			  MAIN_CLEANUP_TIMEOUT_MS / 1000);
		c->failed++;
	}
	if (iotcar_mqtt_stop(c->mqtt, 5000))
		c->failed++;
	iotcar_loop_stop(c->loop);
}

static int main_ha_cleanup(struct iotcar_loop *loop,
			   const struct agent_settings *s,
			   const struct iotcar_mqtt_opts *mo)
{
	static const struct iotcar_mqtt_handlers handlers = {
		.connected = main_cleanup_connected,
	};
	struct main_cleanup c = {
		.loop = loop,
		.car = {.prefix = s->common.prefix,
			.id = s->id,
			.ha_prefix = s->ha_prefix},
		.broker = s->common.broker,
	};
	int ret = 1;

	c.timer = iotcar_timer_new(loop, main_cleanup_done, &c);
	c.mqtt = iotcar_mqtt_new(loop, mo, &handlers, &c);
	if (!c.timer || !c.mqtt || iotcar_mqtt_start(c.mqtt)) {
		log_error("cannot start MQTT: %s", strerror(errno));
		goto out;
	}
	iotcar_timer_start(c.timer, MAIN_CLEANUP_TIMEOUT_MS, 0);
	if (iotcar_loop_run(loop)) {
		log_error("event loop failed: %s", strerror(errno));
	} else if (c.failed || c.sent == 0) {
		log_error("Home Assistant cleanup of %s under %s/ did not "
			  "finish",
			  s->id, s->ha_prefix);
	} else {
		log_info("removed %d retained messages of %s: its Home "
			 "Assistant discovery configs under %s/, its status "
			 "and state",
			 c.sent, s->id, s->ha_prefix);
		ret = 0;
	}
out:
	iotcar_mqtt_free(c.mqtt);
	iotcar_timer_free(c.timer);
	return ret;
}

/* ==== The car ==== */

static int main_run(const struct agent_settings *s)
{
	static const int signals[] = {SIGINT, SIGTERM};
	struct main_ctx m = {0};
	struct iotcar_mqtt_opts mo;
	char password[256];
	char client_id[64];
	char err[512];
	struct hal *hal = NULL;
	int ret = 1;

	m.loop = iotcar_loop_new();
	if (!m.loop) {
		log_error("cannot create the event loop: %s", strerror(errno));
		return 1;
	}
	/* Before any thread exists, so that all of them block the signals. */
	if (iotcar_loop_watch_signals(m.loop, signals, 2, main_on_signal, &m)) {
		log_error("cannot watch signals");
		goto out;
	}
	/* The cleanup's own id: it must not push the running car off. */
	snprintf(client_id, sizeof(client_id), "iotcar-car-%s%s", s->id,
		 s->ha_cleanup ? "-cleanup" : "");
	if (iotcar_mqtt_opts_from_settings(&s->common, client_id, &mo, password,
					   sizeof(password), err,
					   sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	if (s->ha_cleanup) {
		ret = main_ha_cleanup(m.loop, s, &mo);
		explicit_bzero(password, sizeof(password));
		goto out;
	}
	hal = main_open_hal(s, err, sizeof(err));
	if (!hal) {
		log_error("%s", err);
		goto out;
	}
	if (!strcmp(settings_hal(s), "gpiod"))
		main_check_persist();
	m.agent = agent_new(m.loop, s, hal, &mo);
	explicit_bzero(password, sizeof(password));
	if (!m.agent || agent_start(m.agent)) {
		log_error("cannot start the agent: %s", strerror(errno));
		goto out;
	}
	m.service = iotcar_service_start(m.loop);
	if (!m.service) {
		log_error("cannot start the watchdog: %s", strerror(errno));
		goto out;
	}
	if (iotcar_loop_run(m.loop))
		log_error("event loop failed: %s", strerror(errno));
	ret = agent_exit_code(m.agent);
out:
	iotcar_service_free(m.service);
	agent_free(m.agent);
	hal_close(hal);
	iotcar_loop_free(m.loop);
	return ret;
}

int main(int argc, char **argv)
{
	struct agent_settings s = {0};
	enum iotcar_log_level level = IOTCAR_LOG_INFO;
	char err[512];
	int ret;

	ret = settings_load(&s, argc, argv, err, sizeof(err));
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "car-agent: %s\n", err);
		settings_cleanup(&s);
		return ret < 0 ? 2 : 0;
	}
	iotcar_log_level_parse(s.common.log_level, &level);
	iotcar_log_init("car-agent", level);
	/* A reader of --sim-trace that goes away must not kill the car. */
	signal(SIGPIPE, SIG_IGN);
	ret = s.stop_motors ? main_stop_motors(&s) : main_run(&s);
	settings_cleanup(&s);
	return ret;
}
