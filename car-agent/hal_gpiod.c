// SPDX-License-Identifier: MIT
/*
 * hal_gpiod.c: the GPIO backend of hal.h, on gpio.h (libgpiod 1.6 or 2.x),
 * and the only file that knows pin numbers exist.
 *
 * Motors: an L298N-style driver, two direction lines (IN1/IN2) and an
 * enable line (EN) per motor. libgpiod has no PWM, so one thread owns all
 * six motor lines and runs software PWM on the EN lines; the loop thread
 * only posts the wanted duties and wakes it, so a command reaches the pins
 * in microseconds, not at the next PWM period.
 *
 * Distance: an HC-SR04 on a trigger line and an echo line. A second thread
 * triggers it about 15 times a second and times the echo pulse with the
 * kernel's edge-event timestamps, so scheduling delays do not skew the
 * measurement; readings pass the median-of-3 filter and wake the loop
 * through an eventfd.
 *
 * Every output is requested low with a pull-down, set low before release,
 * and released on every exit path. Each thread owns the lines it uses.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gpio.h"
#include "hal.h"
#include "sensors.h"

enum gpiod_role {
	ROLE_LEFT_IN1,
	ROLE_LEFT_IN2,
	ROLE_LEFT_EN,
	ROLE_RIGHT_IN1,
	ROLE_RIGHT_IN2,
	ROLE_RIGHT_EN,
	ROLE_TRIGGER,
	ROLE_ECHO,
	ROLE_COUNT,
};

static const char *const role_keys[ROLE_COUNT] = {
	"left_in1",  "left_in2", "left_en", "right_in1",
	"right_in2", "right_en", "trigger", "echo",
};

struct hal_gpiod {
	struct hal hal;
	struct gpio_chip *chip;
	/* The requested lines; NULL for those not (yet) requested. */
	struct gpio_line *lines[ROLE_COUNT];
	unsigned offsets[ROLE_COUNT];
	bool has_sensor;
	int pwm_hz;
	int sensor_hz;
	int echo_timeout_ms;

	pthread_mutex_t lock;
	/* Signalled on a new command or quit; waits use CLOCK_MONOTONIC. */
	pthread_cond_t cond;
	/* Wanted duties, -100..100; under lock. */
	int want[2];
	bool changed;
	bool quit;
	/* First errno a thread hit writing a line; under lock. */
	int fault;
	pthread_t pwm_thread;
	bool pwm_started;

	pthread_t sensor_thread;
	bool sensor_started;
	/* eventfd that tells the sensor thread to stop. */
	int stop_fd;
	/* Latest filtered reading; under lock. */
	bool reading_valid;
	double reading_cm;
	struct sensors_median median;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000};
	return ts;
}

static void gpiod_fault(struct hal_gpiod *g, int err)
{
	if (!g->fault)
		g->fault = err ? err : EIO;
}

/* ==== Motors: the PWM thread owns the six motor lines ==== */

static void pwm_set(struct hal_gpiod *g, enum gpiod_role role, int value)
{
	int ret = gpio_line_set(g->lines[role], value);

	if (ret)
		gpiod_fault(g, -ret);
}

/* IN1/IN2 for one motor: forward 1/0, backward 0/1, stopped 0/0 (coast). */
static void pwm_direction(struct hal_gpiod *g, int motor, int duty)
{
	enum gpiod_role in1 = motor ? ROLE_RIGHT_IN1 : ROLE_LEFT_IN1;

	pwm_set(g, in1, duty > 0);
	pwm_set(g, in1 + 1, duty < 0);
}

static enum gpiod_role pwm_en(int motor)
{
	return motor ? ROLE_RIGHT_EN : ROLE_LEFT_EN;
}

/*
 * Wait until @p deadline_ns or a new command. Returns true when the period
 * must restart (new command or quit). Called with the lock held.
 */
static bool pwm_wait(struct hal_gpiod *g, int64_t deadline_ns)
{
	struct timespec ts = ns_ts(deadline_ns);

	while (!g->changed && !g->quit) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) ==
		    ETIMEDOUT)
			return false;
	}
	return true;
}

/*
 * One PWM period from @p start; returns early on a new command. Lock held.
 * Periods follow each other on a fixed grid, so a late wake-up shortens
 * the low time after it instead of stretching every period: the duty and
 * the frequency stay right on a busy machine.
 */
static void pwm_period(struct hal_gpiod *g, const int duty[2], int64_t start,
		       int64_t period)
{
	int64_t off[2];
	int first = duty[0] <= duty[1] ? 0 : 1;

	for (int m = 0; m < 2; m++) {
		pwm_set(g, pwm_en(m), duty[m] > 0);
		off[m] = start + period * duty[m] / 100;
	}
	/* Switch off the shorter pulse first, then the longer one. */
	for (int i = 0; i < 2; i++) {
		int m = i ? 1 - first : first;

		if (duty[m] == 0 || duty[m] == 100)
			continue;
		/* Already late: no wait, which would make it later still. */
		if (now_ns() < off[m] && pwm_wait(g, off[m]))
			return;
		pwm_set(g, pwm_en(m), 0);
	}
	pwm_wait(g, start + period);
}

static void *pwm_main(void *arg)
{
	struct hal_gpiod *g = arg;
	int applied[2] = {0, 0};
	int64_t period = 1000000000LL / g->pwm_hz;
	int64_t start = now_ns();

	pthread_mutex_lock(&g->lock);
	while (!g->quit) {
		int duty[2];

		if (g->changed) {
			g->changed = false;
			start = now_ns();
			for (int m = 0; m < 2; m++) {
				/* Enable off while the direction flips. */
				if ((applied[m] > 0) != (g->want[m] > 0) ||
				    (applied[m] < 0) != (g->want[m] < 0))
					pwm_set(g, pwm_en(m), 0);
				pwm_direction(g, m, g->want[m]);
				applied[m] = g->want[m];
			}
		}
		for (int m = 0; m < 2; m++)
			duty[m] = abs(applied[m]);
		if ((duty[0] == 0 || duty[0] == 100) &&
		    (duty[1] == 0 || duty[1] == 100)) {
			/* Nothing to modulate: set the levels and sleep. */
			pwm_set(g, ROLE_LEFT_EN, duty[0] > 0);
			pwm_set(g, ROLE_RIGHT_EN, duty[1] > 0);
			while (!g->changed && !g->quit)
				pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		pwm_period(g, duty, start, period);
		start += period;
		/* A whole period behind (a stall): a new grid, not a burst. */
		if (now_ns() - start > period)
			start = now_ns();
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static int gpiod_set_motors(struct hal *hal, int left, int right)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	int fault;

	pthread_mutex_lock(&g->lock);
	if (g->want[0] != left || g->want[1] != right) {
		g->want[0] = left;
		g->want[1] = right;
		g->changed = true;
		pthread_cond_broadcast(&g->cond);
	}
	fault = g->fault;
	pthread_mutex_unlock(&g->lock);
	return fault ? -fault : 0;
}

/* ==== Distance: the sensor thread owns trigger and echo ==== */

/* Wait for an echo edge, @p rising or not, until @p deadline_ns. */
static int sensor_edge(struct hal_gpiod *g, bool rising, int64_t deadline_ns,
		       int64_t *ts)
{
	struct gpio_line *echo = g->lines[ROLE_ECHO];
	struct pollfd pfd[2] = {
		{.fd = gpio_line_fd(echo), .events = POLLIN},
		{.fd = g->stop_fd, .events = POLLIN},
	};

	for (;;) {
		int64_t left = deadline_ns - now_ns();
		bool was_rising;
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(pfd, 2, (int)((left + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
		if (n <= 0 || !pfd[0].revents)
			continue;
		n = gpio_line_read_edge(echo, &was_rising, ts);
		if (n)
			return n;
		if (was_rising == rising)
			return 0;
	}
}

/* Throw away edges left from an earlier cycle. */
static void sensor_drain(struct hal_gpiod *g)
{
	struct gpio_line *echo = g->lines[ROLE_ECHO];
	struct pollfd pfd = {.fd = gpio_line_fd(echo), .events = POLLIN};
	bool rising;
	int64_t ts;

	while (poll(&pfd, 1, 0) == 1 &&
	       gpio_line_read_edge(echo, &rising, &ts) == 0)
		;
}

/* One measurement: 0 with *cm, -ERANGE/-ETIMEDOUT for none, -ECANCELED. */
static int sensor_measure(struct hal_gpiod *g, double *cm)
{
	struct timespec pulse = {.tv_nsec = 10000};
	int64_t rise;
	int64_t fall;
	int ret;

	sensor_drain(g);
	ret = gpio_line_set(g->lines[ROLE_TRIGGER], 1);
	if (ret)
		return ret;
	/* The HC-SR04 wants a trigger pulse of at least 10 µs. */
	clock_nanosleep(CLOCK_MONOTONIC, 0, &pulse, NULL);
	ret = gpio_line_set(g->lines[ROLE_TRIGGER], 0);
	if (ret)
		return ret;
	ret = sensor_edge(g, true, now_ns() + g->echo_timeout_ms * 1000000LL,
			  &rise);
	if (ret)
		return ret;
	ret = sensor_edge(g, false, now_ns() + g->echo_timeout_ms * 1000000LL,
			  &fall);
	if (ret)
		return ret;
	return sensors_echo_to_cm(fall - rise, cm) ? 0 : -ERANGE;
}

static void sensor_publish(struct hal_gpiod *g, bool valid, double cm)
{
	uint64_t one = 1;
	double out = 0.0;

	pthread_mutex_lock(&g->lock);
	g->reading_valid = sensors_median_push(&g->median, valid, cm, &out);
	g->reading_cm = out;
	pthread_mutex_unlock(&g->lock);
	if (write(g->hal.event_fd, &one, sizeof(one)) < 0) {
		/* Counter already set: the loop will read the latest. */
	}
}

static void *sensor_main(void *arg)
{
	struct hal_gpiod *g = arg;
	int64_t period = 1000000000LL / g->sensor_hz;
	int64_t next = now_ns();
	struct pollfd stop = {.fd = g->stop_fd, .events = POLLIN};

	for (;;) {
		double cm = 0.0;
		int ret = sensor_measure(g, &cm);
		int64_t wait;

		if (ret == -ECANCELED)
			break;
		if (ret && ret != -ETIMEDOUT && ret != -ERANGE) {
			pthread_mutex_lock(&g->lock);
			gpiod_fault(g, -ret);
			pthread_mutex_unlock(&g->lock);
		}
		sensor_publish(g, ret == 0, cm);
		next += period;
		wait = next - now_ns();
		if (wait < 0) {
			next = now_ns();
			wait = 0;
		}
		if (poll(&stop, 1, (int)(wait / 1000000)) > 0)
			break;
	}
	return NULL;
}

static int gpiod_read_distance(struct hal *hal, double *cm)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	uint64_t count;
	bool valid;

	if (read(hal->event_fd, &count, sizeof(count)) < 0) {
		/* Nothing new: answer with the latest. */
	}
	pthread_mutex_lock(&g->lock);
	valid = g->reading_valid;
	*cm = g->reading_cm;
	pthread_mutex_unlock(&g->lock);
	return valid ? 0 : -ENODATA;
}

/* ==== Opening and closing ==== */

static void gpiod_all_low_and_release(struct hal_gpiod *g)
{
	/* The enables first: both motors off before any direction line
	 * goes low (IN1 = IN2 with the enable high brakes an L298N). */
	static const enum gpiod_role order[ROLE_COUNT] = {
		ROLE_LEFT_EN,	ROLE_RIGHT_EN,	ROLE_LEFT_IN1, ROLE_LEFT_IN2,
		ROLE_RIGHT_IN1, ROLE_RIGHT_IN2, ROLE_TRIGGER,  ROLE_ECHO,
	};

	for (int i = 0; i < ROLE_COUNT; i++) {
		gpio_line_release(g->lines[order[i]]);
		g->lines[order[i]] = NULL;
	}
}

static void gpiod_close(struct hal *hal)
{
	struct hal_gpiod *g = (struct hal_gpiod *)hal;
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	g->quit = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (g->stop_fd >= 0 && write(g->stop_fd, &one, sizeof(one)) < 0) {
		/* Cannot fail on an eventfd below its maximum. */
	}
	if (g->pwm_started)
		pthread_join(g->pwm_thread, NULL);
	if (g->sensor_started)
		pthread_join(g->sensor_thread, NULL);
	/* Both threads are gone: this thread owns every line now. */
	gpiod_all_low_and_release(g);
	gpio_chip_close(g->chip);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	if (g->hal.event_fd >= 0)
		close(g->hal.event_fd);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static const struct hal_ops gpiod_ops = {
	.set_motors = gpiod_set_motors,
	.read_distance = gpiod_read_distance,
	.close = gpiod_close,
};

static int gpiod_start_threads(struct hal_gpiod *g, char *err, size_t errlen)
{
	int ret;

	ret = pthread_create(&g->pwm_thread, NULL, pwm_main, g);
	if (ret)
		goto fail;
	g->pwm_started = true;
	if (!g->has_sensor)
		return 0;
	ret = pthread_create(&g->sensor_thread, NULL, sensor_main, g);
	if (ret)
		goto fail;
	g->sensor_started = true;
	return 0;
fail:
	snprintf(err, errlen, "cannot start a thread: %s", strerror(ret));
	return -ret;
}

static const char *gpiod_role_spec(const struct hal_gpiod_config *cfg,
				   enum gpiod_role role)
{
	const char *const specs[ROLE_COUNT] = {
		cfg->left_in1,	cfg->left_in2, cfg->left_en, cfg->right_in1,
		cfg->right_in2, cfg->right_en, cfg->trigger, cfg->echo,
	};
	return specs[role];
}

static int gpiod_setup_lines(struct hal_gpiod *g,
			     const struct hal_gpiod_config *cfg, char *err,
			     size_t errlen)
{
	const char *specs[ROLE_COUNT];

	if ((cfg->trigger == NULL) != (cfg->echo == NULL)) {
		snprintf(err, errlen,
			 "trigger and echo go together: set both "
			 "for an HC-SR04, or neither");
		return -EINVAL;
	}
	g->has_sensor = cfg->trigger != NULL;
	for (int r = 0; r < ROLE_COUNT; r++) {
		specs[r] = gpiod_role_spec(cfg, (enum gpiod_role)r);
		if (!specs[r] && r < ROLE_TRIGGER) {
			snprintf(err, errlen,
				 "%s: no line configured (the "
				 "[gpio] section of the config)",
				 role_keys[r]);
			return -EINVAL;
		}
	}
	g->chip = gpio_open_chip(cfg->chip, specs, ROLE_COUNT, err, errlen);
	if (!g->chip)
		return -ENODEV;
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (specs[r] && gpio_find_line(g->chip, role_keys[r], specs[r],
					       &g->offsets[r], err, errlen))
			return -EINVAL;
		for (int o = 0; specs[r] && o < r; o++) {
			if (specs[o] && g->offsets[o] == g->offsets[r]) {
				snprintf(err, errlen,
					 "%s and %s are the same line (%u)",
					 role_keys[o], role_keys[r],
					 g->offsets[r]);
				return -EINVAL;
			}
		}
	}
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (!specs[r])
			continue;
		g->lines[r] = gpio_request(g->chip, role_keys[r], g->offsets[r],
					   r == ROLE_ECHO ? GPIO_INPUT_EDGES
							  : GPIO_OUTPUT_LOW,
					   cfg->consumer, err, errlen);
		if (!g->lines[r])
			return -EIO;
	}
	return 0;
}

struct hal *hal_gpiod_open(const struct hal_gpiod_config *cfg, char *err,
			   size_t errlen)
{
	struct hal_gpiod *g = calloc(1, sizeof(*g));
	pthread_condattr_t attr;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &attr);
	pthread_condattr_destroy(&attr);
	g->hal.ops = &gpiod_ops;
	g->hal.name = "gpiod";
	g->pwm_hz = cfg->pwm_hz;
	g->sensor_hz = cfg->sensor_hz;
	g->echo_timeout_ms = cfg->echo_timeout_ms;
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	g->hal.event_fd = -1;
	sensors_median_init(&g->median);
	if (g->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (gpiod_setup_lines(g, cfg, err, errlen))
		goto fail;
	if (g->has_sensor) {
		g->hal.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (g->hal.event_fd < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	if (gpiod_start_threads(g, err, errlen))
		goto fail;
	return &g->hal;

fail:
	/* Joins what started, drives every requested line low, releases. */
	gpiod_close(&g->hal);
	return NULL;
}
